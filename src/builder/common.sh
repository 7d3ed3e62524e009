# Shell functions shared by nix-frontend's builder steps (sourced). Constant text: user values
# arrive in environment variables and are only ever used quoted, as single argv entries. The
# caller sets $meta (the report directory) before sourcing.

# Writes the status word and ends the step successfully, so that the frontend can read Nix's own
# error text and report it with the file and line.
finish() {
  printf '%s\n' "$1" >"$meta/status"
  exit 0
}

# Runs "$@" with its stdout into file $1 and its stderr both to the build log and the step's
# log file ($nf_log, by default $meta/log).
logged() {
  stdout_file=$1
  shift
  { "$@" 2>&1 >"$stdout_file"; echo $? >/tmp/nf-rc; } | tee "${nf_log:-$meta/log}" >&2
  return "$(cat /tmp/nf-rc)"
}

# Nix settings from build args (NIX_SUBSTITUTERS, NIX_TRUSTED_PUBLIC_KEYS) and the netrc secret,
# added to the image's own.
nf_settings=${NF_NIX_SETTINGS:-}
if [ -f /run/secrets/netrc ]; then
  echo "using the netrc secret for Nix" >&2
  nf_settings="$nf_settings
netrc-file = /run/secrets/netrc"
fi
# For a target the worker would emulate, Nix runs natively as the target's system: it evaluates
# and substitutes for it at native speed, and only the builds of the target's derivations go
# through the host's binfmt emulator; the native system stays buildable (extra-platforms).
if [ -n "${NF_HOST_SYSTEM:-}" ] && [ -n "${NF_SYSTEM:-}" ]; then
  echo "Nix runs on $NF_HOST_SYSTEM for $NF_SYSTEM: builds for $NF_SYSTEM are emulated" >&2
  nf_settings="$nf_settings
system = $NF_SYSTEM
extra-platforms = $NF_HOST_SYSTEM"
fi
# A build step without the network (NF_OFFLINE=1: it only builds what Nix builds offline) asks
# no binary cache: the plan put what one had in substitute steps, and one out of reach costs
# retries.
if [ "${NF_OFFLINE:-}" = 1 ]; then
  nf_settings="$nf_settings
substitute = false"
fi
# A substitute step whose files BuildKit downloaded (NF_NAR_CACHE=1) substitutes from them alone:
# a local binary cache of their narinfos, whose signatures and NAR hashes Nix checks as over HTTP.
if [ "${NF_NAR_CACHE:-}" = 1 ]; then
  nf_nar_cache=/nf/nar-cache
  nf_settings="$nf_settings
substituters = file://$nf_nar_cache"
fi
if [ -n "$nf_settings" ]; then
  NIX_CONFIG="${NIX_CONFIG:-}
$nf_settings"
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

# The derivation paths of the roots, without output names.
nf_derivations() {
  while read -r root; do
    printf '%s\n' "${root%%!*}"
  done <"$meta/roots"
}

features="nix-command flakes"

# The Nix file to read: NF_FILE, or with no file named and no default.nix a flake.nix in the
# context; ends the step with missing-file when there is none.
nf_find_file() {
  if [ ! -f "$NF_FILE" ] && [ "${NF_FILE_DEFAULTED:-}" = 1 ] && [ -f flake.nix ]; then
    NF_FILE=flake.nix
    NF_FLAKE=1
  fi
  if [ ! -f "$NF_FILE" ]; then
    printf '%s\n' "$NF_FILE" >"$meta/log"
    finish missing-file
  fi
}

