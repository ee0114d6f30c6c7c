package exposition

import (
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Arena hands out the messages of one metric family and takes them all back
// at once (Reset). A scrape of a fleet writes some 100,000 series: built as
// fresh messages, each a handful of small allocations, they were most of a
// scrape's garbage (about 70 MB at 1,000 clusters) and the collector's work
// behind it. With an arena a scrape reuses the memory of its largest family.
//
// Messages from an arena are valid until the next Reset; nothing may keep
// them past it. The zero Arena is ready to use; an Arena is not safe for
// concurrent use.
type Arena struct {
	metrics    slab[dto.Metric]
	metricPtrs slab[*dto.Metric]
	pairs      slab[dto.LabelPair]
	pairPtrs   slab[*dto.LabelPair]
	strings    slab[string]
	gauges     slab[dto.Gauge]
	counters   slab[dto.Counter]
	histograms slab[dto.Histogram]
	buckets    slab[dto.Bucket]
	bucketPtrs slab[*dto.Bucket]
	spans      slab[dto.BucketSpan]
	spanPtrs   slab[*dto.BucketSpan]
	deltas     slab[int64]
	floats     slab[float64]
	uints      slab[uint64]
	int32s     slab[int32]
	uint32s    slab[uint32]
	times      slab[timestamppb.Timestamp]
	// keep: Reset does nothing, so messages stay valid for good (for a
	// registry's Collect, which hands them on to be read later).
	keep bool
}

// NewKeepingArena returns an arena whose Reset keeps everything: for code
// that must hand the messages on (prometheus.Collector.Collect).
func NewKeepingArena() *Arena {
	a := &Arena{keep: true}
	for _, s := range a.slabs() {
		s.setKeep()
	}
	return a
}

// Reset takes back every message handed out since the last Reset.
func (a *Arena) Reset() {
	if a == nil || a.keep {
		return
	}
	for _, s := range a.slabs() {
		s.reset()
	}
}

type anySlab interface {
	reset()
	setKeep()
}

func (a *Arena) slabs() []anySlab {
	return []anySlab{&a.metrics, &a.metricPtrs, &a.pairs, &a.pairPtrs, &a.strings, &a.gauges, &a.counters,
		&a.histograms, &a.buckets, &a.bucketPtrs, &a.spans, &a.spanPtrs, &a.deltas, &a.floats, &a.uints,
		&a.int32s, &a.uint32s, &a.times}
}

// Metric returns an empty metric.
func (a *Arena) Metric() *dto.Metric { return a.metrics.one() }

// Metrics returns a slice of n metric pointers, all nil, to fill.
func (a *Arena) Metrics(n int) []*dto.Metric { return a.metricPtrs.many(n) }

// Pair returns a label pair. The strings are referenced, not copied.
func (a *Arena) Pair(name, value string) *dto.LabelPair {
	p := a.pairs.one()
	p.Name, p.Value = a.String(name), a.String(value)
	return p
}

// Pairs returns a slice of n label pair pointers, all nil, to fill.
func (a *Arena) Pairs(n int) []*dto.LabelPair { return a.pairPtrs.many(n) }

// String returns a pointer to s.
func (a *Arena) String(s string) *string { return a.strings.of(s) }

// Gauge returns a gauge of value v.
func (a *Arena) Gauge(v float64) *dto.Gauge {
	g := a.gauges.one()
	g.Value = a.Float(v)
	return g
}

// Counter returns a counter of value v.
func (a *Arena) Counter(v float64) *dto.Counter {
	c := a.counters.one()
	c.Value = a.Float(v)
	return c
}

// Histogram returns an empty histogram.
func (a *Arena) Histogram() *dto.Histogram { return a.histograms.one() }

// Buckets returns n classic buckets, each with its count and bound set to
// zero, to fill in place.
func (a *Arena) Buckets(n int) []*dto.Bucket {
	out := a.bucketPtrs.many(n)
	for i := range out {
		b := a.buckets.one()
		b.CumulativeCount, b.UpperBound = a.Uint(0), a.Float(0)
		out[i] = b
	}
	return out
}

// Span returns a native bucket span.
func (a *Arena) Span(offset int32, length uint32) *dto.BucketSpan {
	s := a.spans.one()
	s.Offset, s.Length = a.Int32(offset), a.Uint32(length)
	return s
}

// Spans returns a slice of n span pointers, all nil, to fill.
func (a *Arena) Spans(n int) []*dto.BucketSpan { return a.spanPtrs.many(n) }

// Deltas returns n zero deltas, to fill.
func (a *Arena) Deltas(n int) []int64 { return a.deltas.many(n) }

// Float returns a pointer to v.
func (a *Arena) Float(v float64) *float64 { return a.floats.of(v) }

// Uint returns a pointer to v.
func (a *Arena) Uint(v uint64) *uint64 { return a.uints.of(v) }

// Int32 returns a pointer to v.
func (a *Arena) Int32(v int32) *int32 { return a.int32s.of(v) }

// Uint32 returns a pointer to v.
func (a *Arena) Uint32(v uint32) *uint32 { return a.uint32s.of(v) }

// Timestamp returns a timestamp of seconds and nanos.
func (a *Arena) Timestamp(seconds int64, nanos int32) *timestamppb.Timestamp {
	t := a.times.one()
	t.Seconds, t.Nanos = seconds, nanos
	return t
}

// slab hands out values of T from chunks it keeps across resets. Chunks
// are never grown in place, so a pointer handed out stays valid until the
// reset.
type slab[T any] struct {
	chunks [][]T
	c, i   int // the chunk in use and the next free index in it
	keep   bool
}

const (
	firstChunk = 64
	maxChunk   = 1 << 14
)

// one returns a zeroed value.
func (s *slab[T]) one() *T { return &s.many(1)[0] }

// of returns a pointer to a copy of v.
func (s *slab[T]) of(v T) *T {
	p := s.one()
	*p = v
	return p
}

// many returns n contiguous zeroed values (capacity n: an append copies).
// A keeping slab allocates each request on its own: its memory is never
// reused, and chunks would only hold it longer than the messages need.
func (s *slab[T]) many(n int) []T {
	if s.keep {
		return make([]T, n)
	}
	for ; s.c < len(s.chunks); s.c, s.i = s.c+1, 0 {
		if ch := s.chunks[s.c]; len(ch)-s.i >= n {
			out := ch[s.i : s.i+n : s.i+n]
			s.i += n
			clear(out)
			return out
		}
	}
	size := firstChunk << min(len(s.chunks), 8)
	size = max(min(size, maxChunk), n)
	s.chunks = append(s.chunks, make([]T, size))
	s.c, s.i = len(s.chunks)-1, n
	return s.chunks[s.c][:n:n]
}

func (s *slab[T]) reset()   { s.c, s.i = 0, 0 }
func (s *slab[T]) setKeep() { s.keep = true }
