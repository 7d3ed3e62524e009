# nix-frontend: facts about the value being built, for the image config. Applied with
# `nix eval --json ... --apply "import info.nix"`. Each field is null when it is missing or its
# evaluation throws, so an unusual package never breaks the build over a label.
value:
let
  try = v: let r = builtins.tryEval v; in if r.success then r.value else null;
  str = v: if builtins.isString v then v else null;
  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";
  d = value;
  meta = if builtins.isAttrs (d.meta or null) then d.meta else { };
  licenseIds = l:
    let
      one = x: if builtins.isAttrs x then str (x.spdxId or x.shortName or null) else str x;
      ids = builtins.filter (x: x != null) (map one (if builtins.isList l then l else [ l ]));
    in
    if ids == [ ] then null else builtins.concatStringsSep " AND " ids;
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
  revision = try (if builtins.isAttrs (d.src or null) then str (d.src.rev or null) else null);
  # passthru.imageConfig, as JSON text so that odd values cannot break the outer JSON.
  imageConfig = try (if builtins.isAttrs (d.imageConfig or null) then builtins.toJSON d.imageConfig else null);
}