# Evaluates the file (or flake) into $meta/derivations, $meta/info.json and $meta/roots: the
# derivations to realise, each with the selected output (`-A pkg` is out, `-A pkg.dev` is dev).
# With NF_SBOM=1 also $meta/packages.json, the derivations the result is built from. With several
# attributes (NF_ATTR_COUNT, NF_ATTR_<i>) each is evaluated in turn as NF_ATTR, in the order
# given: its root is one line of $meta/roots (each must be one derivation), its facts are in
# info.json and packages.json for the first, info-<i>.json and packages-<i>.json for the others.
nf_evaluate() {
  nf_find_file
  nf_pinned_nixpkgs
  : >"$meta/derivations"
  : >"$meta/roots"
  if [ -z "${NF_ATTR_COUNT:-}" ]; then
    nf_evaluate_attr "$meta/info.json" "$meta/packages.json"
    return
  fi
  nf_attr_index=0
  while [ "$nf_attr_index" -lt "$NF_ATTR_COUNT" ]; do
    eval "NF_ATTR=\"\${NF_ATTR_$nf_attr_index}\""
    if [ "$nf_attr_index" = 0 ]; then
      nf_evaluate_attr "$meta/info.json" "$meta/packages.json"
    else
      nf_evaluate_attr "$meta/info-$nf_attr_index.json" "$meta/packages-$nf_attr_index.json"
    fi
    nf_attr_index=$((nf_attr_index + 1))
  done
}

# With NF_NIXPKGS_SHA256 (and not a flake), NF_NIXPKGS (an http(s) URL) becomes the store path
# builtins.fetchTarball gives for it: found in the store when its pin step fetched it, so nothing
# is downloaded; otherwise fetched here and checked against the hash. Nix reads both values from
# the environment; nothing of them is spliced into the expression.
nf_pinned_nixpkgs() {
  # A flake's evaluation takes no -I nixpkgs= (with_contexts), so nothing is fetched for it.
  [ "${NF_FLAKE:-}" != 1 ] && [ -n "${NF_NIXPKGS_SHA256:-}" ] && [ -n "${NF_NIXPKGS:-}" ] || return 0
  if NF_NIXPKGS=$(nix --extra-experimental-features "$features" eval --impure --raw --expr \
    'builtins.fetchTarball { url = builtins.getEnv "NF_NIXPKGS"; sha256 = builtins.getEnv "NF_NIXPKGS_SHA256"; }' \
    2>/tmp/nf-nixpkgs-log); then
    return 0
  fi
  # Nix's innermost error (a hash mismatch, a download that failed), without the trace through
  # this script's own expression, which the user never wrote.
  nf_innermost=
  while IFS= read -r nf_line || [ -n "$nf_line" ]; do
    case $nf_line in *error:*) nf_innermost= ;; esac
    nf_innermost="$nf_innermost$nf_line
"
  done </tmp/nf-nixpkgs-log
  printf 'fetching the tarball of build arg NIXPKGS with NIXPKGS_SHA256 failed:\n%s' "$nf_innermost" |
    tee "${nf_log:-$meta/log}" >&2
  finish eval-failed
}

