# Build with the Rust image, run on slim Debian as an unprivileged user.
#
# The dependencies are built in a layer of their own (cargo-chef): the recipe holds only the
# manifests and the lock file, so a change to the sources reuses that layer and rebuilds
# ota-inbox alone.

FROM rust:1-bookworm AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

# The recipe of the dependencies (changes only with Cargo.toml and Cargo.lock).
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --recipe-path recipe.json
COPY Cargo.toml Cargo.lock build.rs ./
COPY src src
COPY migrations migrations
RUN cargo build --release --locked --bin ota-inbox

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin ota \
    && mkdir -p /app/data \
    && chown -R ota /app
COPY --from=build /src/target/release/ota-inbox /usr/local/bin/ota-inbox
WORKDIR /app
USER ota
ENV BIND_ADDR=0.0.0.0:8080 \
    DATA_DIR=/app/data
EXPOSE 8080
# GET /ready of the server on BIND_ADDR (the image has no curl).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["ota-inbox", "healthcheck"]
CMD ["ota-inbox", "serve"]
