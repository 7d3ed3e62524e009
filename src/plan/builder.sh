# nix-frontend's builder script (mounted at /.nix-frontend/builder.sh). It runs in the Nix image with the build context at /src and an
# empty output mount at /out. It is constant text: every user value arrives in an environment
# variable (NF_FILE, NF_ATTR, NF_FLAKE) and is only ever used quoted, as one argv entry.
#
# It always exits 0 once it has written $meta/status, so that the frontend can read Nix's own
# error text and report it with the file and line; the frontend turns a failure into the build's
# error. Outputs in /out/.nix-frontend:
#   status        ok | missing-file | eval-failed | build-failed
#   log           Nix's stderr of the failing step
#   ran-at        when this ran (Unix seconds), to tell a cached failure from a fresh one
#   results       the build's output paths, one per line
#   closure.json  nix path-info --json --recursive of the results
#   info.json     name, version, meta, outputName, passthru.imageConfig (info.nix), if it evaluates
#   root/         symlinks to the first result's top-level entries (bin, etc, share, ...)
# and /out/layers/<hash>-<name>/nix/store/<hash>-<name> for every path of the closure.
set -u
meta=/out/.nix-frontend
tools=$(dirname "$0")
mkdir -p "$meta/root" "$meta/tmp" /out/layers
chmod 1777 "$meta/tmp"
date +%s >"$meta/ran-at"

finish() {
  printf '%s\n' "$1" >"$meta/status"
  exit 0
}

# Runs "$@" with its stdout into file $1 and its stderr both to the build log and $meta/log.
logged() {
  stdout_file=$1
  shift
  { "$@" 2>&1 >"$stdout_file"; echo $? >"$meta/rc"; } | tee "$meta/log" >&2
  return "$(cat "$meta/rc")"
}

# Nix settings from build args (NIX_SUBSTITUTERS, NIX_TRUSTED_PUBLIC_KEYS) and the netrc secret,
# added to the image's own.
settings=${NF_NIX_SETTINGS:-}
if [ -f /run/secrets/netrc ]; then
  echo "using the netrc secret for Nix" >&2
  settings="$settings
netrc-file = /run/secrets/netrc"
fi
if [ -n "$settings" ]; then
  NIX_CONFIG="${NIX_CONFIG:-}
$settings"
  export NIX_CONFIG
fi

# Runs "$@" followed by the user's Nix arguments: NF_ARG_0..NF_ARG_<NF_ARG_COUNT-1> (each one
# argv entry; the eval only ever sees the constant text and a number) and -I nixpkgs=NF_NIXPKGS.
with_nix_args() {
  i=0
  while [ "$i" -lt "${NF_ARG_COUNT:-0}" ]; do
    eval "set -- \"\$@\" \"\${NF_ARG_$i}\""
    i=$((i + 1))
  done
  if [ -n "${NF_NIXPKGS:-}" ]; then
    set -- "$@" -I "nixpkgs=$NF_NIXPKGS"
  fi
  with_contexts "$@"
}

# Runs "$@" followed by each named context (`--build-context NAME=…`, mounted read-only at
# /nf-contexts/<i>, its name in NF_CONTEXT_<i>): `-I NAME=/nf-contexts/<i>`, or for a flake
# `--override-input NAME path:/nf-contexts/<i>`. The eval only ever sees the constant text.
with_contexts() {
  i=0
  while [ "$i" -lt "${NF_CONTEXT_COUNT:-0}" ]; do
    eval "nf_context_name=\"\${NF_CONTEXT_$i}\""
    if [ "${NF_FLAKE:-}" = 1 ]; then
      set -- "$@" --override-input "$nf_context_name" "path:/nf-contexts/$i"
    else
      set -- "$@" -I "$nf_context_name=/nf-contexts/$i"
    fi
    i=$((i + 1))
  done
  "$@"
}