# Evaluates NF_ATTR (or the file's value) as nf_evaluate says, its info in $1 and packages in $2.
nf_evaluate_attr() {
  info_file=$1
  packages_file=$2
  if [ "${NF_FLAKE:-}" = 1 ]; then
    installable=$(nf_flake_installable)
    echo "evaluating $installable" >&2
    logged /tmp/nf-derivations with_contexts nix --extra-experimental-features "$features" path-info \
      --no-write-lock-file --derivation "$installable" || finish eval-failed
    nf_apply info >"$info_file" 2>/dev/null || rm -f "$info_file"
  else
    set -- "$NF_FILE"
    if [ -n "${NF_ATTR:-}" ]; then
      set -- "$@" -A "$NF_ATTR"
    fi
    echo "evaluating $*" >&2
    # A value that is one derivation: one evaluation gives its .drv and its info (a file's
    # evaluation, nixpkgs' above all, is most of this step). Anything else, or an error, goes to
    # nix-instantiate, whose text is the one the user sees; Nix's messages of a good evaluation
    # (traces, warnings) are shown.
    if nf_apply evaluated >"$info_file" 2>/tmp/nf-evaluated-log &&
      drv=$(grep -o '"drvPath":"/nix/store/[^"]*\.drv"' "$info_file"); then
      cat /tmp/nf-evaluated-log >&2
      drv=${drv#\"drvPath\":\"}
      printf '%s\n' "${drv%\"}" >/tmp/nf-derivations
    else
      logged /tmp/nf-derivations with_nix_args nix-instantiate "$@" || finish eval-failed
      nf_apply info >"$info_file" 2>/dev/null || rm -f "$info_file"
    fi
  fi
  cat /tmp/nf-derivations >>"$meta/derivations"
  if [ "${NF_SBOM:-}" = 1 ]; then
    nf_apply packages >"$packages_file" 2>/dev/null || rm -f "$packages_file"
  fi
  # One derivation: only the selected output, so the image holds that output's closure and not
  # every output's. grep and parameter expansion only: the official nixos/nix image has no sed.
  output=$(grep -o '"outputName":"[a-zA-Z0-9_+.-]*"' "$info_file" 2>/dev/null | head -n 1)
  output=${output#\"outputName\":\"}
  output=${output%\"}
  count=$(wc -l </tmp/nf-derivations)
  if [ -n "$output" ] && [ "$count" = 1 ]; then
    derivation=$(cat /tmp/nf-derivations)
    case $derivation in
      *!*) printf '%s\n' "$derivation" >>"$meta/roots" ;;
      *) printf '%s\n' "$derivation!$output" >>"$meta/roots" ;;
    esac
  elif [ -n "${NF_ATTR_COUNT:-}" ] && [ "$count" != 1 ]; then
    # Several attributes: each is one package of the image, whose first output its links are from.
    printf 'error: the attribute %s gives %s derivations; with several attributes, each must be one package\n' \
      "$NF_ATTR" "$count" >"$meta/log"
    finish eval-failed
  else
    cat /tmp/nf-derivations >>"$meta/roots"
  fi
}

# The flake's installable: path: as the context is no git checkout; it is read-only, so the lock
# file is never written.
nf_flake_installable() {
  printf '%s' "path:$(dirname "/src/$NF_FILE")${NF_ATTR:+#$NF_ATTR}"
}

# Our expression $1 of facts.nix (info, packages, targets) for `nix eval --apply`, as text (our
# own constant file, never a user's string): a flake is evaluated purely, where no file outside
# it can be imported.
nf_expression() {
  printf '(%s).%s' "$(cat "$tools/facts.nix")" "$1"
}

# The value being built with our expression $1 applied, as JSON.
nf_apply() {
  if [ "${NF_FLAKE:-}" = 1 ]; then
    with_contexts nix --extra-experimental-features "$features" eval --no-write-lock-file --json \
      "$(nf_flake_installable)" --apply "$(nf_expression "$1")"
  else
    with_nix_args nix --extra-experimental-features "$features" eval --json --file "$NF_FILE" "${NF_ATTR:-}" \
      --apply "$(nf_expression "$1")"
  fi
}

# The packages the image's root is made of, one per line: with several attributes the first
# output of each root ("$@", one per attribute, already realised, so nothing is built), else the
# first result (of the results file $1), as nix-store --realise listed them.
nf_profile_roots() {
  results_file=$1
  shift
  if [ -z "${NF_ATTR_COUNT:-}" ]; then
    head -n 1 "$results_file"
    return
  fi
  for root in "$@"; do
    logged /tmp/nf-outputs nix-store --realise "$root" || return 1
    head -n 1 /tmp/nf-outputs
  done
}

# Makes directory $1 the image's root from the packages "$@" after $2, as nixpkgs' buildEnv
# merges them: a link to each top-level entry of each package (not nix-support), in order; where
# several packages have the same directory, a real directory holding links to each one's
# entries, merged the same way at every depth (up to 16). A name that is not a directory in all of
# them (bin/sh in two packages) is a collision, unless both are the same file (one store file
# through links, or equal bytes): the first package's entry stays, and `FIRST SECOND NAME` is
# written to the file $2. The links are checked by the frontend.
nf_profile() {
  nf_profile_dir=$1
  nf_collisions=$2
  shift 2
  : >"$nf_collisions"
  nf_seen=" "
  for nf_package in "$@"; do
    case $nf_seen in *" $nf_package "*) continue ;; esac
    nf_seen="$nf_seen$nf_package "
    [ -d "$nf_package" ] || continue
    for entry in "$nf_package"/* "$nf_package"/.[!.]*; do
      [ -e "$entry" ] || [ -L "$entry" ] || continue
      [ "${entry##*/}" = nix-support ] && continue
      nf_merge "$nf_profile_dir" "${entry##*/}" "$nf_package" || return 1
    done
  done
}

