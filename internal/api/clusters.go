package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/status"
)

// MaxClustersPerPage bounds GET /api/v1/clusters: a page holds at most this
// many clusters (about 250 bytes each), so a fleet of any size answers in
// well under a megabyte; ?offset= reads the next page.
const MaxClustersPerPage = 1000

// clustersHead is GET /api/v1/clusters without its list.
type clustersHead struct {
	Time time.Time `json:"time"`
	status.Fleet
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	// NextOffset is where the next page starts; null on the last page.
	NextOffset *int `json:"next_offset"`
}

// clusters lists every watched cluster's state, worst first then by name:
// ?name= (substring, or glob with * ? [), ?state= (comma-separated, or
// unhealthy), ?limit= and ?offset= for pages. The counts are over every
// watched cluster, whatever the filter.
func (a *API) clusters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := status.ParseFilter(q.Get("name"), q.Get("state"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", MaxClustersPerPage, 1, MaxClustersPerPage)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	offset, err := intParam(q.Get("offset"), "offset", 0, 0, -1)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := time.Now()
	fl := status.BuildFleet(a.opts.Clusters, f, now)
	// Clamped before adding, so no offset can overflow.
	start := min(offset, len(fl.Clusters))
	end := start + min(limit, len(fl.Clusters)-start)
	page := fl.Clusters[start:end]
	head := clustersHead{Time: now.UTC(), Fleet: fl, Offset: offset, Limit: limit}
	if end < len(fl.Clusters) {
		head.NextOffset = &end
	}
	body, err := clustersBody(head, page)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body) // net/http drops it for HEAD
}

// clustersBody is compact JSON with one cluster a line: a third of the
// indented size, and `grep unavailable` still works on it.
func clustersBody(head clustersHead, page []status.Summary) ([]byte, error) {
	h, err := json.Marshal(head)
	if err != nil {
		return nil, fmt.Errorf("encoding the cluster list: %w", err)
	}
	var buf bytes.Buffer
	buf.Grow(len(h) + 260*len(page) + 16)
	buf.Write(h[:len(h)-1]) // without its closing brace
	buf.WriteString(`,"clusters":[`)
	enc := json.NewEncoder(&buf) // Encode ends each value with "\n"
	for i, s := range page {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
		if err := enc.Encode(s); err != nil {
			return nil, fmt.Errorf("encoding cluster %q: %w", s.Name, err)
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteString("\n]}\n")
	return buf.Bytes(), nil
}

// intParam parses an optional integer query parameter within [lo, hi]
// (hi < 0: no upper bound).
func intParam(v, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || (hi >= 0 && n > hi) {
		if hi >= 0 {
			return 0, fmt.Errorf("%s %q: want a number from %d to %d", name, v, lo, hi)
		}
		return 0, fmt.Errorf("%s %q: want a number from %d", name, v, lo)
	}
	return n, nil
}
