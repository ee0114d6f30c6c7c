// Package exposition writes metric families to a scrape one family at a
// time: the formats Prometheus negotiates, with the delimited protobuf
// format (what Prometheus 3 asks for when it scrapes native histograms),
// text 0.0.4 and OpenMetrics 1.0 encoded here for speed, and an Arena to
// build each family's messages in memory that the next family reuses.
package exposition

import (
	"io"
	"mime"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Encoder writes families in one format: the protobuf format with
// AppendDelimited, text 0.0.4 and OpenMetrics 1.0 with appendText, and
// what those leave (and other versions) with client_golang's encoders.
type Encoder struct {
	w      io.Writer
	scheme model.EscapingScheme
	expfmt expfmt.Encoder // nil for the protobuf format
	text   textFormat
	buf    []byte // one family at a time
}

type textFormat int

const (
	notText textFormat = iota
	text004
	openMetrics10
)

// NewEncoder returns an encoder of format f writing to w.
func NewEncoder(w io.Writer, f expfmt.Format) *Encoder {
	e := &Encoder{}
	e.Reset(w, f)
	return e
}

// Reset makes e an encoder of format f writing to w, keeping the buffer it
// has grown to (a scrape's largest family).
func (e *Encoder) Reset(w io.Writer, f expfmt.Format) {
	e.w, e.scheme, e.expfmt, e.text = w, f.ToEscapingScheme(), nil, notText
	if f.FormatType() != expfmt.TypeProtoDelim {
		e.expfmt = expfmt.NewEncoder(w, f)
	}
	switch f.FormatType() {
	case expfmt.TypeTextPlain:
		e.text = text004
	case expfmt.TypeOpenMetrics:
		if _, params, err := mime.ParseMediaType(string(f)); err == nil && (params["version"] == "1.0.0" || params["version"] == "0.0.1") {
			e.text = openMetrics10
		}
	}
}

// Encode writes one family. A family must be written whole, in one call.
func (e *Encoder) Encode(mf *dto.MetricFamily) error {
	if e.text != notText {
		// A family appendText writes has legacy names only, which no
		// escaping scheme changes.
		buf, ok := appendText(e.buf[:0], mf, e.text == openMetrics10)
		if ok {
			e.buf = buf
			_, err := e.w.Write(buf)
			return err
		}
	}
	if e.expfmt != nil {
		return e.expfmt.Encode(mf)
	}
	var err error
	e.buf, err = AppendDelimited(e.buf[:0], model.EscapeMetricFamily(mf, e.scheme))
	if err != nil {
		return err
	}
	_, err = e.w.Write(e.buf)
	return err
}

// Close ends the exposition (OpenMetrics' "# EOF").
func (e *Encoder) Close() error {
	if c, ok := e.expfmt.(expfmt.Closer); ok {
		return c.Close()
	}
	return nil
}
