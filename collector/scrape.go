package collector

import (
	"io"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/etcd-monitor/etcd-monitor/internal/exposition"
)

// Scraper writes one scrape: some families first (the registry's own),
// then the fleet's, a family at a time. It keeps what a scrape grew (the
// arenas, the encoder's buffer) for the next one; it is not safe for
// concurrent use (pool one per scrape).
type Scraper struct {
	families familyWriter
	enc      exposition.Encoder
}

// Write writes first, then the families of snaps and probes, to w in
// format f, and ends the exposition (OpenMetrics' "# EOF"). each, if not
// nil, sees every family before it is encoded and leaves it out by
// returning false.
func (s *Scraper) Write(w io.Writer, f expfmt.Format, first []*dto.MetricFamily, snaps []*Snapshot, probes []*ProbeMetrics,
	each func(*dto.MetricFamily) bool) error {
	s.enc.Reset(w, f)
	encode := func(mf *dto.MetricFamily) error {
		if each != nil && !each(mf) {
			return nil
		}
		return s.enc.Encode(mf)
	}
	for _, mf := range first {
		if err := encode(mf); err != nil {
			return err
		}
	}
	if err := s.families.write(snaps, probes, encode); err != nil {
		return err
	}
	return s.enc.Close()
}
