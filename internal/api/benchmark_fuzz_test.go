package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/etcd-monitor/etcd-monitor/benchmark"
)

// FuzzDecodeBenchmark: any body either becomes a bounded, valid benchmark
// (within the API's bounds and the ones etcd and the machine set: request
// size, clients, bytes in flight) or a one-line 400, never a panic.
func FuzzDecodeBenchmark(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"workload":"mixed","total":600,"clients":8,"conns":2}`, `{"duration":"30s"}`,
		`{"duration":12.5}`, `{"workload":"read","consistency":"s"}`, `{"total":-1}`, `[]`, `{"colour":1}`, `null`,
		`{"val_size":1572000}`, `{"key_size":1000000,"val_size":600000}`, `{"clients":200,"val_size":1400000}`, `{"clients":170,"val_size":1572000,"total":1500}`, `{"clients":33,"val_size":600000}`, `{"key_space_size":1e12,"key_size":13}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		cfg, err := decodeBenchmark(body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) || re.Status != 400 || strings.Contains(re.Msg, "\n") {
				t.Fatalf("%q: %v", body, err)
			}
			return
		}
		if cfg.Validate() != nil || cfg.Total > MaxAPIBenchmarkTotal || cfg.Duration > MaxAPIBenchmarkDuration || cfg.Clients > MaxAPIBenchmarkClients || (cfg.Total == 0 && cfg.Duration == 0) {
			t.Fatalf("%q accepted as %+v", body, cfg)
		}
		request := int64(len(cfg.KeyPrefix)+9+cfg.KeySize) + int64(cfg.ValSize)
		if request > benchmark.MaxRequestBytes || cfg.InFlightBytes() > MaxAPIBenchmarkInFlightBytes || int64(cfg.Clients)*request > MaxAPIBenchmarkInFlightBytes || cfg.KeySpaceSize > benchmark.MaxKeySpaceSize {
			t.Fatalf("%q accepted: requests of %d bytes, %d clients, %d keys", body, request, cfg.Clients, cfg.KeySpaceSize)
		}
	})
}
