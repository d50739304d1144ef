# Build with the Rust image, run on slim Debian as an unprivileged user.
FROM rust:1-bookworm AS build
WORKDIR /src
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
CMD ["ota-inbox"]
