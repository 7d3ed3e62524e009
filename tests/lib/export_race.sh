# shellcheck shell=bash
# Docker before 29.4 can fail an image export with BuildKit's unpack racing containerd's GC
# (moby/buildkit#6521, fixed by moby/buildkit#6558 in BuildKit 0.29 / Docker 29.4; see docs/caching.md).
# upstream_export_race LOG: whether the build log LOG failed with exactly that.
upstream_export_race() {
  grep -qE 'failed to prepare extraction snapshot .*parent snapshot sha256:[0-9a-f]+ does not exist' "$1"
}

# The tests' own registry (Debian's docker-registry 2.8, filesystem storage) writes a tag's link
# file in place: dockerd's push (`pushing … with docker`, after BuildKit's own push of the same
# tag) can HEAD the tag while it PUTs it and read it half written, which the registry answers
# with 500 ("invalid checksum digest format" in its log). Seen once in a full run.
# registry_write_race LOG: whether the build log LOG failed with exactly that.
registry_write_race() {
  grep -qE 'unexpected status from HEAD request to http://127\.0\.0\.1:5000/v2/[^ ]*/manifests/[^ ]*: 500 Internal Server Error' "$1"
}
