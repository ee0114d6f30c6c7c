package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/benchmark"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// The benchmark API of `serve --web.enable-benchmark-api` against a real
// cluster: a run that writes and reads, reports, and leaves nothing behind;
// and one run at a time, a second request refused while the first goes on
// to complete. What it refuses before running is tested in internal/api.
func TestBenchmarkAPI(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 3, FastElections: true})
	cli := testetcd.Client(t, c)
	base, _ := startServe(t, "--etcd.endpoints="+strings.Join(c.Endpoints(), ","), "--cluster.name=bench",
		"--health-check-interval=300ms", "--etcd.request-timeout=5s", "--web.enable-benchmark-api")
	// The API refuses a cluster without quorum, and it has none until the
	// first round has finished.
	waitfor.Until(t, time.Minute, "the monitor sees the cluster healthy", func() bool {
		var s status.ClusterStatus
		return json.Unmarshal([]byte(scrape(t, base+"/api/v1/cluster/status")), &s) == nil && s.Healthy
	})
	url := base + "/api/v1/performance/benchmark"

	code, body, err := postJSON(url, `{"workload":"mixed","total":600,"clients":8,"conns":2,"key_space_size":50}`)
	if err != nil || code != http.StatusOK {
		t.Fatalf("benchmark: %d %s %v", code, body, err)
	}
	var rep benchmark.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, body)
	}
	if rep.Workload != "mixed" || rep.Summary.Requests != 600 || len(rep.Operations) != 2 || rep.Stop.Reason != benchmark.StopCompleted {
		t.Errorf("report: workload %s, %d requests, %d operation kinds, stop %+v", rep.Workload, rep.Summary.Requests, len(rep.Operations), rep.Stop)
	}
	if n := keysUnder(t, cli, benchmark.DefaultKeyPrefix); n != 0 {
		t.Errorf("%d keys left under %s after the run", n, benchmark.DefaultKeyPrefix)
	}

	// One benchmark at a time: a timed run is started, and once its keys
	// are in the cluster a second request gets 409; the first completes.
	type answer struct {
		code int
		body []byte
		err  error
	}
	first := make(chan answer, 1)
	go func() {
		code, body, err := postJSON(url, `{"workload":"write","duration":"5s","rate":50,"clients":1,"conns":1}`)
		first <- answer{code, body, err}
	}()
	waitfor.Until(t, 30*time.Second, "the first benchmark writes keys", func() bool {
		return keysUnder(t, cli, benchmark.DefaultKeyPrefix) > 0
	})
	if code, body, err := postJSON(url, `{"total":10}`); err != nil || code != http.StatusConflict || !strings.Contains(string(body), "one at a time") {
		t.Errorf("second benchmark while one runs: %d %s %v, want 409", code, body, err)
	}
	select {
	case a := <-first:
		if a.err != nil || a.code != http.StatusOK {
			t.Errorf("first benchmark: %d %s %v", a.code, a.body, a.err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the first benchmark (5 s) did not answer within a minute")
	}
	if n := keysUnder(t, cli, benchmark.DefaultKeyPrefix); n != 0 {
		t.Errorf("%d keys left under %s after the timed run", n, benchmark.DefaultKeyPrefix)
	}
}

// postJSON POSTs body to url and returns the answer's status and body. It
// does not touch the test, so it may run in a goroutine that outlives it.
func postJSON(url, body string) (int, []byte, error) {
	// A run through the API lasts a minute at most.
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("POST %s %s: %w", url, body, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, out, fmt.Errorf("POST %s %s: reading the answer: %w", url, body, err)
	}
	return resp.StatusCode, out, nil
}

// keysUnder counts the keys under prefix.
func keysUnder(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(t.Context(), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("counting keys under %s: %v", prefix, err)
	}
	return resp.Count
}
