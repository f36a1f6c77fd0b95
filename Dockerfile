# syntax=docker/dockerfile:1
# Build: a static binary, no cgo (modernc.org/sqlite is pure Go).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/clorebot ./cmd/clorebot \
 && mkdir -p /out/data

# Run: no shell, no package manager, a non-root user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/clorebot /usr/local/bin/clorebot
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
# Configuration comes from the environment (CLOREBOT_<SECTION>_<KEY>, secrets also as _FILE).
ENV CLOREBOT_STORAGE_PATH=/data/clorebot.db \
    CLOREBOT_HTTP_LISTEN=:8080 \
    CLOREBOT_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/data"]
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/clorebot", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/clorebot"]
CMD ["serve"]
