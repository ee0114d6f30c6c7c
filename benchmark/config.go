package benchmark

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Workloads.
const (
	WorkloadWrite = "write"
	WorkloadRead  = "read"
	WorkloadMixed = "mixed"
)

// Defaults. Key and value sizes are etcd's tools/benchmark defaults, so a
// run with the defaults compares with `benchmark put` as it is usually run;
// connections and clients are the original etcd-monitor guide's example.
const (
	DefaultTotal         = 10000
	DefaultConns         = 10
	DefaultClients       = 10
	DefaultKeySize       = 8
	DefaultValSize       = 8
	DefaultKeySpaceSize  = 1000
	DefaultReadRatio     = 0.7
	DefaultKeyPrefix     = "/etcd-monitor/bench/"
	DefaultMaxQuotaUsage = 0.8
	DefaultConsistency   = "l"
	// DefaultQuotaBackendBytes is etcd's default quota, assumed for members
	// that do not report theirs (before 3.6).
	DefaultQuotaBackendBytes = 2 << 30
)

// Config is one benchmark run. The JSON form is what the REST API accepts,
// unmarshalled over DefaultConfig so that omitted fields keep defaults.
type Config struct {
	// Workload is write (puts), read (gets over keys written first) or
	// mixed (ReadRatio reads, the rest writes).
	Workload string `json:"workload"`
	// Total requests to send; Duration runs for a time instead. Give one;
	// with neither, DefaultTotal requests are sent.
	Total    int           `json:"total,omitempty"`
	Duration time.Duration `json:"duration,omitempty"`
	// Conns gRPC connections shared by Clients clients, each with one
	// request in flight (client i uses connection i mod Conns, as etcd's
	// tool does).
	Conns   int `json:"conns"`
	Clients int `json:"clients"`
	// Rate caps requests per second over all clients; 0 is unlimited.
	Rate float64 `json:"rate,omitempty"`
	// KeySize is the length of the key below the run's directory (the
	// key's zero-padded index); ValSize the value's length in bytes.
	KeySize int `json:"key_size"`
	ValSize int `json:"val_size"`
	// KeySpaceSize distinct keys are written (and, for read and mixed,
	// written before the timed run so reads find them).
	KeySpaceSize   int     `json:"key_space_size"`
	SequentialKeys bool    `json:"sequential_keys,omitempty"`
	Consistency    string  `json:"consistency"` // reads: l (linearizable) or s (serializable)
	ReadRatio      float64 `json:"read_ratio"`  // mixed only
	// KeyPrefix must be empty on the cluster unless AllowExistingKeys. Keys
	// go below a fresh run directory under it either way, and only that
	// directory is deleted afterwards.
	KeyPrefix         string `json:"key_prefix"`
	AllowExistingKeys bool   `json:"allow_existing_keys,omitempty"`
	// MaxQuotaUsage is the share of a member's backend quota at which the
	// run refuses to start or stops itself, 0 < x < 1.
	MaxQuotaUsage float64 `json:"max_quota_usage"`
	// QuotaBackendBytes is assumed for members that do not report their
	// quota (etcd before 3.6); 0 means etcd's default, 2 GiB.
	QuotaBackendBytes int64 `json:"quota_backend_bytes,omitempty"`
}

// DefaultConfig returns a write workload with every default filled in.
func DefaultConfig() Config {
	return Config{
		Workload:      WorkloadWrite,
		Conns:         DefaultConns,
		Clients:       DefaultClients,
		KeySize:       DefaultKeySize,
		ValSize:       DefaultValSize,
		KeySpaceSize:  DefaultKeySpaceSize,
		Consistency:   DefaultConsistency,
		ReadRatio:     DefaultReadRatio,
		KeyPrefix:     DefaultKeyPrefix,
		MaxQuotaUsage: DefaultMaxQuotaUsage,
	}
}

// keyBytes is the length of every key: the prefix, the run directory and
// KeySize digits.
func (c Config) keyBytes() int64 {
	return int64(len(c.KeyPrefix)) + runDirBytes + int64(c.KeySize)
}

