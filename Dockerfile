# Multi-stage build: compile in the Rust image, run on a slim Debian with the binary, the container config, the CA
# certificates https vendors need, and a data directory the runtime user owns.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gatehouse

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --home /var/lib/gatehouse --create-home gatehouse \
    && install -d -o gatehouse -g gatehouse -m 0750 /var/lib/gatehouse/data
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
COPY config/container.toml /etc/gatehouse/gatehouse.toml
USER gatehouse
WORKDIR /var/lib/gatehouse
ENV GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.toml
# A named volume starts as a copy of this directory, owned by gatehouse.
VOLUME ["/var/lib/gatehouse/data"]
# 8080: webhooks, /v1, /proxy, health. 9090: /admin, /console, /metrics (server.admin_listen; publish it privately).
EXPOSE 8080 9090
# `gatehouse health` asks /readyz on server.listen (slim images have no curl).
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["gatehouse", "health", "--timeout", "4s"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