# Puts the entry $2 (a relative path) of the package $3 at $1/$2 (nf_profile's rule). Recursive:
# only the positional parameters survive a call, so nothing else is used after one.
nf_merge() {
  case $2 in */*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*)
    echo "merging $3/$2: directories deeper than 16 levels are not merged" >&2
    return 1 ;;
  esac
  if [ ! -e "$1/$2" ] && [ ! -L "$1/$2" ]; then
    ln -s "$3/$2" "$1/$2"
    return
  fi
  if [ -d "$1/$2" ] && [ -d "$3/$2" ]; then
    if [ -L "$1/$2" ]; then
      # A link to another package's directory becomes a directory of links to its entries.
      owner=$(readlink "$1/$2")
      rm "$1/$2" && mkdir "$1/$2" || return 1
      for entry in "$owner"/* "$owner"/.[!.]*; do
        [ -e "$entry" ] || [ -L "$entry" ] || continue
        ln -s "$entry" "$1/$2/" || return 1
      done
    fi
    for entry in "$3/$2"/* "$3/$2"/.[!.]*; do
      [ -e "$entry" ] || [ -L "$entry" ] || continue
      nf_merge "$1" "$2/${entry##*/}" "$3" || return 1
    done
    return 0
  fi
  if [ "$(readlink -f "$1/$2")" = "$(readlink -f "$3/$2")" ]; then
    return 0
  fi
  if [ -f "$1/$2" ] && [ -f "$3/$2" ] && cmp -s "$1/$2" "$3/$2" 2>/dev/null; then
    return 0
  fi
  printf '%s %s %s\n' "$(nf_owner "$1" "$2")" "$3" "$2" >>"$nf_collisions"
}

# The package the entry $2 of the root $1 comes from: a link's, or for a merged directory the
# first package with an entry in it.
nf_owner() {
  if [ -L "$1/$2" ]; then
    link=$(readlink "$1/$2")
    printf '%s' "${link%"/$2"}"
    return
  fi
  for entry in "$1/$2"/* "$1/$2"/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    nf_owner "$1" "$2/${entry##*/}"
    return
  done
}

# The image's root from the packages listed in the file $1: the links in $2 (nf_profile), the
# collisions in $3, the profile of links in $4 (nf_profile_links); errors go to the log file $5.
# A collision ends the step (collision) unless NIX_COLLISIONS=first.
nf_image_root() {
  # shellcheck disable=SC2046 # store paths have no spaces or glob characters
  nf_profile "$2" "$3" $(cat "$1") 2>"$5" ||
    { echo "making the image's root links failed" >>"$5"; finish build-failed; }
  if [ -s "$3" ] && [ "${NF_COLLISIONS:-}" != first ]; then
    cp "$3" "$5"
    finish collision
  fi
  # shellcheck disable=SC2046
  nf_profile_links "$4" $(cat "$1") 2>>"$5" ||
    { echo "making the image's profile links failed" >>"$5"; finish build-failed; }
}

