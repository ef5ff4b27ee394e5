# dbfleet's container image: `dbfleet serve` over streamable HTTP on port
# 8080, configured by /etc/dbfleet/dbfleet.toml (mount it), run as a non-root
# user. Secrets come from the environment (`password_env`, `${VAR}`) or from
# mounted files (`password_file`).
#
#   docker build -t dbfleet .
#   docker run --rm -p 8080:8080 -v ./dbfleet.toml:/etc/dbfleet/dbfleet.toml:ro \
#     -e DBFLEET_TOKEN -e PROD_PG_PASSWORD dbfleet
#
# Build arguments:
#   RUST_IMAGE     the build stage's base (default: the official Rust image)
#   RUNTIME_IMAGE  the runtime base: distroless `cc` (default; glibc, CA
#                  certificates, a `nonroot` user, no shell), or any glibc
#                  image such as debian:bookworm-slim
#   BINARY         `source` builds dbfleet in RUST_IMAGE; `prebuilt` copies
#                  target/dist/dbfleet, built beforehand with
#                  `cargo build --profile dist -p dbfleet-server` against a
#                  glibc no newer than the runtime base's (container/test
#                  does so, where no image can be pulled)

ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG BINARY=source

FROM ${RUST_IMAGE} AS binary-source
WORKDIR /src
COPY . .
RUN cargo build --profile dist --locked -p dbfleet-server \
 && install -D target/dist/dbfleet /out/dbfleet

FROM scratch AS binary-prebuilt
COPY target/dist/dbfleet /out/dbfleet

FROM binary-${BINARY} AS binary

FROM ${RUNTIME_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="dbfleet" \
      org.opencontainers.image.description="MCP server for a whole estate of databases: PostgreSQL, MySQL/MariaDB, SQL Server, SQLite" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=binary /out/dbfleet /usr/local/bin/dbfleet
ENV DBFLEET_CONFIG=/etc/dbfleet/dbfleet.toml \
    RUST_LOG=info
# distroless's `nonroot`; the same numbers work on any base.
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/dbfleet", "ping", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["/usr/local/bin/dbfleet"]
CMD ["serve", "--transport", "http", "--listen", "0.0.0.0:8080"]
