# shellcheck shell=bash
# Docker before 29.4 can fail an image export with BuildKit's unpack racing containerd's GC
# (moby/buildkit#6521, fixed by moby/buildkit#6558 in BuildKit 0.29 / Docker 29.4; see README).
# upstream_export_race LOG: whether the build log LOG failed with exactly that.
upstream_export_race() {
  grep -qE 'failed to prepare extraction snapshot .*parent snapshot sha256:[0-9a-f]+ does not exist' "$1"
}
