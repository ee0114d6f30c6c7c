package collector

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// written is what a series exposes, without its created timestamp (when
// the test made it).
func written(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	out.Histogram.CreatedTimestamp = nil
	return &out
}

// latencies are what probes see (log-normal around a few milliseconds, a
// long tail to seconds), with values that sit exactly on bucket boundaries:
// powers of two (native), classic bounds, and zero. (The native boundaries
// between powers of two are irrational: a float that rounds onto one may
// fall either side of it, in any implementation.)
func latencies(r *rand.Rand, n int) []float64 {
	vs := []float64{0, 1, 0.5, 0.25, 2, math.Exp2(-10), 0.001, 0.1, 5}
	for range n {
		vs = append(vs, 0.003*math.Exp(1.5*r.NormFloat64()))
	}
	return vs
}

// The probe histogram exposes exactly what client_golang's native and
// classic histogram does for the same observations, with default, fleet
// and no classic buckets.
func TestProbeHistogramMatchesClientGolang(t *testing.T) {
	for _, buckets := range [][]float64{DefaultProbeBuckets, FleetProbeBuckets, {}} {
		opts := prometheus.HistogramOpts{
			Name: "h", Help: "h", Buckets: buckets,
			NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 160,
		}
		ours := newProbeHistogramVec(opts, []string{"b", "a"}).WithLabelValues("x", "y")
		theirs := prometheus.NewHistogramVec(opts, []string{"b", "a"}).WithLabelValues("x", "y").(prometheus.Histogram)
		for _, v := range latencies(rand.New(rand.NewPCG(3, 4)), 5000) {
			ours.Observe(v)
			theirs.Observe(v)
		}
		got, want := written(t, ours), written(t, theirs)
		if !proto.Equal(got, want) {
			t.Errorf("buckets %v:\n got %v\nwant %v", buckets, got, want)
		}
	}
}

// A series whose latencies spread wider than the bucket limit allows
// halves its resolution, keeping every observation: the result is what a
// histogram at the lower schema would have counted directly.
func TestProbeHistogramLowersSchema(t *testing.T) {
	narrow := prometheus.HistogramOpts{Name: "h", Help: "h", Buckets: []float64{}, NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 40}
	ours := newProbeHistogramVec(narrow, nil).WithLabelValues()
	// Schema 3 has 8 buckets per power of two: 40 buckets cover 5, and
	// these latencies span 2^-14 to 2^3, so two halvings (schema 1, 2 per
	// power of two: 34 buckets) are needed.
	vs := []float64{math.Exp2(-14), 8, 0.003, 0.01, 0.02, 0.5, 1.5}
	vs = append(vs, latencies(rand.New(rand.NewPCG(5, 6)), 2000)...)
	for _, v := range vs {
		ours.Observe(max(v, math.Exp2(-14)))
	}
	got := written(t, ours)
	if s := got.GetHistogram().GetSchema(); s != 1 {
		t.Fatalf("schema %d after spreading over 17 powers of two, want 1", s)
	}
	direct := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h", Help: "h", Buckets: []float64{},
		NativeHistogramBucketFactor: 1.5}) // schema 1 (2^(2^-1) = 1.41 <= 1.5 < 2), no limit
	for _, v := range vs {
		direct.Observe(max(v, math.Exp2(-14)))
	}
	if want := written(t, direct); !proto.Equal(got, want) {
		t.Errorf("after halving:\n got %v\nwant %v", got, want)
	}
}

// A member that leaves takes its series with it; the others stay.
func TestProbeHistogramForget(t *testing.T) {
	pm := NewProbeMetrics()
	pm.duration.WithLabelValues("c", "m1", "e1", OpGet).Observe(0.001)
	pm.duration.WithLabelValues("c", "m2", "e2", OpGet).Observe(0.001)
	pm.forget("c", "m1")
	ch := make(chan prometheus.Metric, 10)
	pm.duration.Collect(ch)
	close(ch)
	var left []string
	for m := range ch {
		left = append(left, written(t, m).GetLabel()[2].GetValue()) // sorted: endpoint, etcd_cluster, member, operation
	}
	if len(left) != 1 || left[0] != "m2" {
		t.Errorf("series left after forgetting m1: %v, want [m2]", left)
	}
}
