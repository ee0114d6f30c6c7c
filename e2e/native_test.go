package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/dashboards"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// A Prometheus that scrapes native histograms (scrape_native_histograms,
// without always_scrape_classic_histograms) keeps the monitor's probe
// histogram as its native histogram only, with no _bucket or _count series:
// the shipped rules and the dashboards' probe panels must still have data.
func TestNativeHistogramScrape(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	prometheus := testbin.Require(t, installHint, "prometheus")
	name := "e2e-native"
	c := testetcd.Start(t, localetcd.Options{Members: 1, Token: name})
	dir := t.TempDir()

	monAddr := freeport.Addr(t)
	mon := testproc.Start(t, "etcd-monitor", monitorBin, serveArgs(c, name, monAddr)...)

	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval": scrapeInterval.String(), "scrape_timeout": scrapeInterval.String(),
			"evaluation_interval": evalInterval.String(),
		},
		"rule_files": []string{filepath.Join(repoRoot, "rules", "etcd-monitor-fast.rules.yml")},
		"scrape_configs": []any{map[string]any{
			"job_name": "etcd-monitor", "scrape_native_histograms": true,
			"static_configs": []any{map[string]any{"targets": []string{monAddr}}},
		}},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	promAddr := freeport.Addr(t)
	s := &stack{name: name, started: time.Now(), promURL: "http://" + promAddr}
	s.prom = newPromAPI(s.promURL)
	pr := testproc.Start(t, "prometheus", prometheus,
		"--config.file="+writeFile(t, filepath.Join(dir, "prometheus.yml"), string(b)),
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus"),
		"--web.listen-address="+promAddr,
		"--log.level=warn")
	mon.WaitReady(t, "http://"+monAddr+"/health", 15*time.Second)
	pr.WaitReady(t, s.promURL+"/-/ready", 30*time.Second)

	// Every probe operation of the member gets its p99 recorded; the fast
	// profile's rate window is 30s, so the first values come within a
	// minute of probing.
	sel := fmt.Sprintf(`{etcd_cluster=%q}`, name)
	s.waitValue(t, "count(etcd_cluster_member_operation:etcd_monitor_probe_duration_seconds:p99"+sel+")",
		func(v float64) bool { return v == 4 }, 2*time.Minute)
	p99 := s.waitValue(t, `max(etcd_cluster_operation:etcd_monitor_probe_duration_seconds:p99`+sel+`)`,
		func(v float64) bool { return v > 0 && v < requestTimeout.Seconds() }, 30*time.Second)
	// No probe failed: the failure ratio is 0, not undefined (nor 1, as it
	// would be on the first failure with no successes counted).
	s.waitValue(t, "max(etcd_cluster:etcd_monitor_probe_failures:ratio"+sel+")",
		func(v float64) bool { return v == 0 }, 30*time.Second)

	ctx := context.Background()
	for _, expr := range []string{
		`count(etcd_monitor_probe_duration_seconds_bucket` + sel + `)`,
		`count(etcd_monitor_probe_duration_seconds_count` + sel + `)`,
	} {
		r, err := s.prom.query(ctx, expr, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if !r.empty() {
			t.Errorf("%s: %v; Prometheus scraping native histograms should keep no classic series", expr, r.Series)
		}
	}

	// The dashboards' probe panels, variables expanded as Grafana would.
	ds, err := dashboards.Load()
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{
		"cluster":         name,
		"__rate_interval": rateInterval.String(),
		"__interval":      scrapeInterval.String(),
	}
	var n int
	for _, d := range ds {
		for _, q := range d.Queries() {
			if !strings.Contains(q.Expr, "etcd_monitor_probe_duration_seconds") || strings.Contains(q.Expr, "offset 1w") {
				continue
			}
			n++
			var r queryResult
			var err error
			// A heatmap or p99 of rate windows the probes have filled.
			waitfor.Poll(ctx, 30*time.Second, time.Second, func() bool {
				r, err = runQuery(ctx, s, q, vals)
				return err == nil && !r.empty()
			})
			switch {
			case err != nil:
				t.Errorf("%s: %v", q, err)
			case r.empty():
				t.Errorf("%s returns no data:\n  %s", q, dashboards.Expand(q.Expr, vals))
			}
			for _, w := range r.Warnings {
				t.Errorf("%s: Prometheus warns: %s", q, w)
			}
		}
	}
	if n == 0 {
		t.Fatal("no dashboard query reads the probe histogram")
	}
	t.Logf("native histograms only: p99 %.1fms, failure ratio 0, %d dashboard probe queries with data", p99*1000, n)
}
