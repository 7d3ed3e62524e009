# nix-frontend's links step, for a FROM base whose /bin, /share ... is a symlink (a usr-merged
# distribution's, or a base this frontend made): for each top-level name in "$@" (plain names the
# frontend checked) it makes /out/links/<name> a directory of links to what the base's link
# leads to, then adds the packages' links (and directories of links) from the manifest's
# profile, which win a clash. The base is mounted at /base and the profile at /ours, both
# read-only. Names arrive only as argv entries.
set -eu
for name in "$@"; do
  mkdir -p "/out/links/$name"
  target=$(readlink "/base/$name" || true)
  case $target in
    "" | *..*) target="" ;;
    /*) ;;
    *) target="/$target" ;;
  esac
  if [ -n "$target" ] && [ -d "/base$target" ]; then
    for entry in "/base$target"/* "/base$target"/.[!.]*; do
      [ -e "$entry" ] || [ -L "$entry" ] || continue
      ln -s "$target/${entry##*/}" "/out/links/$name/"
    done
  fi
  for entry in "/ours/$name"/* "/ours/$name"/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    rm -rf "/out/links/$name/${entry##*/}"
    cp -RP "$entry" "/out/links/$name/"
  done
done
