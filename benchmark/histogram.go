package benchmark

import (
	"math"
	"math/bits"
	"time"
)

// The latency histogram is log-linear, as HDR histograms are: below
// 2^histSubBits nanoseconds every value has its own bucket, above it every
// power of two is split into histHalf equal buckets. A bucket is therefore
// at most 1/histHalf (1.6%) of its values wide, and reporting its midpoint
// is off by at most 0.8%, for any latency from 1 ns to histMaxBits.
//
// etcd's tools/benchmark keeps every latency in a slice and sorts it, which
// costs 8 bytes per request (80 MB for 10 million); this costs a fixed
// 16 KiB however many requests are recorded.
const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histHalf    = histSub / 2
	// Latencies from 2^37 ns (137 s) up share the top bucket; fastest and
	// slowest are kept exactly anyway, and every request carries a
	// deadline far below that.
	histMaxBits = 37
	histBuckets = histSub + (histMaxBits-histSubBits)*histHalf
)

// Histogram accumulates latencies. It is not safe for concurrent use: every
// recorder shard owns one and they are merged at the end.
type Histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	min, max time.Duration
	// Welford's running mean and sum of squared deviations, in seconds,
	// for an exact average and standard deviation.
	mean, m2 float64
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))]++
	h.n++
	if h.n == 1 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	x := d.Seconds()
	delta := x - h.mean
	h.mean += delta / float64(h.n)
	h.m2 += delta * (x - h.mean)
}

// Merge adds o's latencies to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.n == 0 {
		return
	}
	if h.n == 0 {
		*h = *o
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	n := h.n + o.n
	delta := o.mean - h.mean
	h.mean += delta * float64(o.n) / float64(n)
	h.m2 += o.m2 + delta*delta*float64(h.n)*float64(o.n)/float64(n)
	h.n = n
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded latencies.
func (h *Histogram) Count() uint64 { return h.n }

// Min and Max are exact.
func (h *Histogram) Min() time.Duration { return h.min }
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is exact.
func (h *Histogram) Mean() time.Duration { return secondsToDuration(h.mean) }

// Stddev is the population standard deviation, as etcd's report computes it.
func (h *Histogram) Stddev() time.Duration {
	if h.n == 0 {
		return 0
	}
	return secondsToDuration(math.Sqrt(h.m2 / float64(h.n)))
}

// Quantile returns the latency below which a share q (0..1) of the recorded
// ones lie. It picks the same rank as etcd's pkg/report: the first sorted
// latency at index ceil(q*n).
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank >= h.n {
		return h.max
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum > rank {
			return h.clamp(bucketMid(i))
		}
	}
	return h.max
}

// each calls f for every non-empty bucket with its representative latency
// (clamped to the exact min and max) and count, in increasing order.
func (h *Histogram) each(f func(v time.Duration, count uint64)) {
	for i, c := range h.counts {
		if c > 0 {
			f(h.clamp(bucketMid(i)), c)
		}
	}
}

func (h *Histogram) clamp(v time.Duration) time.Duration {
	return min(max(v, h.min), h.max)
}

func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits
	if e > histMaxBits-histSubBits {
		return histBuckets - 1
	}
	m := v >> e // in [histHalf, histSub)
	return histSub + (e-1)*histHalf + int(m) - histHalf
}

// bucketBounds returns bucket i's range [lo, hi) in nanoseconds.
func bucketBounds(i int) (lo, hi uint64) {
	if i < histSub {
		return uint64(i), uint64(i) + 1
	}
	j := i - histSub
	e := j/histHalf + 1
	m := uint64(j%histHalf + histHalf)
	return m << e, (m + 1) << e
}

func bucketMid(i int) time.Duration {
	lo, hi := bucketBounds(i)
	return time.Duration(lo + (hi-lo-1)/2)
}

func secondsToDuration(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}
