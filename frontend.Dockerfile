# The nix-frontend image: one static binary on scratch.
#
#   docker buildx build -f frontend.Dockerfile -t org/nix-frontend .
#
# Where no Rust image can be pulled (as in this repository's tests), build the binary on the host
# and feed it in as the `build` stage: scripts/frontend-image does exactly that with
#   --build-context build=<dir holding out/nix-frontend> --target frontend
# scripts/publish builds the `publish` stage for linux/amd64 and linux/arm64 at once (one index)
# from a context holding amd64/nix-frontend and arm64/nix-frontend: the same image per platform.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --locked --target "$(rustc -vV | sed -n 's/^host: //p')" \
 && mkdir /out && cp target/*/release/nix-frontend /out/nix-frontend

# What every image of the frontend carries; the stages below add the binary.
FROM scratch AS base
# caps: without them buildx refuses --build-context, --print and --check for this frontend.
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts" \
      moby.buildkit.frontend.network.none="true" \
      org.opencontainers.image.title="nix-frontend" \
      org.opencontainers.image.description="BuildKit frontend: default.nix to a closure-only scratch image"
USER 65534:65534
ENTRYPOINT ["/nix-frontend"]

# One platform of the published index: the binary built for TARGETARCH, from the context.
FROM base AS publish
ARG TARGETARCH
COPY ${TARGETARCH}/nix-frontend /nix-frontend

# The default (last) stage.
FROM base AS frontend
COPY --from=build /out/nix-frontend /nix-frontend
