package benchmark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

func TestWorkloads(t *testing.T) {
	c := shared.Cluster(t)
	conn := testetcd.Conn(t, c)
	cli := testetcd.Client(t, c)
	for _, w := range []string{WorkloadWrite, WorkloadRead, WorkloadMixed} {
		t.Run(w, func(t *testing.T) {
			prefix := "/test/workloads/" + w + "/"
			cfg := small(w, prefix)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := Run(ctx, conn, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkTotals(t, rep, cfg.Total)
			if rep.Summary.Errors != 0 {
				t.Fatalf("errors on a healthy cluster: %+v", rep.Summary.ErrorDistribution)
			}
			if !rep.OK() || rep.Cleanup.Remaining != 0 {
				t.Fatalf("run not clean: stop %+v cleanup %+v", rep.Stop, rep.Cleanup)
			}
			if n := keysUnder(t, cli, prefix); n != 0 {
				t.Fatalf("%d keys left below %s", n, prefix)
			}
			if !strings.HasPrefix(rep.RunPrefix, prefix) || len(rep.RunPrefix) != len(prefix)+9 {
				t.Fatalf("run prefix %q is not a fresh directory below %q", rep.RunPrefix, prefix)
			}

			var ops []string
			for _, o := range rep.Operations {
				ops = append(ops, o.Operation)
			}
			switch w {
			case WorkloadWrite:
				assertOps(t, ops, "write")
				if rep.Populate != nil {
					t.Fatal("write workload populated the key space")
				}
				// Random keys over a 250-key space: 1000 writes hit
				// almost all of them (245 expected); cleanup deleted
				// each once.
				if rep.Cleanup.Deleted < 200 || rep.Cleanup.Deleted > 250 {
					t.Fatalf("deleted %d keys, want the ~250 written", rep.Cleanup.Deleted)
				}
			case WorkloadRead:
				assertOps(t, ops, "read")
				if rep.Populate == nil || rep.Populate.Keys != int64(cfg.KeySpaceSize) || rep.Populate.Errors != 0 {
					t.Fatalf("populate: %+v", rep.Populate)
				}
				if rep.Cleanup.Deleted != int64(cfg.KeySpaceSize) {
					t.Fatalf("deleted %d keys, want the %d populated", rep.Cleanup.Deleted, cfg.KeySpaceSize)
				}
			case WorkloadMixed:
				assertOps(t, ops, "read", "write")
				reads := float64(rep.Operations[0].Requests) / float64(cfg.Total)
				if reads < 0.6 || reads > 0.8 {
					t.Fatalf("read share %.2f, want about 0.7", reads)
				}
			}

			var text bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Summary", "Total:", "Slowest:", "Fastest:", "Average:", "Stddev:", "Requests/sec:",
				"Response time histogram:", "Latency distribution:", "50% in", "90% in", "95% in", "99% in", "99.9% in",
				"Requests:\t1000 (1000 succeeded, 0 failed, error rate 0.00%)", "Cleanup: deleted", "Completed."} {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text report lacks %q:\n%s", want, text.String())
				}
			}
			if w == WorkloadMixed && (!strings.Contains(text.String(), "Summary (reads)") || !strings.Contains(text.String(), "Summary (writes)")) {
				t.Errorf("mixed report does not show reads and writes apart:\n%s", text.String())
			}
			t.Logf("\n%s", text.String())

			b, err := json.Marshal(rep)
			if err != nil {
				t.Fatal(err)
			}
			var back Report
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("report JSON does not parse: %v\n%s", err, b)
			}
			if back.Summary.Requests != int64(cfg.Total) || len(back.Summary.Percentiles) != len(pctls) || back.Config != cfg {
				t.Fatalf("JSON round trip lost fields: %+v", back.Summary)
			}
		})
	}
}

func assertOps(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("operations %v, want %v", got, want)
	}
}

