# nix-frontend: the buildable attributes of a value, for `--print=targets`.
value0:
let
  # A file that is a function with defaults ({ pkgs ? import <nixpkgs> {} }: ...) is called,
  # as nix-build does.
  value = if builtins.isFunction value0 then value0 { } else value0;
  try = v: let r = builtins.tryEval v; in if r.success then r.value else null;
  isDerivation = v: builtins.isAttrs v && (v.type or null) == "derivation";
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
else [ ]
