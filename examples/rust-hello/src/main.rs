fn main() {
    println!("Hello, world! (a Rust program, built by nixpkgs' rustPlatform, shipped by nix-frontend)");
}
