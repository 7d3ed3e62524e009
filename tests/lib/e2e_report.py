#!/usr/bin/env python3
"""The end-to-end run's figures, from tests/e2e.sh's results in RUN (ENGINE.tsv: engine, test,
passed, failed, skipped, seconds; skips.tsv: engine, test, reason).

usage: e2e_report.py RUN "ENGINE..."            a Markdown table of seconds per test and engine,
                                                 each engine's total, and the skips with reasons
       e2e_report.py RUN "ENGINE..." --summary   the closing line's counts
"""
import os
import sys

run, engines = sys.argv[1], sys.argv[2].split()
summary = "--summary" in sys.argv[3:]
rows = []  # (engine, test, passed, failed, skipped, seconds)
for engine in engines:
    path = os.path.join(run, f"{engine}.tsv")
    if not os.path.exists(path):
        continue
    with open(path) as f:
        for line in f:
            e, t, p, fl, s, secs = line.rstrip("\n").split("\t")
            rows.append((e, t, int(p), int(fl), int(s), float(secs)))
ran = [e for e in engines if any(r[0] == e for r in rows)]

if summary:
    parts = []
    for engine in ran:
        parts.append(f"{engine}: {sum(r[2] for r in rows if r[0] == engine)}")
    for test, label in (("engine_cache", "engine pairs building only the leaf from a BuildKit cache"),
                        ("engine_nix_cache", "from a pushed Nix cache")):
        for r in rows:
            if r[1] == test:
                parts.append(f"{label}: {r[2]} of {r[2] + r[3]}")
    passed, failed, skipped = (sum(r[i] for r in rows) for i in (2, 3, 4))
    print(f"end-to-end checks: {'; '.join(parts)}; {passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(0)

tests = []
for r in rows:
    if r[1] not in tests:
        tests.append(r[1])
cell = {(r[0], r[1]): r for r in rows}
print("| test | " + " | ".join(ran) + " |")
print("| --- |" + " ---: |" * len(ran))
for test in tests:
    cells = []
    for engine in ran:
        r = cell.get((engine, test))
        if r is None:
            cells.append("")
        else:
            mark = " FAILED" if r[3] else (" (skips)" if r[4] else "")
            cells.append(f"{r[5]:.1f}{mark}")
    print(f"| {test} | " + " | ".join(cells) + " |")
totals = [sum(r[5] for r in rows if r[0] == e) for e in ran]
print("| **total** | " + " | ".join(f"**{t:.0f}**" for t in totals) + " |")
skips = os.path.join(run, "skips.tsv")
if os.path.exists(skips):
    print()
    print("Skipped:")
    with open(skips) as f:
        for line in f:
            engine, test, reason = line.rstrip("\n").split("\t", 2)
            print(f"- {engine} {test}: {reason}")
