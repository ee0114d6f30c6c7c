package main

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The probe medians are read from the monitor's native histograms: decoded
// from client_golang's own output, summed over series, differenced over a
// window, they must give the median of the raw observations to within the
// buckets' resolution (factor 1.1, the monitor's), and the reference's
// samples bucketed the same way must give the same estimate.
func TestNativeHistogramMedian(t *testing.T) {
	vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "etcd_monitor_probe_duration_seconds", NativeHistogramBucketFactor: 1.1,
	}, []string{"member", "operation"})
	rng := rand.New(rand.NewPCG(1, 2))
	observe := func(n int) []time.Duration {
		var raw []time.Duration
		for i := range n {
			d := time.Duration(math.Exp(rng.NormFloat64()*0.7) * float64(time.Millisecond))
			vec.WithLabelValues([]string{"a", "b", "c"}[i%3], "get").Observe(d.Seconds())
			raw = append(raw, d)
		}
		return raw
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(vec)
	snapshot := func() map[string]*dto.MetricFamily { return gathered(t, reg) }
	observe(5000) // before the window: must not count
	before := snapshot()
	raw := observe(9000)
	after := snapshot()

	d := nativeBy(after, "etcd_monitor_probe_duration_seconds", "operation")["get"].
		sub(nativeBy(before, "etcd_monitor_probe_duration_seconds", "operation")["get"])
	if got := d.total(); got != 9000 {
		t.Fatalf("window holds %v observations, want 9000", got)
	}
	ms := make([]float64, len(raw))
	for i, r := range raw {
		ms[i] = r.Seconds()
	}
	sort.Float64s(ms)
	exact := percentile(ms, 50)
	est := d.quantile(.5)
	if math.Abs(est/exact-1) > 0.05 {
		t.Errorf("median from the histogram %.4g s, exact %.4g s: more than 5%% apart", est, exact)
	}
	if ref := fromSamples(raw, d.schema).quantile(.5); math.Abs(ref/est-1) > 1e-9 {
		t.Errorf("the same samples bucketed by fromSamples give %.6g s, the histogram %.6g s", ref, est)
	}
}

// The monitor's lateness over the window: the increase of its rounds
// counters, summed over clusters, late and skipped as a share of the
// rounds due (run or skipped).
func TestMonitorRounds(t *testing.T) {
	ran := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "etcd_monitor_rounds_total"}, []string{"kind"})
	late := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "etcd_monitor_rounds_late_total"}, []string{"etcd_cluster", "kind"})
	skipped := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "etcd_monitor_rounds_skipped_total"}, []string{"etcd_cluster", "kind"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(ran, late, skipped)
	snapshot := func() map[string]*dto.MetricFamily { return gathered(t, reg) }
	ran.WithLabelValues("probe").Add(100)
	ran.WithLabelValues("check").Add(50)
	late.WithLabelValues("c1", "probe").Add(1) // before the window: not counted
	before := snapshot()
	ran.WithLabelValues("probe").Add(100)
	ran.WithLabelValues("check").Add(20)
	late.WithLabelValues("c1", "probe").Add(1)
	late.WithLabelValues("c2", "probe").Add(1)
	skipped.WithLabelValues("c1", "probe").Add(10)
	rows := monitorRounds(before, snapshot())
	want := []roundsRow{
		{Kind: "check", Ran: 20, Behind: 0},
		{Kind: "probe", Ran: 100, Late: 2, Skipped: 10, Behind: num(12.0 / 110)},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v, want %+v", rows, want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
}

// gathered is what a scrape of reg holds, by family name.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}
