// Package statustest builds clusters by hand for the tests of the views that
// render the status model (API, status page, `check`): a Source with a fixed
// snapshot and fixed probe figures, and snapshots of typical clusters, in
// the spirit of node_exporter's fixtures. Checking real clusters is tested
// in collector and e2e, and the built binary's commands against them in
// cmd/etcd-monitor; rendering does not need etcd running.
package statustest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
)

// Source is a status.Source whose figures a test sets. It is safe for
// concurrent use: tests change it while handlers read it.
type Source struct {
	mu      sync.Mutex
	name    string
	cfg     collector.ClusterConfig
	snap    *collector.Snapshot
	latency []collector.LatencySummary
	rate    float64
	rateOK  bool
	windows []time.Duration
}

// New returns a source named name with a 10 s check interval and no
// snapshot yet (a cluster whose first round has not finished).
func New(name string) *Source {
	return &Source{name: name, cfg: collector.ClusterConfig{Name: name, HealthCheckInterval: 10 * time.Second}}
}

// Set publishes a snapshot, as a finished check round does.
func (s *Source) Set(snap *collector.Snapshot) *Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snap = snap
	return s
}

// SetLatency sets the probe summaries per member and operation.
func (s *Source) SetLatency(l ...collector.LatencySummary) *Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = l
	return s
}

// SetWriteRate sets the write rate; ok false means not known yet.
func (s *Source) SetWriteRate(rate float64, ok bool) *Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rate, s.rateOK = rate, ok
	return s
}

// SetConfig replaces the cluster's configuration (its name stays).
func (s *Source) SetConfig(cfg collector.ClusterConfig) *Source {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg.Name = s.name
	s.cfg = cfg
	return s
}

// Windows lists the windows the latency and rate figures were asked for,
// so a test can tell that a setting reached the source.
func (s *Source) Windows() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.windows...)
}

// Name implements status.Source.
func (s *Source) Name() string { return s.name }

// Config implements status.Source.
func (s *Source) Config() collector.ClusterConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// Snapshot implements status.Source.
func (s *Source) Snapshot() *collector.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

// RecentLatency implements status.Source: the summaries as set.
func (s *Source) RecentLatency(window time.Duration) []collector.LatencySummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = append(s.windows, window)
	return append([]collector.LatencySummary(nil), s.latency...)
}

// RecentLatencyByOperation implements status.Source: per operation, the
// worst of the members' figures and the sum of their counts (the real
// checker merges the samples; the worst member bounds that from above).
func (s *Source) RecentLatencyByOperation(window time.Duration) []collector.LatencySummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = append(s.windows, window)
	var out []collector.LatencySummary
	idx := map[string]int{}
	for _, l := range s.latency {
		i, ok := idx[l.Operation]
		if !ok {
			idx[l.Operation] = len(out)
			out = append(out, collector.LatencySummary{Operation: l.Operation})
			i = len(out) - 1
		}
		o := &out[i]
		o.Count += l.Count
		o.P50, o.P95, o.P99 = max(o.P50, l.P50), max(o.P95, l.P95), max(o.P99, l.P99)
	}
	return out
}

// WriteRate implements status.Source.
func (s *Source) WriteRate(window time.Duration) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = append(s.windows, window)
	return s.rate, s.rateOK
}

// Member IDs of the hand-built clusters: m1, m2, m3 in order.
const (
	ID1 uint64 = 0x8e9e05c52164694d
	ID2 uint64 = 0x91bc3c398fb3c146
	ID3 uint64 = 0xfd422379fda50e48
)

// ClusterID of the hand-built clusters.
const ClusterID uint64 = 0xcdf818194e3a8c32

// Healthy is a snapshot of a healthy 3-member etcd 3.5 cluster taken at
// at: m1 leads, every member answers, 12 MiB of the default 2 GiB quota.
func Healthy(cluster string, at time.Time) *collector.Snapshot {
	s := &collector.Snapshot{
		Cluster: cluster, Time: at, Duration: 4 * time.Millisecond, Success: true,
		ClusterID: ClusterID, Version: "3.5.0",
		VotingMembers: 3, HealthyVoting: 3, QuorumSize: 2, FailureTolerance: 1,
		HasQuorum: true, HasLeader: true, LeaderID: ID1, RaftTerm: 2, Revision: 1042,
	}
	for i, id := range []uint64{ID1, ID2, ID3} {
		n := i + 1
		s.Members = append(s.Members, collector.MemberState{
			ID: id, Name: fmt.Sprintf("m%d", n), Endpoint: fmt.Sprintf("http://127.0.0.1:%d", 2379+10*i),
			PeerURLs: []string{fmt.Sprintf("http://127.0.0.1:%d", 2380+10*i)}, ClientURLs: []string{fmt.Sprintf("http://127.0.0.1:%d", 2379+10*i)},
			Up: true, Healthy: true, LastSeen: at, Version: "3.5.0",
			DBSize: 12 << 20, DBSizeInUse: 9 << 20, DBQuota: collector.DefaultQuotaBackendBytes,
			RaftTerm: 2, RaftIndex: 2100, RaftAppliedIndex: 2100, Leader: ID1, Revision: 1042,
			IsLeader: id == ID1,
		})
	}
	return s
}

