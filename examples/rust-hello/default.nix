# syntax=org/nix-frontend
# The seed article's Rust hello world as a nixpkgs package, for users with network access:
#   docker buildx build -f default.nix -t rust-hello . && docker run --rm rust-hello
# nixpkgs is pinned to the 24.05 release tag. Add its `sha256` (printed by
# `nix-prefetch-url --unpack <url>`) to make the pin checked; it could not be computed on the
# offline machine this repository is tested on.
{ pkgs ? import (builtins.fetchTarball {
    url = "https://github.com/NixOS/nixpkgs/archive/refs/tags/24.05.tar.gz";
  }) { } }:
pkgs.rustPlatform.buildRustPackage {
  pname = "rust-hello";
  version = "0.1.0";
  src = pkgs.lib.cleanSource ./.;
  cargoLock.lockFile = ./Cargo.lock;
  meta = {
    description = "Hello world in Rust, as a closure-only image";
    mainProgram = "rust-hello";
    license = pkgs.lib.licenses.mit;
  };
}
