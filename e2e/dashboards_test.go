package e2e

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/benchmark"
	"github.com/etcd-monitor/etcd-monitor/dashboards"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// benchWorkloads are pushed for the benchmark dashboard.
var benchWorkloads = []string{benchmark.WorkloadWrite, benchmark.WorkloadMixed}

// runBenchmarks runs small benchmarks of two workloads against the stack's
// cluster, pushes their results to the Pushgateway, and waits until
// Prometheus has scraped them.
func runBenchmarks(t *testing.T, s *stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := &etcdconn.Config{Endpoints: s.cluster.Endpoints()}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	for _, w := range benchWorkloads {
		cfg := benchmark.DefaultConfig()
		cfg.Workload, cfg.Total, cfg.Conns, cfg.Clients, cfg.KeySpaceSize = w, 500, 2, 4, 100
		cfg.QuotaBackendBytes = quotaBytes
		rep, err := benchmark.Run(ctx, conn, cfg, nil)
		if err != nil {
			t.Fatalf("benchmark %s: %v", w, err)
		}
		rep.Judge(benchmark.SeedLimits())
		if err := benchmark.Push(ctx, benchmark.PushOptions{URL: s.pushURL, Cluster: s.name}, rep); err != nil {
			t.Fatal(err)
		}
		t.Logf("benchmark %s: %.0f requests/s, pushed", w, rep.Summary.Throughput)
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
	poll(ctx, 30*time.Second, time.Second, func() bool {
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
