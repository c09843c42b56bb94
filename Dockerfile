# syntax=docker/dockerfile:1
# Switchboard: a multi-stage build. The dependency layer is cached until
# Cargo.toml or Cargo.lock change; the runtime image is distroless, non-root,
# and carries only the stripped binary.
#
#   docker build -t switchboard .
#   docker run -p 3000:3000 switchboard

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# 1. Dependencies only: a dummy crate with the real manifests.
COPY Cargo.toml Cargo.lock build.rs ./
COPY loadtest/Cargo.toml loadtest/Cargo.toml
RUN mkdir -p src loadtest/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && echo 'fn main() {}' > loadtest/src/main.rs \
    && cargo build --release --locked --bin switchboard \
    && rm -rf src loadtest/src
# 2. The real sources.
COPY src src
COPY loadtest/src loadtest/src
ARG SWITCHBOARD_COMMIT=unknown
ENV SWITCHBOARD_COMMIT=${SWITCHBOARD_COMMIT}
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin switchboard \
    && strip target/release/switchboard \
    && cp target/release/switchboard /switchboard

FROM gcr.io/distroless/cc-debian12:nonroot
ARG SWITCHBOARD_COMMIT=unknown
LABEL org.opencontainers.image.title="switchboard" \
      org.opencontainers.image.description="A horizontally scalable Socket.IO messaging gateway" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.revision="${SWITCHBOARD_COMMIT}" \
      org.opencontainers.image.source="https://github.com/switchboard/switchboard"
COPY --from=build /switchboard /usr/local/bin/switchboard
USER 65532:65532
ENV SB_HOST=0.0.0.0 \
    SB_PORT=3000 \
    SB_INTERNAL_PORT=9090 \
    SB_ENV=production
EXPOSE 3000 9090
# distroless has no shell or curl: the binary probes itself.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/switchboard", "probe", "--url", "http://127.0.0.1:9090/health"]
ENTRYPOINT ["/usr/local/bin/switchboard"]
