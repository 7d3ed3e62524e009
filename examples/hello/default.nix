# syntax=org/nix-frontend
# The demo: a tiny program whose interpreter (a static busybox) is another store path, built
# without nixpkgs so that it works offline. With nixpkgs at hand this would simply be
# `(import <nixpkgs> {}).hello`; see examples/rust-hello for a nixpkgs package.
#
#   docker buildx build -f default.nix -t hello .
#   docker run --rm hello
let
  busybox = builtins.path {
    name = "busybox-static";
    path = /usr/bin;
    filter = path: type: baseNameOf path == "busybox";
  };
  sh = "${busybox}/busybox";
in
derivation {
  name = "hello-2.12";
  system = builtins.currentSystem;
  builder = sh;
  args = [
    "sh"
    "-c"
    ''
      ${sh} mkdir -p $out/bin
      ${sh} printf '#!${sh} sh\necho "Hello, world! (built by Nix, shipped by nix-frontend)"\n' > $out/bin/hello
      ${sh} chmod 555 $out/bin/hello
    ''
  ];
}
