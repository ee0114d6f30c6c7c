package collector

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/etcd-monitor/etcd-monitor/internal/exposition"
)

// Probe operations, the `operation` label.
const (
	OpPut             = "put"
	OpGet             = "get"
	OpGetSerializable = "get_serializable"
	OpDelete          = "delete"
)

// DefaultProbeBuckets suit etcd: a healthy local write takes a millisecond
// or two, the original etcd-monitor guide's critical threshold is 100 ms,
// and anything past a few seconds is a timeout.
var DefaultProbeBuckets = []float64{.0005, .001, .002, .004, .008, .016, .025, .05, .1, .25, .5, 1, 2.5, 5}

// FleetProbeBuckets are a few classic buckets for monitors of many clusters:
// with 14 buckets the probe histogram is three quarters of a cluster's
// series. Two bounds are the rule pack's default p99 thresholds (50 ms
// warning, 100 ms critical), so that where Prometheus reads only the classic
// buckets "p99 above the threshold" still means "more than 1% of probes took
// longer" and not an interpolation inside a wide bucket (with bounds at 10 ms
// and 100 ms only, 3% of probes at 15 ms read as a p99 of 70 ms). Finer
// percentiles come from the native histogram.
var FleetProbeBuckets = []float64{.01, .05, .1, 1}

// ParseProbeBuckets reads the probe histogram's classic buckets as a flag
// gives them: "default", "fleet" (FleetProbeBuckets), "none" (native
// histogram only) or upper bounds in seconds, comma-separated, increasing.
func ParseProbeBuckets(s string) ([]float64, error) {
	switch strings.TrimSpace(s) {
	case "", "default":
		return DefaultProbeBuckets, nil
	case "fleet":
		return FleetProbeBuckets, nil
	case "none":
		return []float64{}, nil
	}
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("probe buckets %q: %q is not a positive number of seconds (or use default, fleet, none)", s, f)
		}
		if len(out) > 0 && v <= out[len(out)-1] {
			return nil, fmt.Errorf("probe buckets %q: bounds must increase, %v follows %v", s, v, out[len(out)-1])
		}
		out = append(out, v)
	}
	return out, nil
}

// ProbeMetricsOption configures NewProbeMetrics.
type ProbeMetricsOption func(*prometheus.HistogramOpts)

// WithProbeBuckets sets the classic buckets of probe_duration_seconds. An
// empty, non-nil slice exposes none: the histogram is then native only
// (scraped with the protobuf format, as Prometheus 3 does by default), and a
// text scrape shows only its _sum, _count and the +Inf bucket.
func WithProbeBuckets(b []float64) ProbeMetricsOption {
	return func(o *prometheus.HistogramOpts) { o.Buckets = b }
}

const (
	probeDurationHelp = "Latency of successful synthetic probe requests, from when the request is sent, as a client of this member sees it."
	probeFailuresHelp = "Failed synthetic probe requests by operation and reason (timeout, unavailable, permission_denied, no_space, ...)."
	probeSuccessHelp  = "1 if every request of the last probe round on this member succeeded."
)

// ProbeMetrics are the probers' metrics, shared by every cluster of a
// monitor. Unlike the snapshot metrics they accumulate between scrapes.
type ProbeMetrics struct {
	duration *probeHistogramVec
	failures *prometheus.CounterVec
	success  *prometheus.GaugeVec
}

// NewProbeMetrics creates the probe metrics; register the result.
func NewProbeMetrics(opts ...ProbeMetricsOption) *ProbeMetrics {
	ho := prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "probe_duration_seconds",
		Help:      probeDurationHelp,
		Buckets:   DefaultProbeBuckets,
		// A native histogram as well: finer percentiles where the
		// Prometheus server scrapes them, classic buckets elsewhere.
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  160,
		NativeHistogramMinResetDuration: time.Hour,
	}
	for _, o := range opts {
		o(&ho)
	}
	if ho.Buckets == nil {
		ho.Buckets = DefaultProbeBuckets
	}
	return &ProbeMetrics{
		duration: newProbeHistogramVec(ho, append(append([]string(nil), memberLabels...), "operation")),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "probe_failures_total",
			Help:      probeFailuresHelp,
		}, append(append([]string(nil), memberLabels...), "operation", "reason")),
		success: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "probe_success",
			Help:      probeSuccessHelp,
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

// writeProbeFamilies writes the probe families of every cluster, sorted by
// name, each built in a and handed to emit with ms (reused) holding its
// series.
func writeProbeFamilies(probes []*ProbeMetrics, a *exposition.Arena, ms []*dto.Metric,
	emit func(name, help string, typ dto.MetricType, ms []*dto.Metric) error) error {
	for _, p := range probes {
		ms = p.duration.appendMetrics(ms, a)
	}
	if err := emit(namespace+"_probe_duration_seconds", probeDurationHelp, dto.MetricType_HISTOGRAM, ms); err != nil {
		return err
	}
	ms = appendCollected(ms[:0], a, func(ch chan<- prometheus.Metric) {
		for _, p := range probes {
			p.failures.Collect(ch)
		}
	})
	if err := emit(namespace+"_probe_failures_total", probeFailuresHelp, dto.MetricType_COUNTER, ms); err != nil {
		return err
	}
	ms = appendCollected(ms[:0], a, func(ch chan<- prometheus.Metric) {
		for _, p := range probes {
			p.success.Collect(ch)
		}
	})
	return emit(namespace+"_probe_success", probeSuccessHelp, dto.MetricType_GAUGE, ms)
}

// appendCollected appends what collect sends, written into messages of a
// (the values client_golang allocates itself), sorted by label values as a
// registry sorts them (a vector collects in map order; two scrapes of the
// same values must be the same). collect runs in one goroutine for the
// whole family, as a registry runs a collector, and is always drained.
func appendCollected(ms []*dto.Metric, a *exposition.Arena, collect func(chan<- prometheus.Metric)) []*dto.Metric {
	ch := make(chan prometheus.Metric, 256)
	go func() {
		collect(ch)
		close(ch)
	}()
	start := len(ms)
	for m := range ch {
		out := a.Metric()
		if m.Write(out) == nil {
			ms = append(ms, out)
		}
	}
	slices.SortFunc(ms[start:], compareLabels)
	return ms
}

// compareLabels orders series by their label values (same label names).
func compareLabels(x, y *dto.Metric) int {
	for i := range min(len(x.Label), len(y.Label)) {
		if c := strings.Compare(x.Label[i].GetValue(), y.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return len(x.Label) - len(y.Label)
}

// forget drops the series of a member that left the cluster.
func (p *ProbeMetrics) forget(cluster, member string) {
	l := prometheus.Labels{LabelCluster: cluster, LabelMember: member}
	p.duration.deletePartialMatch(l)
	p.failures.DeletePartialMatch(l)
	p.success.DeletePartialMatch(l)
}
