package exposition

import (
	"bytes"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// every is a family with every field AppendDelimited writes itself set,
// zero values included (a proto2 optional field set to zero is written).
func every() *dto.MetricFamily {
	return &dto.MetricFamily{
		Name: proto.String("every_field"), Help: proto.String("Help with \"quotes\", \\ and é."), Type: dto.MetricType_HISTOGRAM.Enum(),
		Unit: proto.String("seconds"),
		Metric: []*dto.Metric{
			{
				Label:       []*dto.LabelPair{{Name: proto.String("a"), Value: proto.String("")}, {Name: proto.String("b"), Value: proto.String("x\ny")}},
				TimestampMs: proto.Int64(-5),
				Histogram: &dto.Histogram{
					SampleCount: proto.Uint64(0), SampleCountFloat: proto.Float64(3.5), SampleSum: proto.Float64(-0.0),
					Bucket: []*dto.Bucket{
						{CumulativeCount: proto.Uint64(1), UpperBound: proto.Float64(0.1)},
						{CumulativeCountFloat: proto.Float64(2.5), UpperBound: proto.Float64(1e300)},
						{},
					},
					Schema: proto.Int32(-3), ZeroThreshold: proto.Float64(1e-128), ZeroCount: proto.Uint64(1 << 40), ZeroCountFloat: proto.Float64(0),
					NegativeSpan:     []*dto.BucketSpan{{Offset: proto.Int32(-7), Length: proto.Uint32(2)}, {Offset: proto.Int32(0)}, {}},
					NegativeDelta:    []int64{-1, 1 << 50, 0},
					NegativeCount:    []float64{0.5, 0},
					PositiveSpan:     []*dto.BucketSpan{{Offset: proto.Int32(1 << 20), Length: proto.Uint32(1 << 31)}},
					PositiveDelta:    []int64{-(1 << 62)},
					PositiveCount:    []float64{1e-300},
					CreatedTimestamp: &timestamppb.Timestamp{Seconds: 1795780800, Nanos: 999999999},
				},
			},
			{Histogram: &dto.Histogram{CreatedTimestamp: &timestamppb.Timestamp{}}},
			{Histogram: &dto.Histogram{CreatedTimestamp: &timestamppb.Timestamp{Seconds: -1, Nanos: -5}}},
			{Gauge: &dto.Gauge{Value: proto.Float64(0)}},
			{Gauge: &dto.Gauge{}},
			{Counter: &dto.Counter{Value: proto.Float64(7), CreatedTimestamp: &timestamppb.Timestamp{Seconds: 3}}},
			{Untyped: &dto.Untyped{Value: proto.Float64(-2)}},
			{Label: []*dto.LabelPair{{}}},
		},
	}
}

// registryFamilies are what client_golang's own collectors write: the Go
// and process collectors, a native histogram with negative and zero
// observations, a summary and a counter with an exemplar (both through
// proto.Marshal).
func registryFamilies(t *testing.T) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h_seconds", Help: "h.", Buckets: []float64{-1, 0, 1},
		NativeHistogramBucketFactor: 1.1}, []string{"l"})
	for i, v := range []float64{-3, -0.001, 0, 0, 1e-9, 0.5, 2, 1000} {
		h.WithLabelValues([]string{"x", "y"}[i%2]).Observe(v)
	}
	s := prometheus.NewSummary(prometheus.SummaryOpts{Name: "s", Help: "s.", Objectives: map[float64]float64{0.5: 0.05}})
	s.Observe(1)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "c_total", Help: "c."})
	c.(prometheus.ExemplarAdder).AddWithExemplar(1, prometheus.Labels{"trace_id": "abc"})
	reg.MustRegister(h, s, c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// TestAppendFamilyMatchesProto: AppendDelimited writes what the protobuf
// library's delimited marshalling writes, byte for byte.
func TestAppendFamilyMatchesProto(t *testing.T) {
	mfs := append([]*dto.MetricFamily{every(), {}, {Name: proto.String("empty")}}, registryFamilies(t)...)
	// Summaries and exemplars go through proto.Marshal (the Go collector
	// has a summary); everything else is written here.
	viaProto := map[string]bool{"s": true, "c_total": true, "go_gc_duration_seconds": true}
	for _, mf := range mfs {
		var want bytes.Buffer
		if _, err := protodelim.MarshalTo(&want, mf); err != nil {
			t.Fatal(err)
		}
		got, err := AppendDelimited([]byte("prefix"), mf)
		if err != nil {
			t.Fatalf("%s: %v", mf.GetName(), err)
		}
		if !bytes.HasPrefix(got, []byte("prefix")) || !bytes.Equal(got[len("prefix"):], want.Bytes()) {
			t.Errorf("%s: %d bytes written, the protobuf library writes %d (or they differ)", mf.GetName(), len(got)-len("prefix"), want.Len())
		}
		if plain(mf) == viaProto[mf.GetName()] {
			t.Errorf("%s: written without proto.Marshal %v, want %v", mf.GetName(), plain(mf), !viaProto[mf.GetName()])
		}
	}
}

// BenchmarkAppendDelimited compares AppendDelimited with the protobuf
// library on a family of 3,000 native histograms.
func BenchmarkAppendDelimited(b *testing.B) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h_seconds", Help: "h.", Buckets: []float64{.01, .05, .1, 1},
		NativeHistogramBucketFactor: 1.1}, []string{"cluster", "member"})
	for i := range 3000 {
		o := h.WithLabelValues(string(rune('a'+i%26)), string(rune('a'+i/26%26))+string(rune('a'+i/676)))
		for j := range 300 {
			o.Observe(0.001 * float64(1+(i*j)%97))
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(h)
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	mf := mfs[0]
	b.Run("own", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf, _ = AppendDelimited(buf[:0], mf)
		}
		b.SetBytes(int64(len(buf)))
	})
	b.Run("protodelim", func(b *testing.B) {
		var buf bytes.Buffer
		for b.Loop() {
			buf.Reset()
			_, _ = protodelim.MarshalTo(&buf, mf)
		}
		b.SetBytes(int64(buf.Len()))
	})
}