// checkTotals asserts that the report's numbers add up.
func checkTotals(t *testing.T, rep *Report, total int) {
	t.Helper()
	s := rep.Summary
	if total > 0 && s.Requests != int64(total) {
		t.Fatalf("summary counts %d requests, want %d", s.Requests, total)
	}
	if s.Succeeded+s.Errors != s.Requests {
		t.Fatalf("succeeded %d + errors %d != requests %d", s.Succeeded, s.Errors, s.Requests)
	}
	var req, ok, bad int64
	for _, o := range rep.Operations {
		req, ok, bad = req+o.Requests, ok+o.Succeeded, bad+o.Errors
		var hist uint64
		for _, b := range o.Histogram {
			hist += b.Count
		}
		if hist != uint64(o.Succeeded) {
			t.Fatalf("%s histogram holds %d latencies, %d succeeded", o.Operation, hist, o.Succeeded)
		}
		var dist int64
		for _, e := range o.ErrorDistribution {
			dist += e.Count
		}
		if dist != o.Errors {
			t.Fatalf("%s error distribution sums to %d, errors %d", o.Operation, dist, o.Errors)
		}
		if o.Succeeded > 0 {
			if len(o.Percentiles) != len(pctls) || o.Fastest <= 0 || o.Slowest < o.Fastest || o.Average < o.Fastest || o.Average > o.Slowest {
				t.Fatalf("%s figures inconsistent: %+v", o.Operation, o)
			}
			for i := 1; i < len(o.Percentiles); i++ {
				if o.Percentiles[i].Seconds < o.Percentiles[i-1].Seconds {
					t.Fatalf("%s percentiles not monotonic: %+v", o.Operation, o.Percentiles)
				}
			}
		}
	}
	if req != s.Requests || ok != s.Succeeded || bad != s.Errors {
		t.Fatalf("operations add up to %d/%d/%d, summary says %d/%d/%d", req, ok, bad, s.Requests, s.Succeeded, s.Errors)
	}
	if rep.TotalSeconds <= 0 || s.Succeeded > 0 && s.Throughput <= 0 {
		t.Fatalf("total %v s, throughput %v", rep.TotalSeconds, s.Throughput)
	}
}

// TestNoGoroutineLeft: Run is called by a long-lived server (the REST API),
// so a run must not leave goroutines behind, whichever way it ends.
func TestNoGoroutineLeft(t *testing.T) {
	c := shared.Cluster(t)
	conn := testetcd.Conn(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The client that marks a prefix as used is closed before the
	// goroutines are counted: its balancer connects to the other members
	// in the background after the first answer, and those connections'
	// goroutines, born after the count, are the test's, not Run's (CI
	// once found such a writer goroutine still serving the open client).
	kv, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	_, err = kv.Put(ctx, "/test/leak/used/x", "y")
	kv.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The cluster runs in this process: its HTTP server's connection
	// goroutines (our checker's /version calls arrive through the
	// localetcd proxy, which closes the server side lazily) are not ours.
	// The same for the in-process proxy in front of each member: it closes
	// its side of a connection the client closed only when the member's
	// side ends (seen when the test runs again on the same cluster).
	// gRPC tears a closed connection's transport down in the background, so
	// its writer goroutine may outlive Close by a moment: on a loaded 2-core
	// machine under -race, longer than goleak's default retries, and once
	// longer than ten seconds (CI, beside collector's race tests and the
	// fuzzers). Up to thirty seconds are allowed; a real leak stays for good.
	leakOpts := []goleak.Option{goleak.IgnoreCurrent(),
		goleak.IgnoreAnyFunction("net/http.(*connReader).backgroundRead"),
		goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
		goleak.IgnoreAnyFunction("go.etcd.io/etcd/pkg/v3/proxy.(*server).transmit"),
		goleak.IgnoreAnyFunction("go.etcd.io/etcd/pkg/v3/proxy.(*server).receive")}
	if testetcd.Light().Binary == "" {
		// In-process members also talk to each other over pooled HTTP
		// connections (the leader asks its peers for their versions every
		// few seconds; raft messages go there when a stream is busy),
		// opened at any time and kept idle. With etcd processes (ETCD_BIN,
		// as in CI) every HTTP connection left here would be the
		// checker's, and a leak.
		leakOpts = append(leakOpts,
			goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"))
	}
	defer func() {
		for deadline := time.Now().Add(30 * time.Second); goleak.Find(leakOpts...) != nil && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
		}
		goleak.VerifyNone(t, leakOpts...)
	}()

	cfg := small(WorkloadMixed, "/test/leak/run/")
	cfg.Rate = 5000
	if _, err := Run(ctx, conn, cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, conn, small(WorkloadWrite, "/test/leak/used/"), nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("want a refusal, got %v", err)
	}
	ictx, icancel := context.WithCancel(ctx)
	time.AfterFunc(300*time.Millisecond, icancel)
	cfg.Total, cfg.Duration = 0, time.Minute
	if _, err := Run(ictx, conn, cfg, nil); err != nil {
		t.Fatal(err)
	}
}