// InFlightBytes is what the run's clients hold in requests at once:
// clients × the buffer gRPC encodes each request into (requestBuffer).
func (c Config) InFlightBytes() int64 {
	return int64(c.Clients) * requestBuffer(c.keyBytes()+int64(c.ValSize)+requestOverhead)
}

// requestBuffer is the buffer gRPC encodes a request of n bytes into: its
// default pool (google.golang.org/grpc/mem) hands out 256 B, 4 KiB,
// 16 KiB, 32 KiB and 1 MiB buffers, and a larger request gets one of its
// own size. So a 166 KB value costs 1 MiB per client: 200 such clients
// took serve to 490 MB of RSS while the requests' own bytes were 32 MiB.
func requestBuffer(n int64) int64 {
	for _, size := range []int64{256, 4 << 10, 16 << 10, 32 << 10, 1 << 20} {
		if n <= size {
			return size
		}
	}
	return n
}

// CheckInFlight refuses a run whose requests in flight exceed limit bytes,
// naming the clients (the count to lower); the REST API passes its own,
// lower limit.
func (c Config) CheckInFlight(limit int64) error {
	if inflight := c.InFlightBytes(); inflight > limit {
		req := c.keyBytes() + int64(c.ValSize) + requestOverhead
		buf := ""
		if b := requestBuffer(req); b != req {
			buf = fmt.Sprintf(" (each in a %d-byte gRPC buffer)", b)
		}
		return cfgErr("clients", "%d clients with requests of %d bytes%s would hold %d MiB in flight, at most %d MiB: fewer clients or a smaller value",
			c.Clients, req, buf, inflight>>20, limit>>20)
	}
	return nil
}

// Bounds: what etcd cannot accept, and what would only exhaust the machine
// running the benchmark. The same for the command line and the REST API
// (which bounds totals, durations and clients further).
const (
	// MaxRequestBytes is etcd's default --max-request-bytes (1.5 MiB): a
	// put of a larger key and value is refused by every member.
	MaxRequestBytes = 1536 << 10
	// requestOverhead is what a put request adds to its key and value in
	// etcd's raft entry (header, field tags, lengths), rounded up.
	requestOverhead = 512
	// MaxClients and MaxConns bound the goroutines and gRPC connections.
	MaxClients = 10_000
	MaxConns   = 1_000
	// MaxInFlightBytes bounds clients × request size (InFlightBytes):
	// every client holds its own encoded request while it is in flight,
	// and the process holds about four times that in RSS (the request,
	// gRPC's encoding of it, HTTP/2's framing, and the garbage collector's
	// headroom). At 64 MiB the benchmark command stays under its stated
	// budget (docs/benchmark.md, "Memory"); 256 MiB took it past 900 MB.
	MaxInFlightBytes = 64 << 20
	// MaxKeySpaceSize bounds the keys a run may write (and must clean up).
	MaxKeySpaceSize = 100_000_000
	// runDirBytes is the length of the run's directory below the prefix
	// (newRunDir: 8 hex digits and a slash).
	runDirBytes = 9
	// maxKeyPrefixBytes: a directory name, not a payload.
	maxKeyPrefixBytes = 4 << 10
)

// ConfigError names the setting that is wrong by its JSON name; the
// command maps it to the flag (see flagFor).
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Msg }

func cfgErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// maxKeyIndexDigits: keys are zero-padded decimal indices, and an int64
// index has at most 19 digits.
const maxKeyIndexDigits = 19

