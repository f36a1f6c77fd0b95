# syntax=docker/dockerfile:1
# The base images, by tag. Pin them by digest for reproducible builds (README,
# "Pinning the base images"): --build-arg GO_IMAGE=golang:1.26-bookworm@sha256:...
ARG GO_IMAGE=golang:1.26-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

# The repository's .git, when the build is given it as the named context "git"
# (docker-compose.yml does; docker build --build-context git=.git .): the version
# and commit are read from it. Empty otherwise: the build arguments say them.
FROM scratch AS git

# Build: a static binary, no cgo (modernc.org/sqlite is pure Go). The build
# context is filtered by .dockerignore: no local config, database or .git.
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Set by the build, or read from the "git" context when left empty:
#   docker build --build-arg VERSION=1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
ARG VERSION=
ARG COMMIT=
ARG DATE=
RUN --mount=type=bind,from=git,target=/git \
    eval "$(sh cmd/clorebot/buildinfo.sh /git)" \
 && CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/clorebot ./cmd/clorebot \
 && /out/clorebot version \
 && mkdir -p -m 0700 /out/data

# Run: no shell, no package manager, a non-root user.
FROM ${RUNTIME_IMAGE}
ARG VERSION=
ARG COMMIT=
ARG DATE=
LABEL org.opencontainers.image.title="clorebot" \
      org.opencontainers.image.description="Rent, watch and cancel Clore.ai GPU servers from Slack, Discord, signed webhooks and the command line" \
      org.opencontainers.image.source="https://github.com/clorebot/clorebot" \
      org.opencontainers.image.documentation="https://github.com/clorebot/clorebot#docker" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}"
COPY --from=build /out/clorebot /usr/local/bin/clorebot
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
# Configuration comes from the environment (CLOREBOT_<SECTION>_<KEY>, secrets
# also as _FILE) and, for webhook keys and subscribers, from a mounted file
# named by CLOREBOT_CONFIG.
ENV CLOREBOT_STORAGE_PATH=/data/clorebot.db \
    CLOREBOT_HTTP_LISTEN=:8080 \
    CLOREBOT_LOG_FORMAT=json
EXPOSE 8080
VOLUME ["/data"]
USER 65532:65532
# healthcheck probes /healthz on http.listen as configured (CLOREBOT_HTTP_LISTEN
# or the mounted file), on loopback when it listens on every address.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/clorebot", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/clorebot"]
CMD ["serve"]
