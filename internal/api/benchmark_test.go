package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

// What the benchmark API refuses before a run starts, and why: a body it
// cannot run (400, naming the field), a body too large (413), a cluster
// without quorum (503) and a second run (409). Each is decided before any
// request reaches etcd, so hand-built clusters do; a real run through the
// built binary is tested in cmd/etcd-monitor.
func TestBenchmarkRefusals(t *testing.T) {
	now := time.Now()
	main := statustest.New("main").Set(statustest.Healthy("main", now))
	down := statustest.New("down").Set(statustest.Unreachable(statustest.Healthy("down", now), "context deadline exceeded"))
	benchmarks := &Benchmarks{}
	_, srv := serve(t, Options{Benchmarks: benchmarks}, main, down)
	post := func(cluster, body string) (int, errorBody) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/api/v1/performance/benchmark?cluster="+cluster, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e errorBody
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
			t.Fatalf("%.40s: answer is not JSON: %v", body, err)
		}
		return resp.StatusCode, e
	}

	// Each refused body also gives the one-at-a-time guard back: were it
	// kept, the next case would get 409.
	for body, want := range map[string]string{
		`{"workload":"sideways"}`:            "workload",
		`{"total":1000000}`:                  "total",
		`{"duration":"10m"}`:                 "duration",
		`{"duration":"soon"}`:                "duration",
		`{"clients":5000,"conns":10}`:        "clients",
		`{"val_size":2000000000}`:            "val_size",
		`{"key_size":100000000}`:             "key_size",
		`{"clients":200,"val_size":1500000}`: "clients",
		// Within the command's bound, beyond the API's (170 such clients
		// took serve to 1.1 GB of RSS). A 600 KB value is sent in a 1 MiB
		// gRPC buffer, so 33 such clients hold 33 MiB.
		`{"clients":40,"val_size":1572000,"total":1500}`: "at most 32 MiB",
		`{"clients":33,"val_size":600000}`:               "33 clients with requests of",
		`{"total":10,"duration":"1s"}`:                   "total",
		`{"colour":"blue"}`:                              "colour",
		`{"workload":"write"} {"workload":"read"}`:       "more than one",
		`bad`: "body",
		// 64 KiB exactly is read whole, and judged as JSON.
		`{"colour":"blue"}` + strings.Repeat(" ", maxBenchmarkBody-len(`{"colour":"blue"}`)): "colour",
	} {
		code, e := post("main", body)
		if code != http.StatusBadRequest || e.Status != code || !strings.Contains(e.Error, want) || strings.Contains(e.Error, "\n") {
			t.Errorf("%.60s: %d %+v, want 400 naming %s in one line", body, code, e, want)
		}
	}

	if code, e := post("main", `{"workload":"`+strings.Repeat("x", maxBenchmarkBody)+`"}`); code != http.StatusRequestEntityTooLarge || !strings.Contains(e.Error, "64 KiB") {
		t.Errorf("body over 64 KiB: %d %+v, want 413", code, e)
	}
	// A cluster no member of which answers: nothing is sent, whatever the
	// body.
	for _, body := range []string{`{"total":10}`, `bad`} {
		if code, e := post("down", body); code != http.StatusServiceUnavailable || !strings.Contains(e.Error, "cluster down has no quorum") {
			t.Errorf("%s on a cluster without quorum: %d %+v, want 503", body, code, e)
		}
	}
	// While a run is under way (its guard held, as a run holds it), a
	// second is refused; the real contention is tested in cmd/etcd-monitor.
	benchmarks.busy.Store(true)
	if code, e := post("main", `{"total":10}`); code != http.StatusConflict || !strings.Contains(e.Error, "one at a time") {
		t.Errorf("second benchmark while one runs: %d %+v, want 409", code, e)
	}
	benchmarks.busy.Store(false)
}
