package exposition

import (
	"math"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Why the protobuf format is encoded here: the protobuf library marshals a
// family through reflection-driven tables, which for a fleet's 10 MB scrape
// was a third of the scrape's CPU, five times what these few lines take.
// The messages are client_model's metrics.proto; the output is what
// proto.Marshal writes for them, byte for byte (fields in number order,
// shortest varints, proto2 optional fields present when set, repeated
// scalars unpacked), which TestAppendFamilyMatchesProto checks. Families
// with parts written rarely and never by the monitor's own collectors
// (summaries, exemplars, unknown fields) go through proto.Marshal.

// Field numbers of metrics.proto.
const (
	mfName, mfHelp, mfType, mfMetric, mfUnit = 1, 2, 3, 4, 5

	mLabel, mGauge, mCounter, mSummary, mUntyped, mTimestamp, mHistogram = 1, 2, 3, 4, 5, 6, 7

	lpName, lpValue = 1, 2

	valueField = 1 // Gauge.value, Counter.value, Untyped.value

	counterCreated = 3

	hCount, hSum, hBucket, hCountFloat, hSchema, hZeroThreshold, hZeroCount, hZeroCountFloat = 1, 2, 3, 4, 5, 6, 7, 8
	hNegSpan, hNegDelta, hNegCount, hPosSpan, hPosDelta, hPosCount, hCreated                 = 9, 10, 11, 12, 13, 14, 15

	bCount, bBound, bCountFloat = 1, 2, 4

	spanOffset, spanLength = 1, 2

	tsSeconds, tsNanos = 1, 2
)

// AppendDelimited appends mf as the delimited protobuf format writes it:
// its length as a varint, then the message.
func AppendDelimited(b []byte, mf *dto.MetricFamily) ([]byte, error) {
	if !plain(mf) {
		msg, err := proto.Marshal(mf)
		if err != nil {
			return b, err
		}
		b = protowire.AppendVarint(b, uint64(len(msg)))
		return append(b, msg...), nil
	}
	// Room for the length of a family of up to 2 MB; a larger one is
	// moved once.
	start := len(b)
	return prefixLength(appendFamily(append(b, 0, 0, 0), mf), start, 3), nil
}

// plain: mf has nothing appendFamily leaves out.
func plain(mf *dto.MetricFamily) bool {
	if len(mf.ProtoReflect().GetUnknown()) > 0 {
		return false
	}
	for _, m := range mf.Metric {
		if m.Summary != nil || len(m.ProtoReflect().GetUnknown()) > 0 {
			return false
		}
		if c := m.Counter; c != nil && (c.Exemplar != nil || len(c.ProtoReflect().GetUnknown()) > 0) {
			return false
		}
		if h := m.Histogram; h != nil {
			if len(h.Exemplars) > 0 || len(h.ProtoReflect().GetUnknown()) > 0 {
				return false
			}
			for _, bk := range h.Bucket {
				if bk.Exemplar != nil {
					return false
				}
			}
		}
	}
	return true
}

func appendFamily(b []byte, mf *dto.MetricFamily) []byte {
	b = optString(b, mfName, mf.Name)
	b = optString(b, mfHelp, mf.Help)
	if mf.Type != nil {
		b = protowire.AppendTag(b, mfType, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(*mf.Type)))
	}
	for _, m := range mf.Metric {
		b = message(b, mfMetric, func(b []byte) []byte { return appendMetric(b, m) })
	}
	return optString(b, mfUnit, mf.Unit)
}

func appendMetric(b []byte, m *dto.Metric) []byte {
	for _, lp := range m.Label {
		b = message(b, mLabel, func(b []byte) []byte {
			return optString(optString(b, lpName, lp.Name), lpValue, lp.Value)
		})
	}
	if m.Gauge != nil {
		b = message(b, mGauge, func(b []byte) []byte { return optDouble(b, valueField, m.Gauge.Value) })
	}
	if c := m.Counter; c != nil {
		b = message(b, mCounter, func(b []byte) []byte {
			return timestamp(optDouble(b, valueField, c.Value), counterCreated, c.CreatedTimestamp)
		})
	}
	if m.Untyped != nil {
		b = message(b, mUntyped, func(b []byte) []byte { return optDouble(b, valueField, m.Untyped.Value) })
	}
	if m.TimestampMs != nil {
		b = protowire.AppendTag(b, mTimestamp, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(*m.TimestampMs))
	}
	if m.Histogram != nil {
		b = message(b, mHistogram, func(b []byte) []byte { return appendHistogram(b, m.Histogram) })
	}
	return b
}

