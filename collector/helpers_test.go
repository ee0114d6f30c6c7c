package collector

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// Parallel tests: those that wait on a cluster of their own with generous
// deadlines call t.Parallel, so that their waits (elections, check
// intervals, restarts) overlap, at most -parallel (GOMAXPROCS) at a time.
// Go runs them after every sequential test has finished, so these stay
// alone in the package: tests that measure latency or count requests
// (TestStopLeader's 2.5 s limit, TestHungMemberDoesNotStallOthers,
// TestHungLeaseGrantDoesNotFailHealthyMembers, TestLoadOnEtcdAtDefaults),
// that watch every snapshot for a false report under churn
// (TestElectionIsNotQuorumLoss, TestResumedLeaderIsNotPartitioned), that
// count dials to a freed port (TestRemovedMemberIsNotDialed) or look for
// leaked goroutines (TestCheckerCloseLeaksNothing).

// startCluster starts a cluster of backend b with fast elections, closed
// at the end of the test.
func startCluster(t *testing.T, b testetcd.Backend, opts localetcd.Options) *localetcd.Cluster {
	t.Helper()
	opts.Binary = b.Binary
	opts.FastElections = true
	return testetcd.Start(t, opts)
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testWriter sends log lines to t.Log, so they show only for failed tests.
type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

const (
	testInterval       = 500 * time.Millisecond
	testRequestTimeout = time.Second
	testDialTimeout    = time.Second
)

func connFor(t *testing.T, endpoints []string) *etcdconn.Config {
	t.Helper()
	conn := &etcdconn.Config{Endpoints: endpoints, RequestTimeout: testRequestTimeout, DialTimeout: testDialTimeout}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	return conn
}

// startChecker starts a background checker on the cluster, closed at the
// end of the test.
func startChecker(t *testing.T, c *localetcd.Cluster, name string) *Checker {
	t.Helper()
	ch := NewChecker(ClusterConfig{Name: name, Conn: connFor(t, c.Endpoints()), HealthCheckInterval: testInterval}, testLogger(t))
	ch.Start()
	t.Cleanup(ch.Close)
	return ch
}

// waitFor polls the checker's snapshots until cond holds, and returns the
// snapshot that satisfied it.
func waitFor(t *testing.T, ch *Checker, timeout time.Duration, what string, cond func(*Snapshot) bool) *Snapshot {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *Snapshot
	for time.Now().Before(deadline) {
		if s := ch.Snapshot(); s != nil {
			last = s
			if cond(s) {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("after %s: %s did not happen; last snapshot:\n%s", timeout, what, describe(last))
	return nil
}

func describe(s *Snapshot) string {
	if s == nil {
		return "<none>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "members=%d healthy=%d quorum=%v leader=%v(%x) tolerance=%d split=%v changes=%d\n",
		s.VotingMembers, s.HealthyVoting, s.HasQuorum, s.HasLeader, s.LeaderID, s.FailureTolerance, s.SplitBrain, s.LeaderChanges)
	for _, m := range s.Members {
		fmt.Fprintf(&b, "  %s id=%x ep=%s up=%v healthy=%v learner=%v leader=%x term=%d idx=%d part=%v alarms=%v err=%s\n",
			m.Label(), m.ID, m.Endpoint, m.Up, m.Healthy, m.Learner, m.Leader, m.RaftTerm, m.RaftIndex, m.Partitioned, m.Alarms, m.Err)
	}
	return b.String()
}

func member(s *Snapshot, name string) *MemberState {
	for i := range s.Members {
		if s.Members[i].Name == name {
			return &s.Members[i]
		}
	}
	return nil
}

// registry exposes the given checkers the way `serve` does.
func registry(chs ...*Checker) *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewClusterCollector(Checkers(chs)))
	return reg
}

// matching returns the series of name whose labels include labels.
func matching(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) []*dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// metricValue returns the value of the first series of name with these
// labels (a gauge or a counter).
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	for _, m := range matching(t, reg, name, labels) {
		if g := m.GetGauge(); g != nil {
			return g.GetValue(), true
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
	}
	return 0, false
}

// counterSum sums the series of name matching labels.
func counterSum(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	var sum float64
	for _, m := range matching(t, g, name, labels) {
		sum += m.GetCounter().GetValue()
	}
	return sum
}

var _ = testutil.CollectAndCompare

type slogLogger = slog.Logger

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
