package benchmark

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"
)

func TestBucketsCoverEveryValueInOrder(t *testing.T) {
	prevHi := uint64(0)
	for i := range histBuckets {
		lo, hi := bucketBounds(i)
		if lo != prevHi {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi-1) != i {
			t.Fatalf("bucket %d [%d,%d): bucketOf(lo)=%d bucketOf(hi-1)=%d", i, lo, hi, bucketOf(lo), bucketOf(hi-1))
		}
		if lo >= histSub && float64(hi-lo)/float64(lo) > 1.0/histHalf {
			t.Fatalf("bucket %d [%d,%d) is wider than 1/%d of its values", i, lo, hi, histHalf)
		}
		prevHi = hi
	}
	if bucketOf(math.MaxUint64) != histBuckets-1 {
		t.Fatal("huge values must land in the top bucket")
	}
}

// exactQuantile is etcd's pkg/report rule: the sorted latency at index
// ceil(q*n).
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(i, len(sorted)-1)]
}

func TestHistogramMatchesExactFigures(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var all []time.Duration
	var sum float64
	for range 200000 {
		// Log-normal around 2 ms with a long tail, like etcd latencies.
		d := time.Duration(math.Exp(rng.NormFloat64()*0.8) * float64(2*time.Millisecond))
		h.Record(d)
		all = append(all, d)
		sum += d.Seconds()
	}
	slices.Sort(all)
	mean := sum / float64(len(all))
	var ss float64
	for _, d := range all {
		ss += (d.Seconds() - mean) * (d.Seconds() - mean)
	}
	std := math.Sqrt(ss / float64(len(all)))

	if h.Count() != uint64(len(all)) || h.Min() != all[0] || h.Max() != all[len(all)-1] {
		t.Fatalf("count/min/max: %d %s %s, want %d %s %s", h.Count(), h.Min(), h.Max(), len(all), all[0], all[len(all)-1])
	}
	if rel(h.Mean().Seconds(), mean) > 1e-6 || rel(h.Stddev().Seconds(), std) > 1e-6 {
		t.Fatalf("mean %v stddev %v, want %v %v", h.Mean(), h.Stddev(), mean, std)
	}
	for _, p := range pctls {
		got, want := h.Quantile(p/100), exactQuantile(all, p/100)
		if rel(got.Seconds(), want.Seconds()) > 0.008 {
			t.Errorf("p%v = %s, exact %s (off by %.2f%%)", p, got, want, 100*rel(got.Seconds(), want.Seconds()))
		}
	}
}

func rel(a, b float64) float64 { return math.Abs(a-b) / math.Abs(b) }

func TestHistogramMergeEqualsOne(t *testing.T) {
	var one, a, b Histogram
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 50000 {
		d := time.Duration(rng.Int64N(int64(50 * time.Millisecond)))
		one.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var m Histogram
	m.Merge(&a)
	m.Merge(&b)
	m.Merge(nil)
	if m.counts != one.counts || m.n != one.n || m.min != one.min || m.max != one.max {
		t.Fatal("merged histogram differs from the one that saw everything")
	}
	if rel(m.mean, one.mean) > 1e-12 || rel(m.m2, one.m2) > 1e-9 {
		t.Fatalf("merged mean/m2 %v %v, want %v %v", m.mean, m.m2, one.mean, one.m2)
	}
}

func TestHistogramEdgeCases(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Stddev() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
	h.Record(-5) // a clock step backwards counts as 0
	h.Record(3 * time.Minute)
	if h.Min() != 0 || h.Max() != 3*time.Minute || h.Quantile(1) != 3*time.Minute || h.Quantile(0.999) != 3*time.Minute {
		t.Fatalf("min %s max %s p100 %s", h.Min(), h.Max(), h.Quantile(1))
	}
}

// TestHistogramMemoryIsFlat: a histogram is a fixed-size value and
// recording never allocates, so memory cannot grow with the number of
// requests (etcd's tool keeps 8 bytes per request). BenchmarkHistogramMemory
// shows the bytes next to etcd's way.
func TestHistogramMemoryIsFlat(t *testing.T) {
	if size := unsafe.Sizeof(Histogram{}); size > 20<<10 {
		t.Fatalf("a histogram takes %d bytes", size)
	}
	h := new(Histogram)
	var i int
	allocs := testing.AllocsPerRun(10, func() {
		for range 100_000 {
			i++
			h.Record(time.Duration(i%5000) * time.Microsecond)
		}
	})
	// Not 0: the count is process-wide, and the shared etcd cluster's
	// clients and the race detector allocate in the background (157 seen
	// in CI under -race). A Record that allocated even once in ten calls
	// would count 10,000 or more.
	if allocs >= 10_000 {
		t.Fatalf("recording 100k latencies allocated %v times", allocs)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.Record(time.Duration(i&0xfffff) * time.Nanosecond * 97)
	}
}

var histSink *Histogram
var sliceSink []float64

// BenchmarkHistogramMemory reports the bytes (B/op) one histogram needs for
// n latencies, next to etcd's pkg/report way of appending every latency to
// a slice, for docs/performance-benchmark.md.
func BenchmarkHistogramMemory(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000, 10_000_000} {
		b.Run("histogram/"+fmtCount(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h := new(Histogram)
				for i := range n {
					h.Record(time.Duration(i%5000) * time.Microsecond)
				}
				histSink = h
			}
		})
		b.Run("etcd-slice/"+fmtCount(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var lats []float64
				for i := range n {
					lats = append(lats, (time.Duration(i%5000) * time.Microsecond).Seconds())
				}
				sliceSink = lats
			}
		})
	}
}

func fmtCount(n int) string {
	if n >= 1_000_000 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	return fmt.Sprintf("%dk", n/1000)
}