// Down marks member name down since at, as a round that got no Status
// answer from it sees it, and redoes the quorum arithmetic.
func Down(s *collector.Snapshot, name, why string) *collector.Snapshot {
	for i := range s.Members {
		m := &s.Members[i]
		if m.Name != name {
			continue
		}
		*m = collector.MemberState{
			ID: m.ID, Name: m.Name, Endpoint: m.Endpoint, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs,
			Learner: m.Learner, LastSeen: m.LastSeen, Err: why,
		}
	}
	s.HealthyVoting = 0
	for _, m := range s.Members {
		if m.Healthy && !m.Learner {
			s.HealthyVoting++
		}
	}
	s.HasQuorum = s.HealthyVoting >= s.QuorumSize
	s.FailureTolerance = max(s.HealthyVoting-s.QuorumSize, 0)
	if l := s.Leader(); l == nil || !l.Up {
		s.HasLeader, s.LeaderID = false, 0
	}
	return s
}

// NewLeader makes member name the leader at term, recording the change
// from the current leader in the history the way the checker does. (To
// show the old leader down as well, call Down after it.)
func NewLeader(s *collector.Snapshot, name string, term uint64, at time.Time) *collector.Snapshot {
	var from uint64
	var fromName string
	if l := s.Leader(); l != nil {
		from, fromName = l.ID, l.Name
	}
	for i := range s.Members {
		m := &s.Members[i]
		m.IsLeader = m.Name == name
		if m.Up {
			m.RaftTerm = term
		}
		if m.IsLeader {
			s.LeaderID = m.ID
			s.LeaderHistory = append(s.LeaderHistory, collector.LeaderChange{Time: at, From: from, FromName: fromName, To: m.ID, ToName: m.Name, Term: term})
		}
	}
	s.HasLeader, s.RaftTerm = true, term
	s.LeaderChanges++
	s.LastLeaderChange = at
	return s
}

// Latency is a summary of count probes of one member and operation with
// the given p99 (p50 and p95 a little lower).
func Latency(member, op string, count int, p99 time.Duration) collector.LatencySummary {
	return collector.LatencySummary{Member: member, Operation: op, Count: count, P50: p99 / 3, P95: p99 * 2 / 3, P99: p99}
}

// Unreachable is what a round that reached no member publishes: every
// member down with why, no quorum, no leader.
func Unreachable(s *collector.Snapshot, why string) *collector.Snapshot {
	for _, m := range s.Members {
		Down(s, m.Name, why)
	}
	s.Success = false
	return s
}

// FleetName is the name of the i-th cluster of Fleet: tenant-0000, …
func FleetName(i int) string { return fmt.Sprintf("tenant-%04d", i) }

// Fleet is n hand-built 3-member clusters named FleetName(0…n-1), checked
// at at, in a mix an operator of hosted control planes might see: every
// 100th never checked (i%100 == 99), every 50th unreachable (i%50 == 7),
// every 20th with member m3 down (i%20 == 3), the rest healthy. Of 1,000:
// 920 healthy, 50 degraded, 20 unavailable, 10 unknown. FleetState tells
// which is which.
func Fleet(n int, at time.Time) []*Source {
	out := make([]*Source, n)
	for i := range out {
		name := FleetName(i)
		src := New(name)
		switch FleetState(i) {
		case "unknown":
		case "unavailable":
			src.Set(Unreachable(Healthy(name, at), "context deadline exceeded"))
		case "degraded":
			src.Set(Down(Healthy(name, at), "m3", "dial tcp 127.0.0.1:2399: connect: connection refused"))
		default:
			src.Set(Healthy(name, at))
		}
		out[i] = src
	}
	return out
}

// FleetSources is Fleet as the sources the views take.
func FleetSources(n int, at time.Time) []status.Source {
	var out []status.Source
	for _, s := range Fleet(n, at) {
		out = append(out, s)
	}
	return out
}

// FleetState is the state the status model should judge the i-th cluster
// of Fleet to be in.
func FleetState(i int) string {
	switch {
	case i%100 == 99:
		return "unknown"
	case i%50 == 7:
		return "unavailable"
	case i%20 == 3:
		return "degraded"
	}
	return "healthy"
}

// BenchmarkServe GETs path from h b.N times, failing on anything but 200,
// and reports the size of the last answer as unit (e.g. "bytes/page"): the
// views' benchmarks over FleetSources.
func BenchmarkServe(b *testing.B, h http.Handler, path, unit string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET %s: %d", path, rec.Code)
		}
		n = rec.Body.Len()
	}
	b.ReportMetric(float64(n), unit)
}
