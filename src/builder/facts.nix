# nix-frontend's expressions over the value being built, applied as text with
# `nix eval --json ... --apply "(<this file>).NAME"` (a flake is evaluated purely, where no file
# outside it can be imported; see nf_expression in common.sh):
#   info      name, version, meta, outputName and passthru.imageConfig, for the image config
#             (and meta for the SBOM's main package)
#   evaluated info, and drvPath when the value is one derivation: one evaluation of the file
#             gives both the derivation to build (its .drv files written, as by nix-instantiate)
#             and its facts
#   packages  the derivations it is built from, for the SBOM (--sbom=true)
#   targets   its buildable attributes, for --print=targets
# tryEval catches only throw and assert, so attributes are reached with `or` defaults first; a
# field that is missing or throws is null, so an unusual package never breaks the build over a
# label, and if a whole answer still fails the frontend goes without it.
let
  try = v: let r = builtins.tryEval v; in if r.success then r.value else null;
  str = v: if builtins.isString v then v else null;
  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";
  licenseIds = l:
    let
      one = x: if builtins.isAttrs x then str (x.spdxId or x.shortName or null) else str x;
      ids = builtins.filter (x: x != null) (map one (if builtins.isList l then l else [ l ]));
    in
    if ids == [ ] then null else builtins.concatStringsSep " AND " ids;
  # The strings `f` makes of the first `n` elements of `l` (of anything but a list, none).
  firstStrings = n: f: l:
    let
      list = if builtins.isList l then l else [ ];
      count = if builtins.length list < n then builtins.length list else n;
    in
    builtins.filter (x: x != null) (builtins.genList (i: try (str (f (builtins.elemAt list i)))) count);
  # meta.identifiers as nixpkgs' stdenv fills it in (check-meta.nix): the CPE made of all its
  # cpeParts, its guesses when some are missing (possibleCPEs, each { cpeParts, cpe }), the purl
  # of purlParts and the purls list. Only strings, at most 32 of each: the frontend checks their
  # shape and keeps fewer.
  identifiersOf = meta:
    let
      ids = try (meta.identifiers or null);
      list = v: let l = try v; in if builtins.isList l then l else [ ];
    in
    if !(builtins.isAttrs ids) then null else {
      cpe = try (str (ids.cpe or null));
      possibleCPEs = firstStrings 32 (p: p.cpe or null) (list (ids.possibleCPEs or null));
      purls = firstStrings 32 (p: p) ([ (ids.purl or null) ] ++ list (ids.purls or null));
    };
  infoOf = value:
    let
      d = value;
      meta = if builtins.isAttrs (d.meta or null) then d.meta else { };
    in
    if !(isDerivation d) then { derivation = false; } else {
      derivation = true;
      name = try (str (d.name or null));
      pname = try (str (d.pname or null));
      version = try (str (d.version or null));
      outputName = try (str (d.outputName or null));
      description = try (str (meta.description or null));
      homepage = try (str (meta.homepage or null));
      license = try (licenseIds (meta.license or [ ]));
      mainProgram = try (str (meta.mainProgram or null));
      identifiers = try (identifiersOf meta);
      revision = try (if builtins.isAttrs (d.src or null) then str (d.src.rev or null) else null);
      # passthru.imageConfig, as JSON text so that odd values cannot break the outer JSON.
      imageConfig = try (if builtins.isAttrs (d.imageConfig or null) then builtins.toJSON d.imageConfig else null);
    };
in
{
  # The value itself.
  info = value: infoOf value;

  # The value itself, and the derivation it is. drvPath is not caught: a derivation that cannot
  # be instantiated fails this, and eval.sh then asks nix-instantiate for its error.
  evaluated = value: infoOf value // (if isDerivation value then { inherit (value) drvPath; } else { });

  # Every derivation reachable through the attributes of `derivation` calls (buildInputs, src,
  # ...: drvAttrs), as SBOM tools for Nix walk them, each output referenced (path) with all its
  # derivation's outputs, license, homepage, identifiers (CPEs, purls) and the URL its source is
  # fetched from (a fixed-output derivation's first http(s) `urls` entry or `url`).
  packages = value:
    let
      derivationsIn = v:
        if try (isDerivation v) == true then [ v ]
        else if builtins.isList v then builtins.filter (x: try (isDerivation x) == true) v
        else [ ];
      inputs = d:
        let attrs = try (if builtins.isAttrs (d.drvAttrs or null) then d.drvAttrs else { }); in
        if attrs == null then [ ]
        else builtins.concatLists (map (n: let v = try attrs.${n}; in if v == null then [ ] else derivationsIn v)
          (builtins.attrNames attrs));
      # One node per output referenced (`foo` and `foo.dev` are two), so that the build-time closure
      # holds the outputs the build uses, not every output of each derivation.
      key = d: try (str (d.outPath or null));
      node = d: { key = key d; drv = d; };
      reachable = builtins.genericClosure {
        startSet = if try (isDerivation value) == true && key value != null then [ (node value) ] else [ ];
        operator = item: map node (builtins.filter (d: key d != null) (inputs item.drv));
      };
      # fetchurl keeps mirror:// URLs first (mirror://gnu/...): only http(s) ones are locations.
      isHttp = u: builtins.isString u && builtins.match "https?://.+" u != null;
      urlsOf = d:
        let
          urls = try (d.urls or null);
          url = try (d.url or null);
          all = if builtins.isList urls then urls else [ url ];
        in
        builtins.filter (u: try (isHttp u) == true) all;
      isFixedOutput = d: try (d.outputHash or null) != null;
      describe = d:
        let
          meta = let m = try (d.meta or null); in if builtins.isAttrs m then m else { };
          src = try (d.src or null);
          fetched =
            if isFixedOutput d then urlsOf d
            else if try (isDerivation src) == true && isFixedOutput src then urlsOf src
            else [ ];
          names = try (d.outputs or [ "out" ]);
          outputs = if builtins.isList names
            then map (o: try (if builtins.isString o then str ((d.${o} or { }).outPath or null) else null)) names
            else [ ];
        in
        {
          path = key d;
          outputs = builtins.filter (o: o != null) outputs;
          license = try (licenseIds (meta.license or [ ]));
          homepage = try (str (meta.homepage or null));
          downloadLocation = if fetched == [ ] then null else builtins.head fetched;
          identifiers = try (identifiersOf meta);
        };
    in
    map (item: describe item.drv) reachable;

  # Its buildable attributes with their descriptions.
  targets = value0:
    let
      # A file that is a function with defaults ({ pkgs ? import <nixpkgs> {} }: ...) is called,
      # as nix-build does.
      value = if builtins.isFunction value0 then value0 { } else value0;
      describe = v:
        if isDerivation v then
          (let d = try (v.meta.description or null); in if builtins.isString d then d else "")
        else "attribute set (use --target NAME.ATTR)";
      entry = name: let v = try value.${name}; in
        if isDerivation v || (builtins.isAttrs v && !(v ? __functor)) then
          { inherit name; description = describe v; }
        else null;
    in
    if isDerivation value then [ ]
    else if builtins.isAttrs value then builtins.filter (e: e != null) (map entry (builtins.attrNames value))
    else [ ];
}