// Validate reports the first thing wrong with c as a *ConfigError. Start
// from DefaultConfig (the REST API unmarshals a request over it): a zero
// field is taken literally, except that Total and Duration both zero mean
// DefaultTotal requests and QuotaBackendBytes zero means etcd's default.
func (c Config) Validate() error {
	switch c.Workload {
	case WorkloadWrite, WorkloadRead, WorkloadMixed:
	default:
		return cfgErr("workload", "want write, read or mixed, got %q", c.Workload)
	}
	if c.Total < 0 {
		return cfgErr("total", "must not be negative, got %d", c.Total)
	}
	if c.Duration < 0 {
		return cfgErr("duration", "must not be negative, got %s", c.Duration)
	}
	if c.Total > 0 && c.Duration > 0 {
		return cfgErr("total", "give a total or a duration, not both (got %d and %s)", c.Total, c.Duration)
	}
	if c.Clients < 1 {
		return cfgErr("clients", "must be at least 1, got %d", c.Clients)
	}
	if c.Conns < 1 {
		return cfgErr("conns", "must be at least 1, got %d", c.Conns)
	}
	if c.Conns > c.Clients {
		return cfgErr("conns", "%d connections for %d clients would leave connections idle: want at most as many as clients", c.Conns, c.Clients)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return cfgErr("rate", "want requests per second, 0 for unlimited, got %v", c.Rate)
	}
	if c.Clients > MaxClients {
		return cfgErr("clients", "at most %d, got %d", MaxClients, c.Clients)
	}
	if c.Conns > MaxConns {
		return cfgErr("conns", "at most %d, got %d", MaxConns, c.Conns)
	}
	if c.KeySize < 1 {
		return cfgErr("key_size", "must be at least 1, got %d", c.KeySize)
	}
	if c.ValSize < 0 {
		return cfgErr("val_size", "must not be negative, got %d", c.ValSize)
	}
	if len(c.KeyPrefix) > maxKeyPrefixBytes {
		return cfgErr("key_prefix", "%d bytes, at most %d", len(c.KeyPrefix), maxKeyPrefixBytes)
	}
	// The key is the prefix, the run directory and KeySize digits.
	limit := int64(MaxRequestBytes - requestOverhead)
	keyBytes := c.keyBytes()
	if keyBytes > limit {
		return cfgErr("key_size", "keys of %d bytes exceed etcd's default request limit (--max-request-bytes, 1.5 MiB): at most %d with this prefix", keyBytes, limit-keyBytes+int64(c.KeySize))
	}
	if req := keyBytes + int64(c.ValSize); req > limit {
		return cfgErr("val_size", "%d bytes with %d-byte keys exceed etcd's default request limit (--max-request-bytes, 1.5 MiB): at most %d", c.ValSize, keyBytes, limit-keyBytes)
	}
	if err := c.CheckInFlight(MaxInFlightBytes); err != nil {
		return err
	}
	if c.KeySpaceSize < 1 {
		return cfgErr("key_space_size", "must be at least 1, got %d", c.KeySpaceSize)
	}
	if c.KeySpaceSize > MaxKeySpaceSize {
		return cfgErr("key_space_size", "at most %d, got %d", MaxKeySpaceSize, c.KeySpaceSize)
	}
	if c.KeySize < maxKeyIndexDigits && int64(c.KeySpaceSize-1) >= pow10(c.KeySize) {
		return cfgErr("key_space_size", "%d keys need %d-digit key indices, but the key size is %d", c.KeySpaceSize, len(fmt.Sprint(c.KeySpaceSize-1)), c.KeySize)
	}
	switch c.Consistency {
	case "l", "s":
	default:
		return cfgErr("consistency", "want l (linearizable) or s (serializable), got %q", c.Consistency)
	}
	if math.IsNaN(c.ReadRatio) || c.ReadRatio < 0 || c.ReadRatio > 1 {
		return cfgErr("read_ratio", "want a share between 0 and 1, got %v", c.ReadRatio)
	}
	if strings.TrimSpace(c.KeyPrefix) == "" {
		return cfgErr("key_prefix", "must not be empty: the benchmark writes only below its own prefix")
	}
	if math.IsNaN(c.MaxQuotaUsage) || c.MaxQuotaUsage <= 0 || c.MaxQuotaUsage >= 1 {
		return cfgErr("max_quota_usage", "want a share of the quota above 0 and below 1 (e.g. 0.8 for 80%%), got %v", c.MaxQuotaUsage)
	}
	if c.QuotaBackendBytes < 0 {
		return cfgErr("quota_backend_bytes", "must not be negative, got %d", c.QuotaBackendBytes)
	}
	return nil
}

// total is the number of requests to send, 0 for a timed run.
func (c Config) total() int {
	if c.Total == 0 && c.Duration == 0 {
		return DefaultTotal
	}
	return c.Total
}

func (c Config) quotaBytes() int64 {
	if c.QuotaBackendBytes == 0 {
		return DefaultQuotaBackendBytes
	}
	return c.QuotaBackendBytes
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}
