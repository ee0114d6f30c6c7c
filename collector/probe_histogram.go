package collector

import (
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/etcd-monitor/etcd-monitor/internal/exposition"
)

// Why probe_duration_seconds has a histogram of its own: client_golang's
// keeps each native bucket twice (hot and cold) in sync.Maps, which at a
// fleet's 12 series per cluster was the largest share of the monitor's live
// heap after gRPC (about 50 KB per cluster) and a quarter of a scrape's CPU
// (ranging and sorting the maps on every Write). A probe observes a few
// values a second, so a mutex and dense counters do the same job in about a
// tenth of the memory. The exposition is client_golang's, byte for byte
// (same schema, zero threshold, spans and deltas): TestScrapeExposition pins
// it and TestProbeHistogramMatchesClientGolang compares the two.

// nativeZeroThreshold is client_golang's default: only exact zeros (and
// denormals) fall into the zero bucket.
const nativeZeroThreshold = 2.938735877055719e-39 // 2^-128

// probeHistogramVec is the probe histogram of one cluster's members and
// operations.
type probeHistogramVec struct {
	desc     *prometheus.Desc
	names    []string // label names, in the descriptor's order
	bounds   []float64
	schema   int32 // of new series; a series lowers its own when it must
	maxSpan  int   // most native buckets from the lowest to the highest
	mu       sync.Mutex
	children map[string]*probeHistogram
}

func newProbeHistogramVec(o prometheus.HistogramOpts, labels []string) *probeHistogramVec {
	return &probeHistogramVec{
		desc:     prometheus.NewDesc(prometheus.BuildFQName(o.Namespace, o.Subsystem, o.Name), o.Help, labels, nil),
		names:    labels,
		bounds:   o.Buckets,
		schema:   nativeSchema(o.NativeHistogramBucketFactor),
		maxSpan:  int(o.NativeHistogramMaxBucketNumber),
		children: map[string]*probeHistogram{},
	}
}

// nativeSchema is the largest schema (-4 to 8) whose bucket growth factor
// 2^(2^-schema) is at most factor, as client_golang picks it.
func nativeSchema(factor float64) int32 {
	f := math.Floor(math.Log2(math.Log2(factor)))
	return int32(min(max(-f, -4), 8))
}

// WithLabelValues returns the series of these label values, creating it.
func (v *probeHistogramVec) WithLabelValues(lvs ...string) *probeHistogram {
	key := strings.Join(lvs, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	if h, ok := v.children[key]; ok {
		return h
	}
	h := &probeHistogram{
		vec:     v,
		values:  slices.Clone(lvs),
		classic: make([]uint64, len(v.bounds)),
		schema:  v.schema,
		created: time.Now(),
	}
	for i, n := range v.names {
		h.labels = append(h.labels, &dto.LabelPair{Name: proto.String(n), Value: proto.String(lvs[i])})
	}
	// The registry expects label pairs sorted by name.
	slices.SortFunc(h.labels, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	v.children[key] = h
	return h
}

// deletePartialMatch drops every series whose labels include these.
func (v *probeHistogramVec) deletePartialMatch(l prometheus.Labels) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, h := range v.children {
		if h.matches(l) {
			delete(v.children, k)
		}
	}
}

// Describe implements prometheus.Collector.
func (v *probeHistogramVec) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

// Collect implements prometheus.Collector.
func (v *probeHistogramVec) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	hs := make([]*probeHistogram, 0, len(v.children))
	for _, h := range v.children {
		hs = append(hs, h)
	}
	v.mu.Unlock()
	for _, h := range hs {
		ch <- h
	}
}

