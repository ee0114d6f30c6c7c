package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// bench writes the selector of pushed benchmark results (cluster and
// workload variables) in place of SEL. The job is left out: it is
// whatever --pushgateway.job said.
func bench(expr string) string {
	return strings.ReplaceAll(expr, "SEL", `etcd_cluster=~"$cluster",workload=~"$workload"`)
}

// benchmarkView shows `etcd-monitor benchmark` results pushed to the
// Pushgateway: each push replaces its (cluster, workload) group, so every
// series steps from one run's result to the next, and the runs compare
// over time.
func benchmarkView() *dashboard.DashboardBuilder {
	b := newBoard(UIDBenchmark, "etcd-monitor / Benchmark",
		"Results of `etcd-monitor benchmark --pushgateway.url=...`, one group per cluster and workload: the last run, runs over time, and the last run against the baseline (the median of the runs in the baseline window).",
		queryVariable("cluster", "Cluster", "etcd_monitor_benchmark_last_run_timestamp_seconds", "etcd_cluster",
			"Clusters with pushed benchmark results (--cluster.name of the benchmark)."),
		queryVariable("workload", "Workload", `etcd_monitor_benchmark_last_run_timestamp_seconds{etcd_cluster=~"$cluster"}`, "workload",
			"write, read or mixed."),
		customVariable("baseline", "Baseline window",
			"The runs the baseline is the median of: results pushed within this window.", "7d", "1d", "30d", "90d"))
	// Each run's end, placed at its own time (the value, in ms).
	b.Annotation(annotation("Benchmark runs", "blue",
		bench(`max by (etcd_cluster, workload) (etcd_monitor_benchmark_last_run_timestamp_seconds{SEL}) * 1000`),
		"Benchmark run", "{{etcd_cluster}} {{workload}}").UseValueForTime(true))

	b.WithRow(row("Last run"))
	b.WithPanel(newTable("Last runs", "The last pushed run of each cluster and workload.",
		map[string]string{
			"etcd_cluster": "Cluster", "workload": "Workload", "Value #A": "Ended", "Value #B": "Duration", "Value #C": "Completed",
			"Value #D": "Clients", "Value #E": "Connections", "Value #F": "Throughput", "Value #G": "p99 latency", "Value #H": "Error rate",
		},
		[]string{"etcd_cluster", "workload", "Value #A", "Value #B", "Value #C", "Value #D", "Value #E", "Value #F", "Value #G", "Value #H"},
		nil,
		tableQ(bench(`max by (etcd_cluster, workload) (etcd_monitor_benchmark_last_run_timestamp_seconds{SEL}) * 1000`)),
		tableQ(bench(`max by (etcd_cluster, workload) (etcd_monitor_benchmark_duration_seconds{SEL})`)),
		tableQ(bench(`max by (etcd_cluster, workload) (etcd_monitor_benchmark_completed{SEL})`)),
		tableQ(bench(`max by (etcd_cluster, workload) (etcd_monitor_benchmark_clients{SEL})`)),
		tableQ(bench(`max by (etcd_cluster, workload) (etcd_monitor_benchmark_connections{SEL})`)),
		tableQ(bench(`sum by (etcd_cluster, workload) (etcd_monitor_benchmark_throughput_ops_per_second{SEL})`)),
		tableQ(bench(`histogram_quantile(0.99, sum by (etcd_cluster, workload, le) (etcd_monitor_benchmark_latency_seconds_bucket{SEL}))`)),
		tableQ(bench(`(sum by (etcd_cluster, workload) (etcd_monitor_benchmark_errors{SEL}) or 0 * sum by (etcd_cluster, workload) (etcd_monitor_benchmark_requests{SEL})) / (sum by (etcd_cluster, workload) (etcd_monitor_benchmark_requests{SEL}) > 0)`)),
	).Span(18).Height(7).
		OverrideByName("Ended", props(unitProp("dateTimeAsIso"))).
		OverrideByName("Duration", props(unitProp("s"))).
		OverrideByName("Completed", props(mappingsProp(okBad...), colorCells())).
		OverrideByName("Throughput", props(unitProp("ops"))).
		OverrideByName("p99 latency", props(unitProp("s"), thresholdsProp(step{color: "green"}, step{color: "red", value: 0.1}), colorCells())).
		OverrideByName("Error rate", props(unitProp("percentunit"), thresholdsProp(step{color: "green"}, step{color: "red", value: 0.05}), colorCells())))
	b.WithPanel(newStat("Since the last run", "Time since each workload last ran; a scheduled benchmark that stopped running shows here.", "s",
		instantQ(bench(`time() - max by (etcd_cluster, workload) (etcd_monitor_benchmark_last_run_timestamp_seconds{SEL})`), "{{etcd_cluster}} {{workload}}")).Span(6).Height(7).
		ColorMode(common.BigValueColorModeValue).Thresholds(thresholds(step{color: "green"}, step{color: "orange", value: 86400 * 2})))

	b.WithRow(row("Runs over time"))
	b.WithPanel(stepped(newTimeseries("Throughput", "Successful requests per second of each run, by operation (a mixed run has reads and writes).", "ops",
		rangeQ(bench(`max by (etcd_cluster, workload, operation) (etcd_monitor_benchmark_throughput_ops_per_second{SEL})`), "{{etcd_cluster}} {{workload}} {{operation}}"))).Span(12).Height(8))
	b.WithPanel(stepped(newTimeseries("Latency percentiles", "p50 and p99 latency of the successful requests of each run, by operation. The target: p99 below 100ms.", "s",
		rangeQ(bench(`histogram_quantile(0.50, sum by (etcd_cluster, workload, operation, le) (etcd_monitor_benchmark_latency_seconds_bucket{SEL}))`), "p50 {{etcd_cluster}} {{workload}} {{operation}}"),
		rangeQ(bench(`histogram_quantile(0.99, sum by (etcd_cluster, workload, operation, le) (etcd_monitor_benchmark_latency_seconds_bucket{SEL}))`), "p99 {{etcd_cluster}} {{workload}} {{operation}}"),
	)).Span(12).Height(8))
	b.WithPanel(stepped(newTimeseries("Error rate", "Failed requests over requests sent, per run and operation. The limit: 5%.", "percentunit",
		rangeQ(bench(`(sum by (etcd_cluster, workload, operation) (etcd_monitor_benchmark_errors{SEL}) or 0 * sum by (etcd_cluster, workload, operation) (etcd_monitor_benchmark_requests{SEL})) / (sum by (etcd_cluster, workload, operation) (etcd_monitor_benchmark_requests{SEL}) > 0)`), "{{etcd_cluster}} {{workload}} {{operation}}")).
		Thresholds(thresholds(step{color: "green"}, step{color: "red", value: 0.05}))).Span(12).Height(8))
	b.WithPanel(stepped(newTimeseries("Errors by reason", "Failed requests of each run by kind (timeout, unavailable, no_leader, no_space, ...).", "none",
		rangeQ(bench(`sum by (etcd_cluster, workload, operation, reason) (etcd_monitor_benchmark_errors{SEL})`), "{{etcd_cluster}} {{workload}} {{operation}} {{reason}}"))).Span(12).Height(8))

	b.WithRow(row("Against the baseline"))
	b.WithPanel(newTimeseries("Throughput against baseline", "The run's throughput over the median of the runs in the baseline window: below 1 is slower than usual.", "percentunit",
		rangeQ(bench(`max by (etcd_cluster, workload, operation) (etcd_monitor_benchmark_throughput_ops_per_second{SEL}) / (max by (etcd_cluster, workload, operation) (quantile_over_time(0.5, etcd_monitor_benchmark_throughput_ops_per_second{SEL}[$baseline])) > 0)`), "{{etcd_cluster}} {{workload}} {{operation}}")).Span(8).Height(8).
		Thresholds(thresholds(step{color: "red"}, step{color: "green", value: 0.8})))
	b.WithPanel(newTimeseries("Mean latency against baseline", "The run's mean latency over the baseline's (the median latency sum over the median request count of the runs in the baseline window; runs of one size compare exactly): above 1 is slower than usual.", "percentunit",
		rangeQ(bench(`(max by (etcd_cluster, workload, operation) (etcd_monitor_benchmark_latency_seconds_sum{SEL}) / (max by (etcd_cluster, workload, operation) (etcd_monitor_benchmark_latency_seconds_count{SEL}) > 0)) / (max by (etcd_cluster, workload, operation) (quantile_over_time(0.5, etcd_monitor_benchmark_latency_seconds_sum{SEL}[$baseline])) / (max by (etcd_cluster, workload, operation) (quantile_over_time(0.5, etcd_monitor_benchmark_latency_seconds_count{SEL}[$baseline])) > 0))`), "{{etcd_cluster}} {{workload}} {{operation}}")).Span(8).Height(8).
		Thresholds(thresholds(step{color: "green"}, step{color: "red", value: 1.5})))
	b.WithPanel(newStat("Baseline", "The median throughput in the baseline window, and the best.", "ops",
		instantQ(bench(`max by (etcd_cluster, workload, operation) (quantile_over_time(0.5, etcd_monitor_benchmark_throughput_ops_per_second{SEL}[$baseline]))`), "median {{etcd_cluster}} {{workload}} {{operation}}"),
		instantQ(bench(`max by (etcd_cluster, workload, operation) (max_over_time(etcd_monitor_benchmark_throughput_ops_per_second{SEL}[$baseline]))`), "best {{etcd_cluster}} {{workload}} {{operation}}"),
	).Span(8).Height(8).ColorMode(common.BigValueColorModeValue).TextMode(common.BigValueTextModeValueAndName))
	return b
}
