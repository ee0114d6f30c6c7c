package dashboards

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
)

// The probe latency panels show data whichever form of the probe histogram
// Prometheus keeps: the classic buckets only (text format, or native
// histograms not scraped), the native histogram only (scrape_native_histograms
// without always_scrape_classic_histograms), or both. promtool's unit tests
// evaluate each panel's expression with Prometheus' own engine on each
// input and count the series it returns.
func TestProbePanelsReadEitherHistogramForm(t *testing.T) {
	promtool := testbin.Require(t, "run `make tools`", "promtool")
	const probe = "etcd_monitor_probe_duration_seconds"

	// 15-minute samples over a week and two hours, for the panel comparing
	// with a week ago; the rate window is widened to match.
	vals := maps.Clone(exampleValues)
	vals["__rate_interval"] = "30m"
	const steps = 680
	const evalTime = "7d2h"
	labels := `job="etcd-monitor",etcd_cluster="prod",member="etcd-0",endpoint="https://etcd-0:2379",operation="put"`
	type series struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	}
	// 10 probes a scrape, all of them 5ms: under the classic bound of 10ms,
	// in native bucket -61 (4.6ms to 5.1ms).
	classicLE := []string{"0.01", "0.1", "+Inf"}
	classic := []series{{fmt.Sprintf("%s_count{%s}", probe, labels), fmt.Sprintf("0+10x%d", steps)}}
	for _, le := range classicLE {
		classic = append(classic, series{fmt.Sprintf("%s_bucket{%s,le=%q}", probe, labels, le), fmt.Sprintf("0+10x%d", steps)})
	}
	native := []series{{fmt.Sprintf("%s{%s}", probe, labels),
		fmt.Sprintf("{{schema:3 sum:0 count:0}}+{{schema:3 sum:0.05 count:10 buckets:[10] offset:-61}}x%d", steps)}}

	inputs := []struct {
		name   string
		series []series
		// heatmap is the number of series the heatmap gets: one per
		// classic bucket, or the one native histogram (never both).
		heatmap int
	}{
		{"classic buckets only", classic, len(classicLE)},
		{"native histogram only", native, 1},
		{"both", append(slices.Clone(classic), native...), 1},
	}

	type sample struct {
		Labels string  `yaml:"labels"`
		Value  float64 `yaml:"value"`
	}
	type exprTest struct {
		Expr       string   `yaml:"expr"`
		EvalTime   string   `yaml:"eval_time"`
		ExpSamples []sample `yaml:"exp_samples"`
	}
	type unitTest struct {
		Name           string     `yaml:"name"`
		Interval       string     `yaml:"interval"`
		InputSeries    []series   `yaml:"input_series"`
		PromqlExprTest []exprTest `yaml:"promql_expr_test"`
	}
	var queries []Query
	for _, d := range load(t) {
		for _, q := range d.Queries() {
			if strings.Contains(q.Expr, probe+"{") || strings.Contains(q.Expr, probe+"_bucket{") {
				queries = append(queries, q)
			}
		}
	}
	if len(queries) < 5 {
		t.Fatalf("found %d probe latency queries, want at least 5 (percentiles, heatmap, per member, against a week ago)", len(queries))
	}
	var tests []unitTest
	for _, in := range inputs {
		ut := unitTest{Name: in.name, Interval: "15m", InputSeries: in.series}
		for _, q := range queries {
			want := 1
			if strings.Contains(q.Panel, "heatmap") {
				want = in.heatmap
			}
			ut.PromqlExprTest = append(ut.PromqlExprTest, exprTest{
				Expr: "count(" + Expand(q.Expr, vals) + ")", EvalTime: evalTime,
				ExpSamples: []sample{{"{}", float64(want)}},
			})
		}
		tests = append(tests, ut)
	}
	doc := map[string]any{"rule_files": []string{}, "evaluation_interval": "15m", "tests": tests}
	out, err := runPromtool(t, promtool, "probe_panels_test.yml", doc, "test", "rules")
	if err != nil {
		t.Fatalf("promtool test rules (%d probe queries on each input): %v\n%s", len(queries), err, out)
	}
	t.Logf("%d probe latency queries show data on each of %d inputs", len(queries), len(inputs))
}
