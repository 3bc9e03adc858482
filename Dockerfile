# syntax=docker/dockerfile:1
# Images of inferscale for users with Docker (the e2e tests build theirs without Docker, in
# e2e/images). One target per binary:
#   docker build --target webhook -t inferscale-webhook .
#   docker build --target scaler  -t inferscale-scaler .
#   docker build --target agent   -t inferscale-agent .
#   docker build --target cli     -t inferscale .
ARG GO_VERSION=1.26.8

# bookworm, to match the glibc of the agent's distroless base-debian12 runtime.
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ENV LDFLAGS="-s -w -X github.com/inferscale/inferscale/internal/version.Version=${VERSION}"
# The agent links go-nvml through cgo; everything else is static.
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "$LDFLAGS" -o /out/ ./cmd/inferscale ./cmd/inferscale-webhook ./cmd/inferscale-scaler && \
    CGO_ENABLED=1 go build -trimpath -ldflags "$LDFLAGS" -o /out/ ./cmd/inferscale-agent

FROM gcr.io/distroless/static-debian12:nonroot AS webhook
COPY --from=build /out/inferscale-webhook /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/inferscale-webhook"]

FROM gcr.io/distroless/static-debian12:nonroot AS scaler
COPY --from=build /out/inferscale-scaler /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/inferscale-scaler"]

FROM gcr.io/distroless/static-debian12:nonroot AS cli
COPY --from=build /out/inferscale /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/inferscale"]

# glibc for the cgo binary; libnvidia-ml comes from the node through the NVIDIA runtime.
FROM gcr.io/distroless/base-debian12:nonroot AS agent
COPY --from=build /out/inferscale-agent /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/inferscale-agent"]
