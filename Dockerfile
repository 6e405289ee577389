# Multi-stage build: compile in the Rust image, run on a slim Debian with only the binary and the default config.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gatehouse

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/gatehouse --create-home gatehouse
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
COPY config/container.toml /etc/gatehouse/gatehouse.toml
USER gatehouse
WORKDIR /var/lib/gatehouse
ENV GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.toml
VOLUME ["/var/lib/gatehouse/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
