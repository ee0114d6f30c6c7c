package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/etcd-monitor/etcd-monitor/benchmark"
	"github.com/etcd-monitor/etcd-monitor/collector"
)

// Bounds of a benchmark started through the API: it runs inside the
// monitor, against a cluster people depend on, on behalf of whoever can
// reach the port.
const (
	MaxAPIBenchmarkTotal    = 100_000
	MaxAPIBenchmarkDuration = time.Minute
	MaxAPIBenchmarkClients  = 200
	// MaxAPIBenchmarkInFlightBytes bounds the run's requests in flight
	// (clients × request size) below the command's: serve holds about four
	// times it in RSS while the run lasts, on top of its own, and
	// README's "Memory" states serve's budget with the API on.
	MaxAPIBenchmarkInFlightBytes = 32 << 20
)

// decodeBenchmark parses and bounds a request body: benchmark.Config's JSON
// (the duration as "30s"). Omitted fields keep the command's defaults;
// unknown fields are refused, so a typo does not silently run a default.
func decodeBenchmark(body []byte) (benchmark.Config, error) {
	cfg := benchmark.DefaultConfig()
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		var fields map[string]json.RawMessage
		if err := dec.Decode(&fields); err != nil {
			return benchmark.Config{}, BadRequest("body: %v", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			return benchmark.Config{}, BadRequest("body: more than one JSON value")
		}
		known := configFields()
		for k := range fields {
			if !known[k] {
				return benchmark.Config{}, BadRequest("body: unknown field %q", k)
			}
		}
		if err := json.Unmarshal(body, &cfg); err != nil {
			return benchmark.Config{}, BadRequest("body: %v", err)
		}
	}
	if cfg.Total == 0 && cfg.Duration == 0 {
		cfg.Total = min(benchmark.DefaultTotal, MaxAPIBenchmarkTotal)
	}
	if err := cfg.Validate(); err != nil {
		return benchmark.Config{}, BadRequest("%v", err)
	}
	switch {
	case cfg.Total > MaxAPIBenchmarkTotal:
		return benchmark.Config{}, BadRequest("total: at most %d through the API, got %d (use the benchmark command for more)", MaxAPIBenchmarkTotal, cfg.Total)
	case cfg.Duration > MaxAPIBenchmarkDuration:
		return benchmark.Config{}, BadRequest("duration: at most %s through the API, got %s", MaxAPIBenchmarkDuration, cfg.Duration)
	case cfg.Clients > MaxAPIBenchmarkClients:
		return benchmark.Config{}, BadRequest("clients: at most %d through the API, got %d", MaxAPIBenchmarkClients, cfg.Clients)
	}
	if err := cfg.CheckInFlight(MaxAPIBenchmarkInFlightBytes); err != nil {
		return benchmark.Config{}, BadRequest("%v (through the API)", err)
	}
	return cfg, nil
}

// configFields are the JSON names of benchmark.Config's fields.
func configFields() map[string]bool {
	known := map[string]bool{}
	t := reflect.TypeOf(benchmark.Config{})
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			known[name] = true
		}
	}
	return known
}

// Benchmarks lets the API run benchmarks, one at a time. One value lives as
// long as the monitor, so the guard holds across reloads that rebuild the API.
type Benchmarks struct{ busy atomic.Bool }

// runBenchmark runs the benchmark a request body describes against the
// watched cluster, with its connection settings.
func runBenchmark(ctx context.Context, cluster collector.ClusterConfig, body []byte) (any, error) {
	cfg, err := decodeBenchmark(body)
	if err != nil {
		return nil, err
	}
	if cfg.QuotaBackendBytes == 0 {
		cfg.QuotaBackendBytes = cluster.QuotaBackendBytes
	}
	rep, err := benchmark.Run(ctx, cluster.Conn, cfg, nil)
	if err != nil {
		if errors.Is(err, benchmark.ErrRefused) {
			return nil, &RequestError{Status: http.StatusConflict, Msg: err.Error()}
		}
		if errors.Is(err, benchmark.ErrUnreachable) {
			return nil, &RequestError{Status: http.StatusServiceUnavailable, Msg: err.Error()}
		}
		return nil, err
	}
	return rep, nil
}

// maxBenchmarkBody bounds the benchmark request body.
const maxBenchmarkBody = 64 << 10

func (a *API) benchmark(w http.ResponseWriter, r *http.Request) {
	if a.opts.Benchmarks == nil {
		writeError(w, http.StatusNotFound, "the benchmark API is off: start the monitor with --web.enable-benchmark-api")
		return
	}
	ch, err := a.checker(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBenchmarkBody+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	if len(body) > maxBenchmarkBody {
		writeError(w, http.StatusRequestEntityTooLarge, "body larger than 64 KiB")
		return
	}
	if s := ch.Snapshot(); s == nil || !s.HasQuorum {
		writeError(w, http.StatusServiceUnavailable, "refused: cluster "+ch.Name()+" has no quorum")
		return
	}
	if !a.opts.Benchmarks.busy.CompareAndSwap(false, true) {
		writeError(w, http.StatusConflict, "a benchmark is already running; one at a time")
		return
	}
	defer a.opts.Benchmarks.busy.Store(false)
	report, err := runBenchmark(r.Context(), ch.Config(), body)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, report)
}
