package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// clusterFile is one cluster's config file, as an operator writes it: all
// clusters point at the same real etcd, under names (and probe prefixes)
// of their own.
func clusterFile(t *testing.T, dir, name string, endpoints []string, interval string) {
	t.Helper()
	body := fmt.Sprintf("clusters:\n  - name: %s\n    endpoints: [%s]\n    health_check_interval: %s\n    probe:\n      interval: 100ms\n      key_prefix: /etcd-monitor-test/%s/\n",
		name, strings.Join(endpoints, ", "), interval, name)
	if err := os.WriteFile(filepath.Join(dir, name+".yml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, h http.Handler, url string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if v != nil && rec.Code == 200 {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, rec.Body.String())
		}
	}
	return rec.Code
}

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

func names(cs collector.Checkers) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name())
	}
	return out
}

func byName(cs collector.Checkers, name string) *collector.Checker {
	for _, c := range cs {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// kept is what must survive a reload for a cluster that did not change.
type kept struct {
	checker       *collector.Checker
	leaderChanges uint64
	history       int
	probes        int // requests in the latency window
	trend         int // samples of the status page's charts
}

func keptState(t *testing.T, m *Monitor, h http.Handler, name string) kept {
	t.Helper()
	var leader struct {
		LeaderChanges uint64 `json:"leader_changes"`
		History       []any  `json:"history"`
	}
	if code := get(t, h, "/api/v1/cluster/leader?cluster="+name, &leader); code != 200 {
		t.Fatalf("leader of %s: %d", name, code)
	}
	var lat struct {
		Latencies []struct {
			Count int `json:"count"`
		} `json:"latencies"`
	}
	if code := get(t, h, "/api/v1/metrics/latency?cluster="+name, &lat); code != 200 {
		t.Fatalf("latency of %s: %d", name, code)
	}
	tr, _ := m.Trends.Trend(name, time.Now())
	k := kept{checker: byName(m.Checkers(), name), leaderChanges: leader.LeaderChanges, history: len(leader.History), trend: len(tr.Samples)}
	for _, l := range lat.Latencies {
		k.probes += l.Count
	}
	return k
}

func (k kept) survived(t *testing.T, after kept, step string) {
	t.Helper()
	if after.checker != k.checker {
		t.Errorf("%s: the unchanged cluster got a new checker", step)
	}
	if after.leaderChanges < k.leaderChanges || after.history < k.history {
		t.Errorf("%s: leader history lost: %d changes, %d entries before; %d, %d after", step, k.leaderChanges, k.history, after.leaderChanges, after.history)
	}
	if after.probes < k.probes {
		t.Errorf("%s: probe window reset: %d requests before, %d after", step, k.probes, after.probes)
	}
	if after.trend < k.trend {
		t.Errorf("%s: trend samples lost: %d before, %d after", step, k.trend, after.trend)
	}
}

// TestReload adds, changes and removes clusters through POST /-/reload and
// through a file change in a config directory, against a real 3-member
// etcd whose leader was moved: the unchanged cluster keeps its checker,
// leader history and probe window; a bad file changes nothing, answers 500
// and sets etcd_monitor_config_last_reload_successful to 0. (SIGHUP to the
// real binary: cmd/etcd-monitor TestSIGHUPReload.)
func TestReload(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 3, FastElections: true})
	eps := c.Endpoints()
	dir := t.TempDir()
	for _, n := range []string{"keep", "change", "remove"} {
		clusterFile(t, dir, n, eps, "200ms")
	}
	src := &ConfigSource{
		Load: func() ([]collector.ClusterConfig, error) {
			return clusterconfig.LoadPath(dir, clusterconfig.Defaults{})
		},
		Fingerprint: func() (string, error) { return clusterconfig.Fingerprint(dir) },
	}
	initial, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	m := New(Options{Clusters: initial, Config: src, Lifecycle: true}, slog.New(slog.DiscardHandler))
	m.Start()
	t.Cleanup(m.Close)
	h, err := m.Handler()
	if err != nil {
		t.Fatal(err)
	}

	// A leader change, so that "keep" has a history a new checker would
	// not have.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	waitfor.Until(t, 30*time.Second, "keep to see a leader", func() bool {
		s := byName(m.Checkers(), "keep").Snapshot()
		return s != nil && s.HasLeader && s.HealthyVoting == 3
	})
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := c.ClientFor(leader.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var to uint64
	for _, mb := range c.Members() {
		if mb != leader {
			to = mb.ID()
			break
		}
	}
	if _, err := cli.MoveLeader(ctx, to); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 30*time.Second, "keep to record the leader change and probe", func() bool {
		k := keptState(t, m, h, "keep")
		return k.leaderChanges >= 1 && k.probes > 0
	})
	// A trend sample now (the recorder's own tick is 5 s): a cluster that
	// restarted would have none.
	m.Trends.Record(time.Now())
	before := keptState(t, m, h, "keep")
	if before.trend == 0 {
		t.Fatal("no trend sample recorded for keep")
	}
	oldChange := byName(m.Checkers(), "change")

	// 1. POST /-/reload: one added, one changed, one removed.
	clusterFile(t, dir, "add", eps, "200ms")
	clusterFile(t, dir, "change", eps, "300ms")
	if err := os.Remove(filepath.Join(dir, "remove.yml")); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	var got struct {
		Added, Changed, Removed []string
		Unchanged               int
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != 200 || err != nil {
		t.Fatalf("POST /-/reload: %d %s", rec.Code, rec.Body.String())
	}
	if !slices.Equal(got.Added, []string{"add"}) || !slices.Equal(got.Changed, []string{"change"}) || !slices.Equal(got.Removed, []string{"remove"}) || got.Unchanged != 1 {
		t.Errorf("POST /-/reload answered %+v", got)
	}
	if n := names(m.Checkers()); !slices.Equal(n, []string{"add", "change", "keep"}) {
		t.Errorf("watched after the reload: %v", n)
	}
	if nc := byName(m.Checkers(), "change"); nc == oldChange || nc.Config().HealthCheckInterval != 300*time.Millisecond {
		t.Errorf("the changed cluster was not restarted with its new settings")
	}
	before.survived(t, keptState(t, m, h, "keep"), "POST /-/reload")
	waitfor.Until(t, 30*time.Second, "the added cluster to be checked and probed", func() bool {
		body := scrape(t, h)
		return strings.Contains(body, `etcd_monitor_cluster_has_quorum{etcd_cluster="add"} 1`) &&
			strings.Contains(body, `etcd_monitor_probe_success{endpoint=`) && strings.Contains(body, `etcd_cluster="add"`)
	})
	if body := scrape(t, h); strings.Contains(body, `etcd_cluster="remove"`) {
		t.Errorf("the removed cluster still has series")
	}
	if code := get(t, h, "/api/v1/cluster/status?cluster=remove", nil); code != http.StatusNotFound {
		t.Errorf("the removed cluster in the API: %d, want 404", code)
	}

	// 2. A file change, noticed by the watcher: "change" removed, "add"
	// changed.
	src.WatchInterval = 50 * time.Millisecond
	wctx, wcancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); m.watch(wctx) }()
	defer func() { wcancel(); <-done }()
	oldAdd := byName(m.Checkers(), "add")
	before = keptState(t, m, h, "keep")
	if err := os.Remove(filepath.Join(dir, "change.yml")); err != nil {
		t.Fatal(err)
	}
	clusterFile(t, dir, "add", eps, "250ms")
	waitfor.Until(t, 30*time.Second, "the watcher to apply the change", func() bool {
		cs := m.Checkers()
		a := byName(cs, "add")
		return slices.Equal(names(cs), []string{"add", "keep"}) && a != oldAdd && a.Config().HealthCheckInterval == 250*time.Millisecond
	})
	before.survived(t, keptState(t, m, h, "keep"), "file change")

	// 3. A bad file (and a duplicate name across files) changes nothing.
	set := m.Checkers()
	if err := os.WriteFile(filepath.Join(dir, "broken.yml"), []byte("clusters:\n  - name: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 30*time.Second, "the watcher to report the bad file", func() bool {
		return strings.Contains(scrape(t, h), "\netcd_monitor_config_last_reload_successful 0\n")
	})
	for _, bad := range []string{"broken.yml", "dup.yml"} {
		if bad == "dup.yml" {
			_ = os.Remove(filepath.Join(dir, "broken.yml"))
			if err := os.WriteFile(filepath.Join(dir, "dup.yml"), []byte("clusters:\n  - name: keep\n    endpoints: [127.0.0.1:1]\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
		var e struct{ Error string }
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != 500 || !strings.Contains(e.Error, bad) || strings.Contains(e.Error, "\n") {
			t.Errorf("POST /-/reload with %s: %d %q, want 500 with one line naming the file", bad, rec.Code, rec.Body.String())
		}
		if now := m.Checkers(); !slices.Equal(now, set) {
			t.Errorf("%s changed the watched set: %v", bad, names(now))
		}
		if !strings.Contains(scrape(t, h), "\netcd_monitor_config_last_reload_successful 0\n") {
			t.Errorf("%s: last reload not reported as failed", bad)
		}
	}
	before.survived(t, keptState(t, m, h, "keep"), "bad files")
	_ = os.Remove(filepath.Join(dir, "dup.yml"))
	waitfor.Until(t, 30*time.Second, "a good reload after the fix", func() bool {
		return strings.Contains(scrape(t, h), "\netcd_monitor_config_last_reload_successful 1\n")
	})
	if now := m.Checkers(); !slices.Equal(now, set) {
		t.Errorf("reloading the same clusters restarted some: %v", names(now))
	}

	// The lifecycle endpoint: POST only, and only when enabled.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/-/reload", nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET /-/reload: %d, want 405 with Allow: POST", rec.Code)
	}
	m.opts.Lifecycle = false
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/-/reload", nil))
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "--web.enable-lifecycle") {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: %d %s, want 403", rec.Code, rec.Body.String())
	}
}
