package exposition

import (
	"bytes"
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/proto"
)

func pairs(nv ...string) []*dto.LabelPair {
	var out []*dto.LabelPair
	for i := 0; i < len(nv); i += 2 {
		out = append(out, &dto.LabelPair{Name: proto.String(nv[i]), Value: proto.String(nv[i+1])})
	}
	return out
}

// textFamilies are families appendText writes itself: every float form
// (whole, tiny, huge, negative zero, NaN, infinities), escapes in HELP and
// label values, counters with and without _total, histograms with and
// without the +Inf bucket, with and without labels.
func textFamilies() []*dto.MetricFamily {
	gauge := func(v float64, l []*dto.LabelPair) *dto.Metric {
		return &dto.Metric{Label: l, Gauge: &dto.Gauge{Value: proto.Float64(v)}}
	}
	var gauges []*dto.Metric
	for i, v := range []float64{0, math.Copysign(0, -1), 1, -1, 2, 0.5, 1e-9, 123456789, 1e21, 5e6, -3.25, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64} {
		gauges = append(gauges, gauge(v, pairs("i", string(rune('a'+i)), "quoted", "a \"b\" \\c\nd")))
	}
	return []*dto.MetricFamily{
		{Name: proto.String("g"), Help: proto.String("Help \\ with \"quotes\"\nand a newline."), Type: dto.MetricType_GAUGE.Enum(), Metric: gauges},
		{Name: proto.String("nohelp"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{gauge(7, nil)}},
		{Name: proto.String("c_total"), Help: proto.String("c."), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{
			{Counter: &dto.Counter{Value: proto.Float64(42)}},
			{Label: pairs("x", ""), Counter: &dto.Counter{Value: proto.Float64(0.25)}},
		}},
		{Name: proto.String("c_without_suffix"), Help: proto.String("c."), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{
			{Counter: &dto.Counter{Value: proto.Float64(3)}},
		}},
		{Name: proto.String("h_seconds"), Help: proto.String("h."), Type: dto.MetricType_HISTOGRAM.Enum(), Metric: []*dto.Metric{
			{Label: pairs("a", "1", "b", "2"), Histogram: &dto.Histogram{SampleCount: proto.Uint64(1 << 40), SampleSum: proto.Float64(12.5),
				Bucket: []*dto.Bucket{
					{CumulativeCount: proto.Uint64(3), UpperBound: proto.Float64(0.01)},
					{CumulativeCount: proto.Uint64(1 << 40), UpperBound: proto.Float64(1)},
				}}},
			{Histogram: &dto.Histogram{SampleCount: proto.Uint64(5), SampleSum: proto.Float64(0),
				Bucket: []*dto.Bucket{{CumulativeCount: proto.Uint64(5), UpperBound: proto.Float64(math.Inf(1))}},
				// Native parts and a created timestamp: not in these formats.
				Schema: proto.Int32(3), ZeroThreshold: proto.Float64(1e-128), ZeroCount: proto.Uint64(0),
				PositiveSpan: []*dto.BucketSpan{{Offset: proto.Int32(-3), Length: proto.Uint32(1)}}, PositiveDelta: []int64{5},
			}},
			{Label: pairs("native", "only"), Histogram: &dto.Histogram{SampleCount: proto.Uint64(0), SampleSum: proto.Float64(0)}},
		}},
	}
}

// TestAppendTextMatchesExpfmt: appendText writes what client_golang's text
// and OpenMetrics encoders write, byte for byte, and leaves to them what
// it does not write.
func TestAppendTextMatchesExpfmt(t *testing.T) {
	for _, om := range []bool{false, true} {
		for _, mf := range textFamilies() {
			var want bytes.Buffer
			var err error
			if om {
				_, err = expfmt.MetricFamilyToOpenMetrics(&want, mf)
			} else {
				_, err = expfmt.MetricFamilyToText(&want, mf)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := appendText([]byte("prefix"), mf, om)
			if !ok {
				t.Errorf("om=%v %s: left to expfmt, want written here", om, mf.GetName())
				continue
			}
			if got := string(got[len("prefix"):]); got != want.String() {
				t.Errorf("om=%v %s:\n got %q\nwant %q", om, mf.GetName(), got, want.String())
			}
		}
	}
	// Left to expfmt: what these formats write differently or the
	// monitor never writes.
	for _, mf := range []*dto.MetricFamily{
		{Name: proto.String("s"), Type: dto.MetricType_SUMMARY.Enum(), Metric: []*dto.Metric{{Summary: &dto.Summary{}}}},
		{Name: proto.String("u"), Type: dto.MetricType_UNTYPED.Enum(), Metric: []*dto.Metric{{Untyped: &dto.Untyped{Value: proto.Float64(1)}}}},
		{Name: proto.String("t"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}, TimestampMs: proto.Int64(5)}}},
		{Name: proto.String("unit_seconds"), Unit: proto.String("seconds"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}}}},
		{Name: proto.String("dotted.name"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Gauge: &dto.Gauge{Value: proto.Float64(1)}}}},
		{Name: proto.String("l"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Label: pairs("dotted.label", "x"), Gauge: &dto.Gauge{Value: proto.Float64(1)}}}},
		{Name: proto.String("e_total"), Type: dto.MetricType_COUNTER.Enum(), Metric: []*dto.Metric{{Counter: &dto.Counter{Value: proto.Float64(1), Exemplar: &dto.Exemplar{Value: proto.Float64(1)}}}}},
		{Name: proto.String("f"), Type: dto.MetricType_HISTOGRAM.Enum(), Metric: []*dto.Metric{{Histogram: &dto.Histogram{SampleCountFloat: proto.Float64(1.5)}}}},
		{Name: proto.String("empty"), Type: dto.MetricType_GAUGE.Enum()},
		{Name: proto.String("mismatch"), Type: dto.MetricType_GAUGE.Enum(), Metric: []*dto.Metric{{Counter: &dto.Counter{}}}},
	} {
		if b, ok := appendText([]byte("prefix"), mf, false); ok || string(b) != "prefix" {
			t.Errorf("%s: written here (%q), want it left to expfmt", mf.GetName(), b)
		}
	}
}

// Through the Encoder: the registry's own families (the Go collector's
// summary among them) and the plain ones in one stream, for each format,
// the same as client_golang's encoder writes the same stream.
func TestEncoderTextMatchesExpfmt(t *testing.T) {
	mfs := append(textFamilies(), registryFamilies(t)...)
	for _, f := range []expfmt.Format{
		expfmt.NewFormat(expfmt.TypeTextPlain),
		expfmt.NewFormat(expfmt.TypeOpenMetrics),
		expfmt.Format("application/openmetrics-text; version=0.0.1; charset=utf-8; escaping=underscores"),
	} {
		var got, want bytes.Buffer
		enc, ref := NewEncoder(&got, f), expfmt.NewEncoder(&want, f)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
			if err := ref.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
		if err := enc.Close(); err != nil {
			t.Fatal(err)
		}
		if c, ok := ref.(expfmt.Closer); ok {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if got.String() != want.String() {
			t.Errorf("%s: differs from expfmt's encoder (%d bytes, want %d)", f, got.Len(), want.Len())
		}
	}
}
