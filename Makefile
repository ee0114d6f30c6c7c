# etcd-monitor. Two commands matter: `make run` and `make test` (README).
GO            ?= go
BIN           := $(CURDIR)/bin
PKGS          := ./...
# Pinned test-time tools (DESIGN.md "Dependencies"). Installed into ./bin when
# missing; never committed.
PROMETHEUS_VERSION   := v0.316.0
ALERTMANAGER_VERSION := v0.28.1

export PATH := $(BIN):$(PATH)

.PHONY: all build run test test-race test-plain soak fuzz lint tools bench stack clean

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
# the others without it; both groups at once.
RACE_PKGS := ./collector ./internal/server ./internal/api ./benchmark
test: tools lint
	$(MAKE) -j2 --no-print-directory test-race test-plain
	$(MAKE) fuzz

test-race:
	$(GO) test -count=1 -race -timeout 25m $(RACE_PKGS)

test-plain:
	$(GO) test -count=1 -timeout 25m $$($(GO) list $(PKGS) | grep -v -x $(patsubst ./%,-e $$($(GO) list -m)/%,$(RACE_PKGS)))

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
	$(GO) test -run '^$$' -fuzz=FuzzDecodeBenchmark -fuzztime=$(FUZZ_TIME) ./internal/server

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

tools: $(BIN)/promtool $(BIN)/prometheus $(BIN)/alertmanager $(BIN)/amtool

$(BIN)/promtool $(BIN)/prometheus:
	GOBIN=$(BIN) $(GO) install github.com/prometheus/prometheus/cmd/$(notdir $@)@$(PROMETHEUS_VERSION)

$(BIN)/alertmanager $(BIN)/amtool:
	GOBIN=$(BIN) $(GO) install github.com/prometheus/alertmanager/cmd/$(notdir $@)@$(ALERTMANAGER_VERSION)

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
