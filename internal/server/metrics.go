package server

import (
	"bufio"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/etcd-monitor/etcd-monitor/collector"
)

// metricsHandler serves the telemetry path: the registry's families (the
// monitor's own: build, Go, process, reloads, scheduling), then the fleet's,
// written a family at a time (collector.Scraper) in the format the
// client negotiated. promhttp would gather every series of the fleet into
// memory first: at 1,000 clusters 70 MB of messages per scrape, checked and
// sorted, which took most of a scrape's time and raised the process's RSS
// by a fifth while Prometheus scraped (docs/performance-fleet.md).
type metricsHandler struct {
	reg     prometheus.Gatherer
	fleet   *fleet
	logger  *slog.Logger
	scrapes sync.Pool // *scrapeState
}

// scrapeState is what a scrape reuses of the previous one: the arenas and
// buffers grown to the fleet's largest family.
type scrapeState struct {
	scraper collector.Scraper
	bw      *bufio.Writer
}

func (h *metricsHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultOpenMetricsAcceptedFormats()...)
	w.Header().Add("Vary", "Accept")
	w.Header().Set("Content-Type", string(format))
	mfs, err := h.reg.Gather()
	if err != nil {
		// A broken metric of the registry must not hide the others.
		h.logger.Error("gathering the monitor's own metrics", "err", err)
		err = nil
	}
	st, _ := h.scrapes.Get().(*scrapeState)
	if st == nil {
		st = &scrapeState{bw: bufio.NewWriterSize(nil, 64<<10)}
	}
	defer h.scrapes.Put(st)
	st.bw.Reset(w)
	defer st.bw.Reset(nil)                // the pool must not keep the response
	var only func(*dto.MetricFamily) bool // promhttp's name[] filter
	if names := r.URL.Query()["name[]"]; len(names) > 0 {
		only = func(mf *dto.MetricFamily) bool { return slices.Contains(names, mf.GetName()) }
	}
	err = st.scraper.Write(st.bw, format, mfs, h.fleet.Snapshots(), h.fleet.probeMetrics(), only)
	if err == nil {
		err = st.bw.Flush()
	}
	if err != nil {
		// Headers are out: the client sees a truncated body, which it
		// refuses; nearly always it went away.
		h.logger.Warn("writing a scrape", "err", err)
	}
}
