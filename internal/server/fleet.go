package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"os"
	"sync"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
)

// watched is one running cluster: its checker, the probe metrics only it
// records into (so a removed cluster's probe series go with it), and the
// key its configuration is compared by at a reload.
type watched struct {
	checker *collector.Checker
	probes  *collector.ProbeMetrics
	key     []byte
}

// fleet is the current set of watched clusters, replaced as a whole at a
// reload; readers (scrapes, the API) take a copy under the read lock.
type fleet struct {
	mu  sync.RWMutex
	set []*watched // configuration order
}

func (f *fleet) list() []*watched {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.set
}

func (f *fleet) replace(set []*watched) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.set = set
}

// checkers are the running checkers, in configuration order.
func (f *fleet) checkers() collector.Checkers {
	set := f.list()
	out := make(collector.Checkers, len(set))
	for i, w := range set {
		out[i] = w.checker
	}
	return out
}

// Snapshots implements collector.SnapshotSource over the current set.
func (f *fleet) Snapshots() []*collector.Snapshot { return f.checkers().Snapshots() }

// probeMetrics are the probe metrics of the current set, in configuration
// order.
func (f *fleet) probeMetrics() []*collector.ProbeMetrics {
	set := f.list()
	out := make([]*collector.ProbeMetrics, len(set))
	for i, w := range set {
		out[i] = w.probes
	}
	return out
}

// sources are the current set as the status model's sources.
func (f *fleet) sources() []status.Source { return status.Sources(f.checkers()) }

// configKey is what decides at a reload whether a cluster changed: every
// setting (the exported fields, as JSON: a field added to the config is
// compared without being listed here) and the contents of the files it
// names, so a rotated certificate or password under the same path restarts
// the cluster with it. The key holds digests, never a file's contents.
func configKey(c collector.ClusterConfig) []byte {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(c)
	if c.Conn != nil {
		for _, path := range []string{c.Conn.CAFile, c.Conn.CertFile, c.Conn.KeyFile, c.Conn.PasswordFile} {
			if path == "" {
				continue
			}
			data, err := os.ReadFile(path)
			if err != nil {
				// Unreadable now: unlike any content, so the cluster
				// restarts with what Load read a moment ago.
				b.WriteString(err.Error())
				continue
			}
			sum := sha256.Sum256(data)
			b.Write(sum[:])
		}
	}
	return b.Bytes()
}
