# Container image of SCIM Stream: one static binary on a distroless base, running as a non-root user.
#
#   docker build --build-arg VERSION=v1.2.3 -t scim-stream:v1.2.3 .
#   docker run --rm -v scim-stream:/config -e SEED=… scim-stream:v1.2.3 bootstrap -config /config/config.yaml -hr mycompany
#   docker run -d -v scim-stream:/config -e SEED=… -p 9012:9012 -p 9013:9013 scim-stream:v1.2.3
#
# /config holds config.yaml, certs/ and the JetStream store: keep it on a volume. Set SEED: a container's machine
# id and host name change, and the configuration's secrets are encrypted with a key derived from them otherwise.

# ---- build: a static binary (CGO_ENABLED=0) with the version stamped ----
FROM golang:1.26-bookworm AS build
ARG VERSION=devel
WORKDIR /src
# The module download is its own layer: it is reused while go.mod and go.sum do not change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/scim-stream ./cmd/scim-stream
# The volume's mount point, owned by the runtime user so that a new (empty) volume is writable by it.
RUN mkdir -p /out/config

# ---- runtime: CA certificates and time zones (cron schedules) included, no shell, user nonroot (65532) ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/scim-stream /usr/local/bin/scim-stream
COPY --from=build --chown=65532:65532 /out/config /config
USER 65532:65532
WORKDIR /
# Logs go to stdout (the container runtime collects them) instead of logs/ under the working directory.
ENV SCIM_STREAM_LOG_CONSOLE=true
VOLUME ["/config"]
# 9012: the NATS client port (nats.server.port) subscribers connect to; 9013: /healthz, /readyz and /metrics (-http).
EXPOSE 9012 9013
ENTRYPOINT ["/usr/local/bin/scim-stream"]
CMD ["run", "-config", "/config/config.yaml", "-http", ":9013"]
