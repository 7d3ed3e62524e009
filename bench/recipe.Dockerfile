# The hand-written recipe nix-frontend replaces: the multi-stage Dockerfile of the seed article
# ("Using Nix with Dockerfiles"), adapted only in its base image name (a local Nix image, since
# no registry is reachable here) and in building a default.nix attribute with nix-build instead
# of a flake's default package. Used by bench/compare.py as the baseline.
ARG NIX_IMAGE=nixos/nix:latest
FROM ${NIX_IMAGE} AS builder
ARG ATTR

# Copy our source and setup our working dir.
COPY . /tmp/build
WORKDIR /tmp/build

# Build our Nix environment
RUN nix-build default.nix -A "$ATTR"

# Copy the Nix store closure into a directory. The Nix store closure is the
# entire set of Nix store values that we need for our build.
RUN mkdir /tmp/nix-store-closure
RUN cp -R $(nix-store -qR result/) /tmp/nix-store-closure

# Final image is based on scratch. We copy a bunch of Nix dependencies
# but they're fully self-contained so we don't need Nix anymore.
FROM scratch

WORKDIR /app

# Copy /nix/store
COPY --from=builder /tmp/nix-store-closure /nix/store
COPY --from=builder /tmp/build/result /app
CMD ["/app/bin/app"]
