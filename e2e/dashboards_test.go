package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/dashboards"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// benchWorkloads are pushed for the benchmark dashboard.
var benchWorkloads = []string{"write", "mixed"}

// runBenchmarks runs `etcd-monitor benchmark` as a user does, for two
// small workloads, pushing to the Pushgateway, and waits until Prometheus
// has scraped the results.
func runBenchmarks(t *testing.T, s *stack) {
	t.Helper()
	for _, w := range benchWorkloads {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, monitorBin, "benchmark",
			"--etcd.endpoints="+strings.Join(s.cluster.Endpoints(), ","),
			"--workload="+w, "--total=500", "--conns=2", "--clients=4", "--key-space-size=100",
			"--etcd.quota-backend-bytes="+strconv.Itoa(quotaBytes),
			// The verdict is pushed too; a loaded test machine must not
			// fail it, so the limit is loose.
			"--check", "--check.max-p99-latency=10s",
			"--output=json",
			"--pushgateway.url="+s.pushURL, "--cluster.name="+s.name)
		out, err := cmd.Output()
		cancel()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("etcd-monitor benchmark --workload=%s: %v\n%s\n%s", w, err, testproc.Tail(string(out), 2000), stderr)
		}
		var rep struct {
			Summary struct {
				Throughput float64 `json:"throughput_ops_per_second"`
			} `json:"summary"`
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("benchmark report: %v\n%s", err, testproc.Tail(string(out), 2000))
		}
		t.Logf("etcd-monitor benchmark --workload=%s: %.0f requests/s, pushed", w, rep.Summary.Throughput)
	}
	s.waitValue(t, fmt.Sprintf(`count(etcd_monitor_benchmark_last_run_timestamp_seconds{etcd_cluster=%q})`, s.name),
		func(v float64) bool { return v == float64(len(benchWorkloads)) }, 20*time.Second)
}

// mustHaveData lists, per dashboard, the panels whose queries must return
// data on a healthy cluster, and which of their queries (nil: all).
var mustHaveData = map[string]map[string][]string{
	dashboards.UIDOverview: {
		"Quorum":            nil,
		"Leader":            nil,
		"Failure tolerance": nil,
		// Every column but Alarms, which is empty without alarms.
		"Members":                   {"A", "B", "C", "D", "E", "F", "G", "H", "J"},
		"Probe latency percentiles": nil,
		"DB size against quota":     nil,
	},
	// Every query of the benchmark dashboard, except the error breakdown:
	// the runs had no errors.
	dashboards.UIDBenchmark: {"*": nil},
}

var noDataExpected = map[string]bool{
	dashboards.UIDBenchmark + "/Errors by reason": true,
}

// checkDashboards sends every PromQL expression of every dashboard, with
// Grafana's variables expanded as Grafana would for this stack, to the
// stack's Prometheus: none may fail, and the panels of mustHaveData must
// show data.
func checkDashboards(t *testing.T, s *stack) {
	t.Helper()
	ds, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{
		"cluster":         regexp.QuoteMeta(s.name),
		"instance":        ".+", // All
		"workload":        ".+", // All
		"baseline":        "7d",
		"__rate_interval": rateInterval.String(),
		"__interval":      scrapeInterval.String(),
		"__interval_ms":   fmt.Sprint(scrapeInterval.Milliseconds()),
	}
	ctx := context.Background()

	// The overview's probe percentiles need a few scrapes of probe
	// histograms: wait for the panels that must have data, then check all.
	var missing []string
	waitfor.Poll(ctx, 30*time.Second, time.Second, func() bool {
		missing = nil
		for _, d := range ds {
			for _, q := range d.Queries() {
				if !required(d.UID, q) {
					continue
				}
				r, err := runQuery(ctx, s, q, vals)
				if err != nil || r.empty() {
					missing = append(missing, q.String())
				}
			}
		}
		return len(missing) == 0
	})

	var n, empty int
	var emptyList []string
	for _, d := range ds {
		for _, v := range d.Variables {
			sel, label, ok := dashboards.LabelValuesQuery(v.Query)
			if !ok {
				continue
			}
			got, err := s.prom.labelValues(ctx, label, dashboards.Expand(sel, vals), s.started, time.Now())
			if err != nil {
				t.Errorf("%s variable %s (%s): %v", d.UID, v.Name, v.Query, err)
				continue
			}
			if v.Name == "cluster" && !slices.Contains(got, s.name) {
				t.Errorf("%s variable cluster offers %v, not %s", d.UID, got, s.name)
			}
			if len(got) == 0 {
				t.Errorf("%s variable %s (%s) offers nothing", d.UID, v.Name, v.Query)
			}
		}
		for _, q := range d.Queries() {
			n++
			r, err := runQuery(ctx, s, q, vals)
			if err != nil {
				t.Errorf("%s: %v\n  %s", q, err, dashboards.Expand(q.Expr, vals))
				continue
			}
			for _, w := range r.Warnings {
				t.Errorf("%s: Prometheus warns: %s", q, w)
			}
			if r.empty() {
				empty++
				emptyList = append(emptyList, q.String())
				if required(d.UID, q) {
					t.Errorf("%s returns no data:\n  %s", q, dashboards.Expand(q.Expr, vals))
				}
			}
		}
	}
	sort.Strings(emptyList)
	t.Logf("dashboards: %d queries ran without error, %d returned data; empty on a healthy cluster without TLS or alarms: %s",
		n, n-empty, strings.Join(emptyList, ", "))
}

func required(uid string, q dashboards.Query) bool {
	if noDataExpected[uid+"/"+q.Panel] || strings.HasPrefix(q.Panel, "annotation: ") && uid != dashboards.UIDBenchmark {
		return false
	}
	panels := mustHaveData[uid]
	refs, ok := panels[q.Panel]
	if !ok {
		refs, ok = panels["*"]
	}
	return ok && (refs == nil || slices.Contains(refs, q.RefID))
}

// runQuery evaluates a dashboard query as Grafana would: instant queries
// now, the others over the time since the stack started.
func runQuery(ctx context.Context, s *stack, q dashboards.Query, vals map[string]string) (queryResult, error) {
	expr := dashboards.Expand(q.Expr, vals)
	if left := dashboards.VariablesIn(expr); len(left) > 0 {
		return queryResult{}, fmt.Errorf("variables left unexpanded: %v", left)
	}
	end := time.Now()
	if q.Instant {
		return s.prom.query(ctx, expr, end)
	}
	start := s.started
	if end.Sub(start) > 5*time.Minute {
		start = end.Add(-5 * time.Minute)
	}
	return s.prom.queryRange(ctx, expr, start, end, scrapeInterval)
}