func appendHistogram(b []byte, h *dto.Histogram) []byte {
	b = optUint(b, hCount, h.SampleCount)
	b = optDouble(b, hSum, h.SampleSum)
	for _, bk := range h.Bucket {
		b = message(b, hBucket, func(b []byte) []byte {
			return optDouble(optDouble(optUint(b, bCount, bk.CumulativeCount), bBound, bk.UpperBound), bCountFloat, bk.CumulativeCountFloat)
		})
	}
	b = optDouble(b, hCountFloat, h.SampleCountFloat)
	if h.Schema != nil {
		b = protowire.AppendTag(b, hSchema, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(*h.Schema)))
	}
	b = optDouble(b, hZeroThreshold, h.ZeroThreshold)
	b = optUint(b, hZeroCount, h.ZeroCount)
	b = optDouble(b, hZeroCountFloat, h.ZeroCountFloat)
	b = spans(b, hNegSpan, h.NegativeSpan)
	b = zigzags(b, hNegDelta, h.NegativeDelta)
	b = doubles(b, hNegCount, h.NegativeCount)
	b = spans(b, hPosSpan, h.PositiveSpan)
	b = zigzags(b, hPosDelta, h.PositiveDelta)
	b = doubles(b, hPosCount, h.PositiveCount)
	return timestamp(b, hCreated, h.CreatedTimestamp)
}

func spans(b []byte, num protowire.Number, ss []*dto.BucketSpan) []byte {
	for _, s := range ss {
		b = message(b, num, func(b []byte) []byte {
			if s.Offset != nil {
				b = protowire.AppendTag(b, spanOffset, protowire.VarintType)
				b = protowire.AppendVarint(b, protowire.EncodeZigZag(int64(*s.Offset)))
			}
			if s.Length != nil {
				b = protowire.AppendTag(b, spanLength, protowire.VarintType)
				b = protowire.AppendVarint(b, uint64(*s.Length))
			}
			return b
		})
	}
	return b
}

func zigzags(b []byte, num protowire.Number, vs []int64) []byte {
	for _, v := range vs {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(v))
	}
	return b
}

func doubles(b []byte, num protowire.Number, vs []float64) []byte {
	for _, v := range vs {
		b = protowire.AppendTag(b, num, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(v))
	}
	return b
}

// timestamp appends a google.protobuf.Timestamp (proto3: zero fields are
// left out, an empty message is still written).
func timestamp(b []byte, num protowire.Number, t *timestamppb.Timestamp) []byte {
	if t == nil {
		return b
	}
	return message(b, num, func(b []byte) []byte {
		if t.Seconds != 0 {
			b = protowire.AppendTag(b, tsSeconds, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(t.Seconds))
		}
		if t.Nanos != 0 {
			b = protowire.AppendTag(b, tsNanos, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(int64(t.Nanos)))
		}
		return b
	})
}

func optString(b []byte, num protowire.Number, s *string) []byte {
	if s == nil {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, *s)
}

func optDouble(b []byte, num protowire.Number, v *float64) []byte {
	if v == nil {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(*v))
}

func optUint(b []byte, num protowire.Number, v *uint64) []byte {
	if v == nil {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, *v)
}

// message appends field num holding the message body writes. The body is
// written first, after one byte for its length: most messages (a label, a
// bucket, a span) are shorter than 128 bytes, whose length is one byte;
// a longer body is moved up to make room. A pass to compute sizes first
// would walk every message twice.
func message(b []byte, num protowire.Number, body func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	b = body(append(b, 0))
	n := len(b) - start - 1
	if n < 0x80 {
		b[start] = byte(n)
		return b
	}
	return prefixLength(b, start, 1)
}

// prefixLength writes at start the varint length of what follows the
// reserved bytes there, moving it as the length needs more or fewer.
func prefixLength(b []byte, start, reserved int) []byte {
	n := len(b) - start - reserved
	l := protowire.SizeVarint(uint64(n))
	if l > reserved {
		b = append(b, make([]byte, l-reserved)...)
	}
	copy(b[start+l:], b[start+reserved:start+reserved+n])
	protowire.AppendVarint(b[start:start], uint64(n))
	return b[:start+l+n]
}