# No file named and no default.nix: a flake.nix in the context is built instead.
if [ ! -f "$NF_FILE" ] && [ "${NF_FILE_DEFAULTED:-}" = 1 ] && [ -f flake.nix ]; then
  NF_FILE=flake.nix
  NF_FLAKE=1
fi
if [ ! -f "$NF_FILE" ]; then
  printf '%s\n' "$NF_FILE" >"$meta/log"
  finish missing-file
fi

features="nix-command flakes"
if [ "${NF_FLAKE:-}" = 1 ]; then
  # A flake: `nix build path:<dir>#<attr>` (path:, as the context is no git checkout); the
  # context is read-only, so the lock file is never written.
  flake_dir=$(dirname "/src/$NF_FILE")
  installable="path:$flake_dir${NF_ATTR:+#$NF_ATTR}"
  echo "evaluating $installable" >&2
  logged "$meta/derivations" with_contexts nix --extra-experimental-features "$features" path-info \
    --no-write-lock-file --derivation "$installable" || finish eval-failed
  with_contexts nix --extra-experimental-features "$features" eval --no-write-lock-file --json "$installable" \
    --apply "import $tools/info.nix" >"$meta/info.json" 2>/dev/null || rm -f "$meta/info.json"
  echo "building $installable" >&2
  logged "$meta/results" with_contexts nix --extra-experimental-features "$features" build --no-write-lock-file \
    --no-link --print-out-paths "$installable" || finish build-failed
else
  set -- "$NF_FILE"
  if [ -n "${NF_ATTR:-}" ]; then
    set -- "$@" -A "$NF_ATTR"
  fi
  echo "evaluating $*" >&2
  logged "$meta/derivations" with_nix_args nix-instantiate "$@" || finish eval-failed
  with_nix_args nix --extra-experimental-features "$features" eval --json --file "$NF_FILE" "${NF_ATTR:-}" \
    --apply "import $tools/info.nix" >"$meta/info.json" 2>/dev/null || rm -f "$meta/info.json"

  # One derivation: build only the selected output (`-A pkg` is out, `-A pkg.dev` is dev), so
  # the image holds that output's closure and not every output's.
  # grep and parameter expansion only: the official nixos/nix image has no sed.
  output=$(grep -o '"outputName":"[a-zA-Z0-9_+.-]*"' "$meta/info.json" 2>/dev/null | head -n 1)
  output=${output#\"outputName\":\"}
  output=${output%\"}
  if [ -n "$output" ] && [ "$(wc -l <"$meta/derivations")" = 1 ]; then
    derivation=$(cat "$meta/derivations")
    case $derivation in
      *!*) set -- "$derivation" ;; # nix-instantiate already named the output (-A pkg.doc)
      *) set -- "$derivation!$output" ;;
    esac
  else
    # shellcheck disable=SC2046 # derivation paths have no spaces or glob characters
    set -- $(cat "$meta/derivations")
  fi
  echo "building $*" >&2
  logged "$meta/results" nix-store --realise "$@" || finish build-failed
fi

# shellcheck disable=SC2046
nix path-info --extra-experimental-features nix-command --json --recursive $(cat "$meta/results") \
  >"$meta/closure.json" 2>"$meta/log" || finish build-failed

# Each path in a tree of its own, so that the frontend can copy it as one layer whose /nix and
# /nix/store entries are created by that copy (and so get its pinned timestamp).
# shellcheck disable=SC2046
nix-store --query --requisites $(cat "$meta/results") | while read -r path; do
  layer="/out/layers/${path##*/}/nix/store"
  mkdir -p "$layer" && cp -a "$path" "$layer/" || exit 1
done || { echo "copying the closure failed" >"$meta/log"; finish build-failed; }

first=$(head -n 1 "$meta/results")
if [ -d "$first" ]; then
  for entry in "$first"/* "$first"/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    [ "${entry##*/}" = nix-support ] && continue
    ln -s "$entry" "$meta/root/"
  done
fi
finish ok
