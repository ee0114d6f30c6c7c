// Package exposition writes metric families to a scrape one family at a
// time: the formats Prometheus negotiates, with the delimited protobuf
// format (what Prometheus 3 asks for when it scrapes native histograms)
// encoded here for speed, and an Arena to build each family's messages in
// memory that the next family reuses.
package exposition

import (
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Encoder writes families in one format. Text and OpenMetrics are
// client_golang's encoders; the protobuf format is AppendDelimited's.
type Encoder struct {
	w      io.Writer
	scheme model.EscapingScheme
	expfmt expfmt.Encoder // nil for the protobuf format
	buf    []byte         // the protobuf format: one family at a time
}

// NewEncoder returns an encoder of format f writing to w.
func NewEncoder(w io.Writer, f expfmt.Format) *Encoder {
	e := &Encoder{}
	e.Reset(w, f)
	return e
}

// Reset makes e an encoder of format f writing to w, keeping the buffer it
// has grown to (a scrape's largest family).
func (e *Encoder) Reset(w io.Writer, f expfmt.Format) {
	e.w, e.scheme, e.expfmt = w, f.ToEscapingScheme(), nil
	if f.FormatType() != expfmt.TypeProtoDelim {
		e.expfmt = expfmt.NewEncoder(w, f)
	}
}

// Encode writes one family. A family must be written whole, in one call.
func (e *Encoder) Encode(mf *dto.MetricFamily) error {
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
