package benchmark

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/etcd-monitor/etcd-monitor/internal/pushgateway"
)

// DefaultPushJob is the job label of pushed results.
const DefaultPushJob = "etcd_monitor_benchmark"

// latencyBuckets span a serializable read on loopback (~100 µs) to a
// request that ran into the default 5 s request timeout.
var latencyBuckets = prometheus.ExponentialBuckets(0.0001, 2, 17)

// PushOptions say where results go. The group is job, etcd_cluster and
// workload, so each workload's last run per cluster is kept.
type PushOptions = pushgateway.Options

// Push replaces the run's group on the Pushgateway with rep's results.
func Push(ctx context.Context, o PushOptions, rep *Report) error {
	err := pushgateway.Push(ctx, o, DefaultPushJob, func(ctx context.Context, p *push.Pusher) error {
		return p.Grouping("workload", rep.Workload).Collector(resultCollector{rep}).PushContext(ctx)
	})
	if err != nil {
		return fmt.Errorf("pushing results to %s: %w", o.URL, err)
	}
	return nil
}

var (
	descThroughput = prometheus.NewDesc("etcd_monitor_benchmark_throughput_ops_per_second",
		"Successful requests per second of the last benchmark run.", []string{"operation"}, nil)
	descLatency = prometheus.NewDesc("etcd_monitor_benchmark_latency_seconds",
		"Latency of the successful requests of the last benchmark run.", []string{"operation"}, nil)
	descRequests = prometheus.NewDesc("etcd_monitor_benchmark_requests",
		"Requests sent by the last benchmark run, failed ones included.", []string{"operation"}, nil)
	descErrors = prometheus.NewDesc("etcd_monitor_benchmark_errors",
		"Failed requests of the last benchmark run by reason.", []string{"operation", "reason"}, nil)
	descDuration = prometheus.NewDesc("etcd_monitor_benchmark_duration_seconds",
		"Duration of the timed part of the last benchmark run.", nil, nil)
	descLastRun = prometheus.NewDesc("etcd_monitor_benchmark_last_run_timestamp_seconds",
		"When the last benchmark run ended.", nil, nil)
	descCompleted = prometheus.NewDesc("etcd_monitor_benchmark_completed",
		"1 when the last run did what was asked; 0 when interrupted or stopped by the quota guard or an alarm.", nil, nil)
	descClients = prometheus.NewDesc("etcd_monitor_benchmark_clients",
		"Concurrent clients of the last benchmark run.", nil, nil)
	descConns = prometheus.NewDesc("etcd_monitor_benchmark_connections",
		"gRPC connections of the last benchmark run.", nil, nil)
	descCheck = prometheus.NewDesc("etcd_monitor_benchmark_check_passed",
		"1 when the last run passed --check, 0 when it failed; absent without --check.", nil, nil)
)

// resultCollector exposes a report as constant metrics. It is unchecked
// (describes nothing): the label values depend on the report.
type resultCollector struct{ rep *Report }

func (resultCollector) Describe(chan<- *prometheus.Desc) {}

func (c resultCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.rep
	for _, o := range r.Operations {
		ch <- prometheus.MustNewConstMetric(descThroughput, prometheus.GaugeValue, o.Throughput, o.Operation)
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.GaugeValue, float64(o.Requests), o.Operation)
		for _, e := range o.ErrorDistribution {
			ch <- prometheus.MustNewConstMetric(descErrors, prometheus.GaugeValue, float64(e.Count), o.Operation, e.Kind)
		}
		if o.hist != nil {
			count, sum, buckets := promBuckets(o.hist)
			ch <- prometheus.MustNewConstHistogram(descLatency, count, sum, buckets, o.Operation)
		}
	}
	ch <- prometheus.MustNewConstMetric(descDuration, prometheus.GaugeValue, r.TotalSeconds)
	end := r.Start.Add(time.Duration(r.TotalSeconds * float64(time.Second)))
	ch <- prometheus.MustNewConstMetric(descLastRun, prometheus.GaugeValue, float64(end.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(descCompleted, prometheus.GaugeValue, boolFloat(r.Stop.Reason == StopCompleted))
	ch <- prometheus.MustNewConstMetric(descClients, prometheus.GaugeValue, float64(r.Config.Clients))
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(r.Config.Conns))
	if r.Check != nil {
		ch <- prometheus.MustNewConstMetric(descCheck, prometheus.GaugeValue, boolFloat(r.Check.Passed))
	}
}

// promBuckets maps the fine histogram onto latencyBuckets. A fine bucket
// counts towards the first bound at or above its representative value, so
// a bound can be off by the fine bucket's width (under 1.6%).
func promBuckets(h *Histogram) (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(latencyBuckets))
	cum := make([]uint64, len(latencyBuckets))
	h.each(func(v time.Duration, c uint64) {
		x := v.Seconds()
		i := sort.SearchFloat64s(latencyBuckets, x)
		if i < len(cum) {
			cum[i] += c
		}
	})
	var acc uint64
	for i, ub := range latencyBuckets {
		acc += cum[i]
		buckets[ub] = acc
	}
	return h.Count(), h.Mean().Seconds() * float64(h.Count()), buckets
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
