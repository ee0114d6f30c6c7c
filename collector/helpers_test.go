package collector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testbin"
)

// backend is a way of running etcd for the integration tests: in-process
// (the etcd release in go.mod) or separate processes of an older binary.
type backend struct {
	name   string
	binary string
}

// backends returns the in-process backend, plus etcd 3.4 processes when
// ETCD_BIN points at such a binary. In CI the compatibility run is
// mandatory.
func backends(t *testing.T) []backend {
	bs := []backend{{name: "embedded"}}
	if bin := os.Getenv("ETCD_BIN"); bin != "" {
		bs = append(bs, backend{name: "etcd-bin", binary: bin})
	} else if testbin.InCI() {
		t.Fatal("ETCD_BIN is not set and CI=true: .ci/run must install Debian's etcd-server and export ETCD_BIN=/usr/bin/etcd")
	}
	return bs
}

// forEachBackend runs f once per backend as a subtest.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

func startCluster(t *testing.T, b backend, opts localetcd.Options) *localetcd.Cluster {
	t.Helper()
	opts.Binary = b.binary
	opts.FastElections = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := localetcd.Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting etcd: %v", err)
	}
	t.Cleanup(c.Close)
	return c
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

// metricValue returns the value of the series with exactly these labels.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
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
			if g := m.GetGauge(); g != nil {
				return g.GetValue(), true
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
		}
	}
	return 0, false
}

var _ = testutil.CollectAndCompare

type slogLogger = slog.Logger

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
