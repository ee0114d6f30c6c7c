package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/httpget"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

// serve starts the API over real HTTP on loopback in front of the given
// clusters, with an alert history.
func serve(t *testing.T, opts Options, clusters ...status.Source) (*API, *httptest.Server) {
	t.Helper()
	opts.Clusters = clusters
	if opts.Alerts == nil {
		opts.Alerts = alerthistory.New(100, "etcd_cluster", slog.New(slog.DiscardHandler))
	}
	a := New(opts)
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	return a, srv
}

// get GETs an API answer, which is always JSON, into out.
func get(t *testing.T, url string, out any) int {
	t.Helper()
	r := httpget.Get(t, url)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: content type %q", url, ct)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return r.Status
}

func TestClusterStatusAndLeader(t *testing.T) {
	now := time.Now().Add(-time.Second).UTC().Truncate(time.Millisecond)
	src := statustest.New("main").Set(statustest.Healthy("main", now))
	_, srv := serve(t, Options{}, src)
	// The field names of the original etcd-monitor guide's API, exactly.
	var raw map[string]any
	if code := get(t, srv.URL+"/api/v1/cluster/status", &raw); code != 200 {
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
	var s status.ClusterStatus
	get(t, srv.URL+"/api/v1/cluster/status", &s)
	if !s.Healthy || s.State != status.StateHealthy || s.MemberCount != 3 || s.QuorumSize != 2 || !s.HasLeader || s.LeaderID != statustest.ID1 ||
		s.LeaderIDHex != "8e9e05c52164694d" || s.NetworkPartition || len(s.Alarms) != 0 || s.LastCheck == nil || !s.LastCheck.Equal(now) || len(s.Members) != 3 {
		t.Errorf("healthy cluster status: %+v", s)
	}
	// A 64-bit ID survives as a JSON number when decoded exactly: it is
	// above 2^53, where float64 would round it.
	dec := json.NewDecoder(strings.NewReader(httpget.Body(t, srv.URL+"/api/v1/cluster/status")))
	dec.UseNumber()
	var exact map[string]any
	_ = dec.Decode(&exact)
	if exact["leader_id"].(json.Number).String() != "10276657743932975437" {
		t.Errorf("leader_id %v, want %d", exact["leader_id"], statustest.ID1)
	}

	var lb leaderBody
	get(t, srv.URL+"/api/v1/cluster/leader", &lb)
	if lb.LeaderID != statustest.ID1 || lb.LeaderName != "m1" || lb.LeaderIDHex != "8e9e05c52164694d" || len(lb.History) != 0 {
		t.Errorf("leader before any change: %+v", lb)
	}

	// The leader stops and m2 takes over: the history grows, the old
	// leader is down.
	changed := now.Add(time.Second)
	src.Set(statustest.Down(statustest.NewLeader(statustest.Healthy("main", changed), "m2", 3, changed), "m1", "connection refused"))
	get(t, srv.URL+"/api/v1/cluster/status", &s)
	if s.Healthy || s.State != status.StateDegraded || s.LeaderChanges != 1 || s.LastLeaderChange == nil || s.FailureTolerance != 0 ||
		s.LeaderName != "m2" || !slices.Contains(s.Problems, "member m1 is down") {
		t.Errorf("after the leader stopped: %+v", s)
	}
	if m := s.Members[0]; m.Name != "m1" || m.Up || m.Healthy || m.Leader || m.Error != "connection refused" {
		t.Errorf("stopped member: %+v", m)
	}
	get(t, srv.URL+"/api/v1/cluster/leader", &lb)
	if len(lb.History) != 1 || lb.History[0].From != statustest.ID1 || lb.History[0].FromName != "m1" || lb.History[0].FromHex != "8e9e05c52164694d" ||
		lb.History[0].To != statustest.ID2 || lb.History[0].ToName != "m2" || lb.History[0].Term != 3 || !lb.History[0].Time.Equal(changed) {
		t.Errorf("leader history: %+v", lb.History)
	}
}

// The latency endpoints ask for the configured window and report its
// figures in milliseconds; metrics/current reads the leader's backend.
func TestLatencyAndCurrent(t *testing.T) {
	snap := statustest.Healthy("main", time.Now())
	snap.Members[0].DBSize, snap.Members[0].DBSizeInUse = 30<<20, 20<<20 // the leader
	snap.Members[1].DBSize = 40 << 20                                    // larger, but a follower
	src := statustest.New("main").Set(snap).SetWriteRate(12.5, true).SetLatency(
		statustest.Latency("m1", collector.OpGet, 60, 3*time.Millisecond),
		statustest.Latency("m1", collector.OpPut, 60, 9*time.Millisecond),
		statustest.Latency("m2", collector.OpGet, 60, 1500*time.Microsecond),
	)
	_, srv := serve(t, Options{LatencyWindow: 3 * time.Second}, src)
	var lb latencyBody
	get(t, srv.URL+"/api/v1/metrics/latency", &lb)
	if lb.WindowSeconds != 3 || lb.Unit != "ms" || lb.Cluster != "main" || len(lb.Latencies) != 3 {
		t.Fatalf("latency: %+v", lb)
	}
	if l := lb.Latencies[1]; l.Member != "m1" || l.Operation != collector.OpPut || l.Count != 60 || l.P99 != 9 || l.P95 != 6 || l.P50 != 3 {
		t.Errorf("m1 put: %+v", l)
	}
	var cur currentBody
	get(t, srv.URL+"/api/v1/metrics/current", &cur)
	if cur.WindowSeconds != 3 || cur.RequestRate == nil || *cur.RequestRate != 12.5 || cur.ReadLatencyP99 == nil || *cur.ReadLatencyP99 != 3 ||
		cur.WriteLatencyP99 == nil || *cur.WriteLatencyP99 != 9 || cur.DBSize != 30<<20 || cur.DBSizeInUse != 20<<20 {
		t.Errorf("metrics/current: %+v", cur)
	}
	for _, w := range src.Windows() {
		if w != 3*time.Second && w != status.LatencyWindow {
			t.Errorf("figures asked over %s, want the configured 3s (or the status view's 5m)", w)
		}
	}
	if !slices.Contains(src.Windows(), 3*time.Second) {
		t.Error("the configured window never reached the source")
	}

	// Nothing known yet: nulls, not zeros.
	src.SetWriteRate(0, false).SetLatency()
	raw := httpget.Body(t, srv.URL+"/api/v1/metrics/current")
	for _, k := range []string{`"request_rate": null`, `"read_latency_p99": null`, `"write_latency_p50": null`} {
		if !strings.Contains(raw, k) {
			t.Errorf("metrics/current without figures lacks %s: %s", k, raw)
		}
	}
}

func TestHealthFreshness(t *testing.T) {
	fresh := statustest.New("fresh").Set(statustest.Healthy("fresh", time.Now()))
	stale := statustest.New("stale").Set(statustest.Healthy("stale", time.Now().Add(-time.Minute)))
	_, srv := serve(t, Options{}, fresh, stale, statustest.New("new"))
	var h healthBody
	if code := get(t, srv.URL+"/health", &h); code != 200 {
		t.Fatalf("/health: %d", code)
	}
	if h.Status != "ok" || h.Fresh || len(h.Clusters) != 3 {
		t.Fatalf("/health: %+v", h)
	}
	// A check older than three intervals (and 30 s) is stale.
	for i, want := range []healthCluster{{Name: "fresh", Fresh: true, State: "healthy"}, {Name: "stale", State: "healthy"}, {Name: "new", State: "unknown"}} {
		got := h.Clusters[i]
		if got.Name != want.Name || got.Fresh != want.Fresh || got.State != want.State || (got.LastCheck == nil) != (want.Name == "new") {
			t.Errorf("cluster %d: %+v, want %+v", i, got, want)
		}
	}
}

func TestErrorsAreJSON(t *testing.T) {
	main := statustest.New("main").Set(statustest.Healthy("main", time.Now()))
	other := statustest.New("other") // never checked
	_, srv := serve(t, Options{Benchmarks: &Benchmarks{}}, main, other)
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
		{"POST", "/api/v1/performance/benchmark?cluster=main", "bad", 400}, // invalid body (benchmark_test.go; a real run: cmd/etcd-monitor)
		{"POST", "/api/v1/demo/members/m1/stop", "", 404},                  // not in demo mode
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
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

}

func TestBenchmarkOffByDefault(t *testing.T) {
	a := New(Options{})
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
