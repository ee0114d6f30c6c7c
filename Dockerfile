# etcd-monitor: a static binary on a distroless base, run as a non-root user.
#
#   docker build -t etcd-monitor .
#   docker run --rm -p 9379:9379 etcd-monitor serve --etcd.endpoints=http://etcd:2379
#
# Build arguments: GO_VERSION (the builder, at least go.mod's), VERSION and
# REVISION (shown by --version and etcd_monitor_build_info).

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
# CGO off: a static binary that runs on distroless/static (no libc).
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=docker" \
      -o /out/etcd-monitor ./cmd/etcd-monitor

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/etcd-monitor /bin/etcd-monitor
# 65532 is distroless' "nonroot" user.
USER 65532:65532
EXPOSE 9379
ENTRYPOINT ["/bin/etcd-monitor"]
CMD ["serve"]