# The image's root again (nf_profile's rule over the packages "$@" after $1), but with every
# top-level directory a real directory of links (bin/app, share/man, ...): what the image gets
# where a FROM base has a directory of that name, so that the base's entries stay beside ours.
# Collisions were settled by nf_profile: here the first package's entry stays.
nf_profile_links() {
  nf_profile_dir=$1
  shift
  nf_collisions=/dev/null
  nf_seen=" "
  for nf_package in "$@"; do
    case $nf_seen in *" $nf_package "*) continue ;; esac
    nf_seen="$nf_seen$nf_package "
    for nf_top in "$nf_package"/*/; do
      nf_top=${nf_top%/}
      [ -d "$nf_top" ] && [ ! -L "$nf_top" ] || continue
      [ "${nf_top##*/}" = nix-support ] && continue
      mkdir -p "$nf_profile_dir/${nf_top##*/}" || return 1
      for entry in "$nf_top"/* "$nf_top"/.[!.]*; do
        [ -e "$entry" ] || [ -L "$entry" ] || continue
        nf_merge "$nf_profile_dir" "${nf_top##*/}/${entry##*/}" "$nf_package" || return 1
      done
    done
  done
}

# The image's manifest in directory $1, from $1/results (the build's outputs, one per line) and
# the attributes' roots "$@" after $2: closure.json (nf_closure_json), profile-roots
# (nf_profile_roots) and the image's root (nf_image_root: root/, collisions, profile); Nix's
# errors go to the log file $2. builder.sh and realise.sh's final group both write it here.
nf_manifest() {
  nf_manifest_dir=$1
  nf_manifest_log=$2
  shift 2
  # shellcheck disable=SC2046 # store paths have no spaces or glob characters
  nf_closure_json $(cat "$nf_manifest_dir/results") >"$nf_manifest_dir/closure.json" 2>"$nf_manifest_log" ||
    return 1
  nf_profile_roots "$nf_manifest_dir/results" "$@" >"$nf_manifest_dir/profile-roots" ||
    { echo "listing the image's packages failed" >>"$nf_manifest_log"; return 1; }
  nf_image_root "$nf_manifest_dir/profile-roots" "$nf_manifest_dir/root" "$nf_manifest_dir/collisions" \
    "$nf_manifest_dir/profile" "$nf_manifest_log"
}

# The closure manifest of the store paths "$@": `nix path-info --json --recursive` in the format
# closure.json is read in (paths as keys, narSize, references). Nix 2.33 and later want the format
# named (`--json-format 1`; without it a warning, an error in a later release); earlier ones do not
# know the flag, so it is tried first.
nf_closure_json() {
  if nix path-info --extra-experimental-features nix-command --json --json-format 1 --recursive "$@" \
    >/tmp/nf-closure.json 2>/dev/null; then
    cat /tmp/nf-closure.json
  else
    nix path-info --extra-experimental-features nix-command --json --recursive "$@"
  fi
}

# Copies the store paths "$@" (with their closure, as far as the cache lacks it) to the Nix binary
# cache NF_CACHE_PUSH, signed with the nix-cache-key secret when there is one; S3 credentials from
# the aws secret. Nix's stderr goes to the build log and $nf_log.
nf_push() {
  push_url=$NF_CACHE_PUSH
  if [ -f /run/secrets/nix-cache-key ]; then
    case $push_url in
      *\?*) push_url="$push_url&secret-key=/run/secrets/nix-cache-key" ;;
      *) push_url="$push_url?secret-key=/run/secrets/nix-cache-key" ;;
    esac
  fi
  if [ -f /run/secrets/aws ]; then
    AWS_SHARED_CREDENTIALS_FILE=/run/secrets/aws
    export AWS_SHARED_CREDENTIALS_FILE
  fi
  echo "pushing $# paths to the Nix cache" >&2
  logged /dev/null nix --extra-experimental-features nix-command copy --to "$push_url" "$@"
}

# Restores the sources the frontend carried as NARs (/nf/nar/<base name>) at their store paths,
# before their records are loaded; a failure is said in $nf_log.
nf_restore_sources() {
  for nar in /nf/nar/*; do
    [ -f "$nar" ] || continue
    path=/nix/store/${nar##*/}
    [ -e "$path" ] || nix-store --restore "$path" <"$nar" || { echo "restoring $path failed" >"$nf_log"; return 1; }
  done
}
