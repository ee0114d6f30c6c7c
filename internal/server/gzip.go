package server

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// gzipHandler compresses the successful responses of h at gzip.BestSpeed for
// clients that accept gzip (Prometheus does). promhttp compresses at gzip's
// default level, which for a monitor of 1,000 clusters (20 MB of text) adds
// nearly half the scrape's CPU time again; BestSpeed adds a third of that,
// for a fifth more bytes (docs/performance.md, "Scraping a fleet").
type gzipHandler struct {
	h       http.Handler
	writers sync.Pool // *gzip.Writer, reused: each holds hundreds of KB of state
}

func (g *gzipHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept-Encoding")
	if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
		g.h.ServeHTTP(w, r)
		return
	}
	gw := &gzipResponse{ResponseWriter: w, pool: &g.writers}
	defer gw.close()
	g.h.ServeHTTP(gw, r)
}

// acceptsGzip reads Accept-Encoding: gzip listed without q=0.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
				continue
			}
			q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
			if !ok {
				return true
			}
			f, err := strconv.ParseFloat(q, 64)
			return err == nil && f > 0
		}
	}
	return false
}

// gzipResponse compresses the body once the status is known to be 200 and
// the handler set no encoding of its own: an error (promhttp's, when nothing
// could be gathered) goes out as the plain text it is.
type gzipResponse struct {
	http.ResponseWriter
	pool    *sync.Pool
	zw      *gzip.Writer // nil while undecided or not compressing
	decided bool
}

func (w *gzipResponse) WriteHeader(code int) {
	if !w.decided {
		w.decided = true
		h := w.Header()
		if code == http.StatusOK && h.Get("Content-Encoding") == "" {
			h.Set("Content-Encoding", "gzip")
			h.Del("Content-Length")
			if zw, ok := w.pool.Get().(*gzip.Writer); ok {
				zw.Reset(w.ResponseWriter)
				w.zw = zw
			} else {
				// BestSpeed is a valid level: no error.
				w.zw, _ = gzip.NewWriterLevel(w.ResponseWriter, gzip.BestSpeed)
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *gzipResponse) Write(p []byte) (int, error) {
	if !w.decided {
		w.WriteHeader(http.StatusOK)
	}
	if w.zw != nil {
		return w.zw.Write(p)
	}
	return w.ResponseWriter.Write(p)
}

// close ends the gzip stream (a response with no body gets an empty one).
func (w *gzipResponse) close() {
	if w.zw == nil {
		return
	}
	// A write error here is the client's going away; the handler saw the
	// others.
	_ = w.zw.Close()
	w.pool.Put(w.zw)
}
