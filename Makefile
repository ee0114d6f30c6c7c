# etcd-monitor. Two commands matter: `make run` and `make test` (README).
GO            ?= go
BIN           := $(CURDIR)/bin
PKGS          := ./...
# Pinned test-time tools (docs/architecture.md, "Where things live"),
# installed into ./bin when missing; never committed.
PROMETHEUS_VERSION   := v0.316.0
ALERTMANAGER_VERSION := v0.28.1
HELM_VERSION         := v3.22.0

export PATH := $(BIN):$(PATH)

.PHONY: all build run test test-race test-plain plain-then-fuzz soak fuzz lint tools bench stack clean chart

all: build

build:
	$(GO) build -o $(BIN)/etcd-monitor ./cmd/etcd-monitor

# With no endpoints given, `run` starts a 3-member etcd cluster in-process and
# serves the monitor against it. `make run ARGS="--etcd.endpoints=..."` watches
# a real cluster instead.
run: build
ifeq ($(strip $(ARGS)),)
	$(BIN)/etcd-monitor demo
else
	$(BIN)/etcd-monitor serve $(ARGS)
endif

# Every test: static checks, all packages with the real tools on PATH, then
# a short run of each fuzz target (their seed corpora run in the unit tests).
# The packages with concurrency of their own run under the race detector,
# the others without it; both groups at once. go test starts packages in the
# order given, so each group lists its slowest first (by their measured
# times): collector under -race is the longest pole, and a slow package
# started last would end the run alone.
RACE_PKGS  := ./collector ./benchmark ./internal/server ./internal/api
SLOW_PLAIN := ./e2e ./rules ./cmd/etcd-monitor ./internal/faultschedule ./maintenance ./internal/statuspage
# The plain group ends minutes before collector's race run, so the fuzz
# targets follow it rather than the whole run: same targets and fuzz time,
# about a minute and a half less wall time.
test: tools lint
	$(MAKE) -j2 --no-print-directory test-race plain-then-fuzz

plain-then-fuzz: test-plain
	$(MAKE) --no-print-directory fuzz

test-race:
	$(GO) test -count=1 -race -timeout 25m $(RACE_PKGS)

test-plain:
	$(GO) test -count=1 -timeout 25m $(SLOW_PLAIN) $$($(GO) list $(PKGS) | grep -v -x $(patsubst ./%,-e $$($(GO) list -m)/%,$(RACE_PKGS) $(SLOW_PLAIN)))

# The long fault schedule (internal/faultschedule): faults for SOAK on etcd
# processes, failing when the monitor's goroutines, RSS or open files grow.
SOAK     ?= 60m
ETCD_BIN ?= /usr/bin/etcd
soak:
	ETCD_BIN=$(ETCD_BIN) FAULT_SOAK=$(SOAK) $(GO) test -count=1 -v -timeout 0 -run TestFaultSoak ./internal/faultschedule

FUZZ_TIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz=FuzzParse -fuzztime=$(FUZZ_TIME) ./internal/clusterconfig
	$(GO) test -run '^$$' -fuzz=FuzzAPI -fuzztime=$(FUZZ_TIME) ./internal/api
	$(GO) test -run '^$$' -fuzz=FuzzDecode -fuzztime=$(FUZZ_TIME) ./internal/alerthistory
	$(GO) test -run '^$$' -fuzz=FuzzDecodeBenchmark -fuzztime=$(FUZZ_TIME) ./internal/api
	$(GO) test -run '^$$' -fuzz=FuzzParse -fuzztime=$(FUZZ_TIME) ./internal/bytesize
	$(GO) test -run '^$$' -fuzz=FuzzFleetQuery -fuzztime=$(FUZZ_TIME) ./internal/statuspage

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

tools: $(BIN)/promtool $(BIN)/prometheus $(BIN)/alertmanager $(BIN)/amtool $(BIN)/helm

$(BIN)/promtool $(BIN)/prometheus:
	GOBIN=$(BIN) $(GO) install github.com/prometheus/prometheus/cmd/$(notdir $@)@$(PROMETHEUS_VERSION)

$(BIN)/alertmanager $(BIN)/amtool:
	GOBIN=$(BIN) $(GO) install github.com/prometheus/alertmanager/cmd/$(notdir $@)@$(ALERTMANAGER_VERSION)

$(BIN)/helm:
	GOBIN=$(BIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# The Helm chart (charts/etcd-monitor): regenerate its copies of the rules and
# dashboards from rules/ and dashboards/ (never edit them), lint it, render it
# with the defaults and the kubeadm preset, and run its tests (strict decoding,
# promtool, --config.check, and the drift check of the generated files).
# helm built by `go install` assumes Kubernetes v1.20: name a current one.
CHART := charts/etcd-monitor
HELM_KUBE := --kube-version v1.33.0
chart: $(BIN)/helm $(BIN)/promtool
	$(GO) test -count=1 -run '^TestGeneratedFilesUpToDate$$' ./charts/chartfiles -update
	$(BIN)/helm lint --strict $(HELM_KUBE) $(CHART)
	$(BIN)/helm lint --strict $(HELM_KUBE) $(CHART) --set preset=kubeadm
	$(BIN)/helm template etcd-monitor $(CHART) $(HELM_KUBE) >/dev/null
	$(BIN)/helm template etcd-monitor $(CHART) $(HELM_KUBE) --set preset=kubeadm >/dev/null
	$(GO) test -count=1 ./charts/...

# Go benchmarks behind the figures in docs/performance.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 $(PKGS)

clean:
	rm -rf $(BIN) dist

# docker-compose.yml's topology without a container engine, on 127.0.0.1:
# the demo cluster and etcd-monitor, Prometheus with rules/, Alertmanager with
# alertmanager/, the Pushgateway (docs/deploy.md). Ctrl-C stops it all.
stack: build tools
	scripts/stack.sh