// appendMetrics appends the series, sorted by label values, built in a.
func (v *probeHistogramVec) appendMetrics(ms []*dto.Metric, a *exposition.Arena) []*dto.Metric {
	v.mu.Lock()
	keys := make([]string, 0, len(v.children))
	for k := range v.children {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	hs := make([]*probeHistogram, len(keys))
	for i, k := range keys {
		hs[i] = v.children[k]
	}
	v.mu.Unlock()
	for _, h := range hs {
		m := a.Metric()
		h.write(m, a)
		ms = append(ms, m)
	}
	return ms
}

// probeHistogram is one series: classic buckets and a native histogram
// whose buckets are counted densely from the lowest used index.
type probeHistogram struct {
	vec     *probeHistogramVec
	values  []string
	labels  []*dto.LabelPair
	created time.Time

	mu      sync.Mutex
	count   uint64
	sum     float64
	classic []uint64 // per upper bound, not cumulative
	schema  int32
	zero    uint64
	first   int      // native index of native[0]
	native  []uint64 // positive buckets first..first+len-1
}

func (h *probeHistogram) matches(l prometheus.Labels) bool {
	for name, val := range l {
		i := slices.Index(h.vec.names, name)
		if i < 0 || h.values[i] != val {
			return false
		}
	}
	return true
}

// Observe records a latency in seconds. Latencies are never negative, so
// the native histogram has positive buckets only: anything not above the
// zero threshold is in the zero bucket. NaN is not recorded.
func (h *probeHistogram) Observe(v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if math.IsNaN(v) {
		return
	}
	h.count++
	h.sum += v
	if i, _ := slices.BinarySearch(h.vec.bounds, v); i < len(h.classic) {
		h.classic[i]++
	}
	if v <= nativeZeroThreshold {
		h.zero++
		return
	}
	h.add(nativeIndex(v, h.schema))
}

// add counts one observation in native bucket i, lowering the schema while
// the used range would be wider than the vector's maximum.
func (h *probeHistogram) add(i int) {
	for len(h.native) > 0 {
		lo, hi := min(h.first, i), max(h.first+len(h.native)-1, i)
		if h.vec.maxSpan <= 0 || hi-lo < h.vec.maxSpan || h.schema <= -4 {
			break
		}
		h.halve()
		i = (i + 1) >> 1
	}
	switch {
	case len(h.native) == 0:
		h.first, h.native = i, []uint64{0}
	case i < h.first:
		h.native = append(make([]uint64, h.first-i), h.native...)
		h.first = i
	case i >= h.first+len(h.native):
		h.native = append(h.native, make([]uint64, i-h.first-len(h.native)+1)...)
	}
	h.native[i-h.first]++
}

// halve merges pairs of buckets: schema s's buckets 2k-1 and 2k are
// schema s-1's bucket k.
func (h *probeHistogram) halve() {
	first := (h.first + 1) >> 1
	last := (h.first + len(h.native)) >> 1 // of the last index, (i+1)>>1
	merged := make([]uint64, last-first+1)
	for j, n := range h.native {
		merged[((h.first+j+1)>>1)-first] += n
	}
	h.first, h.native = first, merged
	h.schema--
}

// nativeBounds[s] are, for schema s > 0, the 2^s bucket boundaries within
// one power of two, as fractions in [0.5, 1): 2^(j/2^s) / 2. Computed once;
// never written after.
var nativeBounds = func() (b [9][]float64) {
	for s := 1; s <= 8; s++ {
		n := 1 << s
		b[s] = make([]float64, n)
		for j := range n {
			b[s][j] = math.Exp2(float64(j)/float64(n)) / 2
		}
	}
	return b
}()

// nativeIndex is the index of the native bucket holding v > 0 at schema s:
// bucket i holds (2^((i-1)/2^s), 2^(i/2^s)].
func nativeIndex(v float64, s int32) int {
	frac, exp := math.Frexp(v) // v = frac * 2^exp, frac in [0.5, 1)
	if s > 0 {
		b := nativeBounds[s]
		j, _ := slices.BinarySearch(b, frac)
		return j + (exp-1)*len(b)
	}
	i := exp
	if frac == 0.5 {
		i-- // an exact power of two is the upper bound of the bucket below
	}
	off := (1 << -s) - 1
	return (i + off) >> -s
}

// Desc implements prometheus.Metric.
func (h *probeHistogram) Desc() *prometheus.Desc { return h.vec.desc }

// Write implements prometheus.Metric.
func (h *probeHistogram) Write(out *dto.Metric) error {
	h.write(out, exposition.NewKeepingArena())
	return nil
}

// write fills out from a: classic buckets cumulative, native buckets as
// spans and deltas, small gaps (one or two empty buckets) kept inside a
// span as client_golang does.
func (h *probeHistogram) write(out *dto.Metric, a *exposition.Arena) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hist := a.Histogram()
	hist.SampleCount, hist.SampleSum = a.Uint(h.count), a.Float(h.sum)
	hist.CreatedTimestamp = a.Timestamp(h.created.Unix(), int32(h.created.Nanosecond()))
	hist.Schema, hist.ZeroThreshold, hist.ZeroCount = a.Int32(h.schema), a.Float(nativeZeroThreshold), a.Uint(h.zero)
	if len(h.classic) > 0 {
		hist.Bucket = a.Buckets(len(h.classic))
		var cum uint64
		for i, n := range h.classic {
			cum += n
			*hist.Bucket[i].CumulativeCount, *hist.Bucket[i].UpperBound = cum, h.vec.bounds[i]
		}
	}
	// Two passes over the buckets: the first counts the spans and deltas,
	// so that the second writes them into slices of the right length.
	var nspans, ndeltas int
	h.eachNative(func(gap int, _ uint64, newSpan bool) {
		if newSpan {
			nspans++
		} else {
			ndeltas += gap
		}
		ndeltas++
	})
	if nspans > 0 {
		hist.PositiveSpan, hist.PositiveDelta = a.Spans(nspans), a.Deltas(ndeltas)[:0]
		var prev uint64
		s := -1
		h.eachNative(func(gap int, n uint64, newSpan bool) {
			if newSpan {
				s++
				hist.PositiveSpan[s] = a.Span(int32(gap), 0)
			} else {
				for range gap {
					*hist.PositiveSpan[s].Length++
					hist.PositiveDelta = append(hist.PositiveDelta, -int64(prev))
					prev = 0
				}
			}
			*hist.PositiveSpan[s].Length++
			hist.PositiveDelta = append(hist.PositiveDelta, int64(n)-int64(prev))
			prev = n
		})
	}
	out.Label = h.labels
	out.Histogram = hist
}

// eachNative calls fn for every used native bucket in order with its count,
// the number of empty buckets since the previous used one (from the span
// start for the first), and whether it starts a span: the first does, and
// so does one after more than two empty buckets.
func (h *probeHistogram) eachNative(fn func(gap int, n uint64, newSpan bool)) {
	next, first := 0, true // the index after the last one written
	for j, n := range h.native {
		if n == 0 {
			continue
		}
		i := h.first + j
		gap := i - next
		fn(gap, n, first || gap > 2)
		first, next = false, i+1
	}
}
