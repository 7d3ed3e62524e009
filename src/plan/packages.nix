# nix-frontend: the derivations a value is built from, for the SBOM (`--sbom=true`). Applied with
# `nix eval --json ... --apply` (as text). Walks every derivation reachable through the attributes
# of `derivation` calls (buildInputs, src, ...: drvAttrs), as SBOM tools for Nix do, and reports
# each output referenced (path) with all its derivation's outputs, license, homepage and the URL
# its source is fetched from (a fixed-output derivation's first http(s) `urls` entry or `url`).
# tryEval catches only throw and assert, so every attribute is reached with `or` defaults first;
# if the walk still fails, the frontend gets no packages.json and writes the SBOM without it.
value:
let
  try = v: let r = builtins.tryEval v; in if r.success then r.value else null;
  str = v: if builtins.isString v then v else null;
  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";
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
  licenseIds = l:
    let
      one = x: if builtins.isAttrs x then str (x.spdxId or x.shortName or null) else str x;
      ids = builtins.filter (x: x != null) (map one (if builtins.isList l then l else [ l ]));
    in
    if ids == [ ] then null else builtins.concatStringsSep " AND " ids;
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
    };
in
map (item: describe item.drv) reachable
