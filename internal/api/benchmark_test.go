package api

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/benchmark"
	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// The benchmark API against a real cluster through a real checker: a run
// that writes and reads, leaves nothing behind, and bad bodies refused.
func TestBenchmarkAPI(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 3, FastElections: true})
	conn := &etcdconn.Config{Endpoints: c.Endpoints(), RequestTimeout: 5 * time.Second, DialTimeout: 2 * time.Second}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	ch := collector.NewChecker(collector.ClusterConfig{Name: "bench", Conn: conn, HealthCheckInterval: 300 * time.Millisecond},
		slog.New(slog.DiscardHandler))
	ch.Start()
	t.Cleanup(ch.Close)
	deadline := time.Now().Add(30 * time.Second)
	for s := ch.Snapshot(); s == nil || !s.HasQuorum; s = ch.Snapshot() {
		if time.Now().After(deadline) {
			t.Fatal("cluster never had quorum")
		}
		time.Sleep(100 * time.Millisecond)
	}
	benchmarks := &Benchmarks{}
	h := New(Options{Clusters: []status.Source{ch}, Benchmarks: benchmarks})
	post := func(body string) (*httptest.ResponseRecorder, map[string]any) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/performance/benchmark", strings.NewReader(body)))
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: not JSON: %s", body, rec.Body.String())
		}
		return rec, out
	}
	rec, out := post(`{"workload":"mixed","total":600,"clients":8,"conns":2,"key_space_size":50}`)
	if rec.Code != 200 {
		t.Fatalf("benchmark: %d %v", rec.Code, out)
	}
	var rep benchmark.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Workload != "mixed" || rep.Summary.Requests != 600 || len(rep.Operations) != 2 || rep.Stop.Reason != benchmark.StopCompleted {
		t.Errorf("report: workload %s, %d requests, %d operation kinds, stop %+v", rep.Workload, rep.Summary.Requests, len(rep.Operations), rep.Stop)
	}
	// Nothing left behind under the benchmark prefix.
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := t.Context()
	if resp, err := cli.Get(ctx, benchmark.DefaultKeyPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count != 0 {
		t.Errorf("keys left under %s: %v %v", benchmark.DefaultKeyPrefix, resp, err)
	}

	for body, want := range map[string]string{
		`{"workload":"sideways"}`:                  "workload",
		`{"total":1000000}`:                        "total",
		`{"duration":"10m"}`:                       "duration",
		`{"duration":"soon"}`:                      "duration",
		`{"clients":5000,"conns":10}`:              "clients",
		`{"val_size":2000000000}`:                  "val_size",
		`{"key_size":100000000}`:                   "key_size",
		`{"clients":200,"val_size":1500000}`:       "clients",
		`{"total":10,"duration":"1s"}`:             "total",
		`{"colour":"blue"}`:                        "colour",
		`{"workload":"write"} {"workload":"read"}`: "more than one",
	} {
		rec, out := post(body)
		if rec.Code != 400 || !strings.Contains(out["error"].(string), want) {
			t.Errorf("%s: %d %v, want 400 naming %s", body, rec.Code, out, want)
		}
	}

	// One benchmark at a time: a second request while a timed run is under
	// way gets 409, and the first still completes.
	first := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/performance/benchmark", strings.NewReader(`{"duration":"3s","rate":50,"clients":1,"conns":1}`)))
		first <- rec.Code
	}()
	deadline = time.Now().Add(30 * time.Second)
	for !benchmarks.running() {
		if time.Now().After(deadline) {
			t.Fatal("the first benchmark never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rec, out := post(`{"total":10}`); rec.Code != http.StatusConflict {
		t.Errorf("second benchmark while one runs: %d %v, want 409", rec.Code, out)
	}
	if code := <-first; code != http.StatusOK {
		t.Errorf("first benchmark: %d", code)
	}
}
