package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/benchmark"
)

func TestBenchmarkAPI(t *testing.T) {
	m, _, c := startMonitorOn(t, 3)
	m.opts.Benchmark = runBenchmark
	m.Apply(m.opts.Clusters) // the same clusters: the API is rebuilt with the benchmark on
	h, err := m.Handler()
	if err != nil {
		t.Fatal(err)
	}
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
		`{"total":10,"duration":"1s"}`:             "total",
		`{"colour":"blue"}`:                        "colour",
		`{"workload":"write"} {"workload":"read"}`: "more than one",
	} {
		rec, out := post(body)
		if rec.Code != 400 || !strings.Contains(out["error"].(string), want) {
			t.Errorf("%s: %d %v, want 400 naming %s", body, rec.Code, out, want)
		}
	}
}
