package exposition

import (
	"bytes"
	"math"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
)

// Why the text formats are written here too: client_golang's text encoders
// concatenate a name per sample line and escape every label value through
// a strings.Replacer, which made a fleet's text scrape twice as dear as its
// protobuf one. appendText writes what expfmt.MetricFamilyToText (text
// 0.0.4) and MetricFamilyToOpenMetrics (OpenMetrics 1.0, without created
// lines, as /metrics serves it) write, byte for byte
// (TestAppendTextMatchesExpfmt), for the families the monitor writes:
// counters, gauges and histograms with legacy names. Anything else (a
// summary, an exemplar, a timestamp, a unit, a float histogram, a name
// that needs quoting) is left to expfmt.

// appendText appends mf in the text format, or OpenMetrics 1.0 with om; ok
// is false, and b unchanged, for a family it leaves to expfmt.
func appendText(b []byte, mf *dto.MetricFamily, om bool) (_ []byte, ok bool) {
	if !textPlain(mf) {
		return b, false
	}
	name, typ := mf.GetName(), mf.GetType()
	typeName := name // the name of the HELP and TYPE lines
	sampleName := name
	if om && typ == dto.MetricType_COUNTER && strings.HasSuffix(name, "_total") {
		typeName = strings.TrimSuffix(name, "_total")
	}
	if mf.Help != nil {
		b = append(b, "# HELP "...)
		b = append(b, typeName...)
		b = append(b, ' ')
		b = appendEscaped(b, *mf.Help, om) // OpenMetrics escapes quotes in HELP too
		b = append(b, '\n')
	}
	b = append(b, "# TYPE "...)
	b = append(b, typeName...)
	switch {
	case typ == dto.MetricType_GAUGE:
		b = append(b, " gauge\n"...)
	case typ == dto.MetricType_HISTOGRAM:
		b = append(b, " histogram\n"...)
	case om && !strings.HasSuffix(name, "_total"):
		b = append(b, " unknown\n"...) // OpenMetrics counters end in _total
	default:
		b = append(b, " counter\n"...)
	}
	for _, m := range mf.Metric {
		switch typ {
		case dto.MetricType_GAUGE:
			b = appendSample(b, sampleName, "", m.Label, "", m.Gauge.GetValue(), om)
		case dto.MetricType_COUNTER:
			b = appendSample(b, sampleName, "", m.Label, "", m.Counter.GetValue(), om)
		case dto.MetricType_HISTOGRAM:
			b = appendHistogramText(b, name, m, om)
		}
	}
	return b, true
}

// textPlain: mf has nothing appendText leaves out.
func textPlain(mf *dto.MetricFamily) bool {
	switch mf.GetType() {
	case dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_HISTOGRAM:
	default:
		return false
	}
	if len(mf.Metric) == 0 || mf.Unit != nil || !model.IsValidLegacyMetricName(mf.GetName()) {
		return false
	}
	for _, m := range mf.Metric {
		if m.TimestampMs != nil {
			return false
		}
		for _, lp := range m.Label {
			if !model.LegacyValidation.IsValidLabelName(lp.GetName()) {
				return false
			}
		}
		switch mf.GetType() {
		case dto.MetricType_GAUGE:
			if m.Gauge == nil {
				return false
			}
		case dto.MetricType_COUNTER:
			if m.Counter == nil || m.Counter.Exemplar != nil {
				return false
			}
		case dto.MetricType_HISTOGRAM:
			h := m.Histogram
			if h == nil || h.GetSampleCountFloat() != 0 {
				return false
			}
			for _, bk := range h.Bucket {
				if bk.GetCumulativeCountFloat() != 0 || bk.Exemplar != nil {
					return false
				}
			}
		}
	}
	return true
}

func appendHistogramText(b []byte, name string, m *dto.Metric, om bool) []byte {
	h := m.Histogram
	count := func(b []byte, n uint64) []byte {
		if om {
			return strconv.AppendUint(b, n, 10)
		}
		return appendFloat(b, float64(n), false)
	}
	infSeen := false
	for _, bk := range h.Bucket {
		b = appendSampleStart(b, name, "_bucket", m.Label, "le", bk.GetUpperBound(), om)
		b = append(count(b, bk.GetCumulativeCount()), '\n')
		infSeen = infSeen || math.IsInf(bk.GetUpperBound(), +1)
	}
	if !infSeen {
		b = appendSampleStart(b, name, "_bucket", m.Label, "le", math.Inf(+1), om)
		b = append(count(b, h.GetSampleCount()), '\n')
	}
	b = appendSample(b, name, "_sum", m.Label, "", h.GetSampleSum(), om)
	b = appendSampleStart(b, name, "_count", m.Label, "", 0, om)
	return append(count(b, h.GetSampleCount()), '\n')
}

// appendSample appends one line with a float value.
func appendSample(b []byte, name, suffix string, labels []*dto.LabelPair, extra string, v float64, om bool) []byte {
	b = appendSampleStart(b, name, suffix, labels, extra, 0, om)
	return append(appendFloat(b, v, om), '\n')
}

// appendSampleStart appends a line's name, labels (and the extra label, le,
// with its float value) and the space before the value.
func appendSampleStart(b []byte, name, suffix string, labels []*dto.LabelPair, extra string, extraValue float64, om bool) []byte {
	b = append(append(b, name...), suffix...)
	if len(labels) > 0 || extra != "" {
		sep := byte('{')
		for _, lp := range labels {
			b = append(append(b, sep), lp.GetName()...)
			b = append(appendEscaped(append(b, '=', '"'), lp.GetValue(), true), '"')
			sep = ','
		}
		if extra != "" {
			b = append(append(b, sep), extra...)
			b = append(appendFloat(append(b, '=', '"'), extraValue, om), '"')
		}
		b = append(b, '}')
	}
	return append(b, ' ')
}

// appendEscaped escapes backslashes and newlines, and with quotes double
// quotes.
func appendEscaped(b []byte, s string, quotes bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quotes:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat writes a float as the text format does, or as OpenMetrics
// does (which marks a whole number as a float: 1.0, 5e+06 stays).
func appendFloat(b []byte, f float64, om bool) []byte {
	switch {
	case f == 0: // and -0, which strconv writes "-0"
		if om {
			return append(b, "0.0"...)
		}
		return append(b, '0')
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, 'g', -1, 64)
	if om && !bytes.ContainsAny(b[start:], "e.") {
		b = append(b, '.', '0')
	}
	return b
}
