package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testetcd"
)

type fixture struct {
	cluster *localetcd.Cluster
	checker *collector.Checker
	api     *API
	srv     *httptest.Server
}

func newFixture(t *testing.T, opts Options) *fixture {
	return newFixtureProbing(t, opts, 200*time.Millisecond)
}

func newFixtureProbing(t *testing.T, opts Options, probeInterval time.Duration) *fixture {
	t.Helper()
	c := testetcd.Start(t, localetcd.Options{Members: 3, FastElections: true})
	conn := &etcdconn.Config{Endpoints: c.Endpoints(), RequestTimeout: time.Second, DialTimeout: time.Second}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	ch := collector.NewChecker(collector.ClusterConfig{
		Name: "main", Conn: conn, HealthCheckInterval: 300 * time.Millisecond,
		Probe: collector.ProbeConfig{Interval: probeInterval, Timeout: time.Second, Write: true},
	}, slog.New(slog.DiscardHandler), collector.WithProbeMetrics(collector.NewProbeMetrics()))
	ch.Start()
	t.Cleanup(ch.Close)
	opts.Checkers = append(collector.Checkers{ch}, opts.Checkers...)
	if opts.Alerts == nil {
		opts.Alerts = alerthistory.New(100, "etcd_cluster", slog.New(slog.DiscardHandler))
	}
	a := New(opts)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	f := &fixture{cluster: c, checker: ch, api: a, srv: srv}
	f.waitStatus(t, "healthy", func(s ClusterStatus) bool { return s.Healthy })
	return f
}

func (f *fixture) get(t *testing.T, path string, out any) int {
	t.Helper()
	resp, err := http.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: content type %q", path, ct)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return resp.StatusCode
}

func (f *fixture) waitStatus(t *testing.T, what string, cond func(ClusterStatus) bool) ClusterStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var s ClusterStatus
		f.get(t, "/api/v1/cluster/status?cluster=main", &s)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster status never %s: %+v", what, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestClusterStatusAndLeader(t *testing.T) {
	f := newFixture(t, Options{})
	// The seed's field names, exactly.
	var raw map[string]any
	if code := f.get(t, "/api/v1/cluster/status", &raw); code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, k := range []string{"healthy", "leader_id", "leader_id_hex", "member_count", "quorum_size", "has_leader",
		"leader_changes", "last_leader_change", "network_partition", "alarms", "last_check", "members"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("cluster/status lacks %q", k)
		}
	}
	members := raw["members"].([]any)
	for _, k := range []string{"name", "id", "endpoint", "up", "healthy", "leader", "learner", "db_size", "db_size_in_use",
		"raft_index", "raft_index_lag", "version"} {
		if _, ok := members[0].(map[string]any)[k]; !ok {
			t.Errorf("member lacks %q", k)
		}
	}
	var s ClusterStatus
	f.get(t, "/api/v1/cluster/status", &s)
	leader, err := f.cluster.Leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Healthy || s.MemberCount != 3 || s.QuorumSize != 2 || !s.HasLeader || s.LeaderID != leader.ID() ||
		s.LeaderIDHex != leader.IDHex() || s.NetworkPartition || len(s.Alarms) != 0 || s.LastCheck == nil || len(s.Members) != 3 {
		t.Errorf("healthy cluster status: %+v", s)
	}
	// A 64-bit ID survives as a JSON number when decoded exactly.
	dec := json.NewDecoder(strings.NewReader(mustGet(t, f.srv.URL+"/api/v1/cluster/status")))
	dec.UseNumber()
	var exact map[string]any
	_ = dec.Decode(&exact)
	if exact["leader_id"].(json.Number).String() != jsonUint(leader.ID()) {
		t.Errorf("leader_id %v, want %d", exact["leader_id"], leader.ID())
	}

	var lb leaderBody
	f.get(t, "/api/v1/cluster/leader", &lb)
	if lb.LeaderID != leader.ID() || lb.LeaderName != leader.Name || len(lb.History) != 0 {
		t.Errorf("leader before any change: %+v", lb)
	}

	// Leader change: the history grows, the old leader is down.
	if err := leader.Stop(); err != nil {
		t.Fatal(err)
	}
	s = f.waitStatus(t, "with a new leader", func(s ClusterStatus) bool { return s.HasLeader && s.LeaderID != leader.ID() })
	if s.Healthy || s.State != StateDegraded || s.LeaderChanges != 1 || s.LastLeaderChange == nil || s.FailureTolerance != 0 {
		t.Errorf("after the leader stopped: %+v", s)
	}
	for _, m := range s.Members {
		if m.Name == leader.Name && (m.Up || m.Healthy || m.Leader) {
			t.Errorf("stopped member: %+v", m)
		}
	}
	f.get(t, "/api/v1/cluster/leader", &lb)
	if len(lb.History) != 1 || lb.History[0].From != leader.ID() || lb.History[0].FromName != leader.Name || lb.History[0].To != s.LeaderID || lb.History[0].Term == 0 {
		t.Errorf("leader history: %+v", lb.History)
	}
}

func jsonUint(v uint64) string { b, _ := json.Marshal(v); return string(b) }

func mustGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestLatencyFollowsTheWindow(t *testing.T) {
	const window = 3 * time.Second
	f := newFixture(t, Options{LatencyWindow: window})
	p50 := func(member string) float64 {
		var b latencyBody
		f.get(t, "/api/v1/metrics/latency", &b)
		for _, l := range b.Latencies {
			if l.Member == member && l.Operation == collector.OpGet {
				return l.P50
			}
		}
		return -1
	}
	slow := f.cluster.Member(1)
	time.Sleep(window)
	base := p50(slow.Name)
	if base < 0 {
		t.Fatal("no latency for the member")
	}
	slow.DelayClient(50 * time.Millisecond)
	time.Sleep(window + 500*time.Millisecond)
	raised := p50(slow.Name)
	if raised-base < 50 {
		t.Errorf("p50 with 50 ms delay: %.1f ms, before %.1f ms", raised, base)
	}
	var cur currentBody
	f.get(t, "/api/v1/metrics/current", &cur)
	if cur.ReadLatencyP99 == nil || cur.WriteLatencyP50 == nil || cur.DBSize <= 0 || cur.DBSizeInUse <= 0 || cur.WindowSeconds != 3 {
		t.Errorf("metrics/current: %+v", cur)
	}
	slow.DelayClient(0)
	time.Sleep(window + 500*time.Millisecond)
	after := p50(slow.Name)
	t.Logf("p50 of %s: %.2f ms, with delay %.2f ms, after the window %.2f ms", slow.Name, base, raised, after)
	if after > base+25 {
		t.Errorf("p50 did not fall back after the window: %.1f ms", after)
	}
}

func TestRequestRateExcludesProbes(t *testing.T) {
	// Probes once a second: their own writes are taken out of the rate, and
	// the fewer there are the less that subtraction's edges matter.
	f := newFixtureProbing(t, Options{LatencyWindow: 3 * time.Second}, time.Second)
	time.Sleep(3 * time.Second)
	var cur currentBody
	f.get(t, "/api/v1/metrics/current", &cur)
	if cur.RequestRate == nil || *cur.RequestRate > 2 {
		t.Fatalf("idle cluster: request_rate %v, want about 0 (probe writes excluded)", cur.RequestRate)
	}
	cli, err := f.cluster.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop := time.Now().Add(3 * time.Second)
	n := 0
	for time.Now().Before(stop) {
		if _, err := cli.Put(ctx, "/load", "x"); err != nil {
			t.Fatal(err)
		}
		n++
	}
	time.Sleep(500 * time.Millisecond)
	f.get(t, "/api/v1/metrics/current", &cur)
	want := float64(n) / 3
	t.Logf("wrote %d keys in 3 s (%.0f/s); request_rate %.1f", n, want, *cur.RequestRate)
	if d := *cur.RequestRate - want; d < -max(want/2, 2) || d > max(want/2, 2) {
		t.Errorf("request_rate %.1f, want about %.0f", *cur.RequestRate, want)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	second := collector.NewChecker(collector.ClusterConfig{Name: "other", Conn: deadConn(t), HealthCheckInterval: time.Hour}, slog.New(slog.DiscardHandler))
	release := make(chan struct{})
	var once sync.Once
	f := newFixture(t, Options{
		Checkers: collector.Checkers{second},
		Benchmark: func(ctx context.Context, ch *collector.Checker, body []byte) (any, error) {
			if string(body) == "bad" {
				return nil, BadRequest("bad body")
			}
			<-release
			return map[string]string{"ok": "yes"}, nil
		},
	})
	defer once.Do(func() { close(release) })
	cases := []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/v1/cluster/status", "", 400},                         // two clusters, none named
		{"GET", "/api/v1/cluster/status?cluster=nope", "", 404},            // unknown cluster
		{"GET", "/api/v1/nothing", "", 404},                                // unknown endpoint
		{"POST", "/api/v1/cluster/status?cluster=main", "", 405},           // wrong method
		{"DELETE", "/api/v1/alerts", "", 405},                              // wrong method (the webhook's input: alerts_test.go)
		{"GET", "/api/v1/alerts/history?limit=0", "", 400},                 // bad limit
		{"GET", "/api/v1/cluster/leader?cluster=other", "", 503},           // not checked yet
		{"POST", "/api/v1/performance/benchmark?cluster=other", "", 503},   // no quorum
		{"POST", "/api/v1/performance/benchmark?cluster=main", "bad", 400}, // invalid body
		{"POST", "/api/v1/demo/members/m1/stop", "", 404},                  // not in demo mode
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, f.srv.URL+tc.path, strings.NewReader(tc.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e errorBody
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.status || err != nil || e.Error == "" || e.Status != tc.status {
			t.Errorf("%s %s: %d %+v (%v), want %d with a JSON error", tc.method, tc.path, resp.StatusCode, e, err, tc.status)
		}
	}

	// One benchmark at a time: the second gets 409 while the first runs.
	first := make(chan int, 1)
	go func() {
		resp, err := http.Post(f.srv.URL+"/api/v1/performance/benchmark?cluster=main", "application/json", strings.NewReader("{}"))
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	deadline := time.Now().Add(10 * time.Second)
	for running := false; !running; {
		f.api.benchMu.Lock()
		running = f.api.benching
		f.api.benchMu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("first benchmark never started")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Post(f.srv.URL+"/api/v1/performance/benchmark?cluster=main", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("second concurrent benchmark got %d, want 409", resp.StatusCode)
	}
	once.Do(func() { close(release) })
	if code := <-first; code != 200 {
		t.Errorf("first benchmark: %d", code)
	}
}

func deadConn(t *testing.T) *etcdconn.Config {
	t.Helper()
	c := &etcdconn.Config{Endpoints: []string{"http://127.0.0.1:1"}, RequestTimeout: 100 * time.Millisecond, DialTimeout: 100 * time.Millisecond}
	if err := c.Load(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestBenchmarkOffByDefault(t *testing.T) {
	a := New(Options{Checkers: collector.Checkers{}})
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/performance/benchmark", strings.NewReader("{}")))
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "--web.enable-benchmark-api") {
		t.Errorf("benchmark API without the flag: %d %s", rec.Code, rec.Body.String())
	}
	var re *RequestError
	if !errors.As(BadRequest("x"), &re) || re.Status != 400 {
		t.Error("BadRequest is not a 400 RequestError")
	}
}
