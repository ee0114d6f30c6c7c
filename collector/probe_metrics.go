package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Probe operations, the `operation` label.
const (
	OpPut             = "put"
	OpGet             = "get"
	OpGetSerializable = "get_serializable"
	OpDelete          = "delete"
)

// probeBuckets suit etcd: a healthy local write takes a millisecond or two,
// the seed's critical threshold is 100 ms, and anything past a few seconds
// is a timeout.
var probeBuckets = []float64{.0005, .001, .002, .004, .008, .016, .025, .05, .1, .25, .5, 1, 2.5, 5}

// ProbeMetrics are the probers' metrics, shared by every cluster of a
// monitor. Unlike the snapshot metrics they accumulate between scrapes.
type ProbeMetrics struct {
	duration *prometheus.HistogramVec
	failures *prometheus.CounterVec
	success  *prometheus.GaugeVec
}

// NewProbeMetrics creates the probe metrics; register the result.
func NewProbeMetrics() *ProbeMetrics {
	return &ProbeMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "probe_duration_seconds",
			Help:      "Latency of successful synthetic probe requests, as a client of this member sees it.",
			Buckets:   probeBuckets,
			// A native histogram as well: finer percentiles where the
			// Prometheus server scrapes them, classic buckets elsewhere.
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, append(append([]string(nil), memberLabels...), "operation")),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "probe_failures_total",
			Help:      "Failed synthetic probe requests by operation and reason (timeout, unavailable, permission_denied, no_space, ...).",
		}, append(append([]string(nil), memberLabels...), "operation", "reason")),
		success: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "probe_success",
			Help:      "1 if every request of the last probe round on this member succeeded.",
		}, memberLabels),
	}
}

// Describe implements prometheus.Collector.
func (p *ProbeMetrics) Describe(ch chan<- *prometheus.Desc) {
	p.duration.Describe(ch)
	p.failures.Describe(ch)
	p.success.Describe(ch)
}

// Collect implements prometheus.Collector.
func (p *ProbeMetrics) Collect(ch chan<- prometheus.Metric) {
	p.duration.Collect(ch)
	p.failures.Collect(ch)
	p.success.Collect(ch)
}

// forget drops the series of a member that left the cluster.
func (p *ProbeMetrics) forget(cluster, member string) {
	l := prometheus.Labels{LabelCluster: cluster, LabelMember: member}
	p.duration.DeletePartialMatch(l)
	p.failures.DeletePartialMatch(l)
	p.success.DeletePartialMatch(l)
}
