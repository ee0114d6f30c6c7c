// Package api serves the REST API (/health, /api/v1/…): the status model of
// internal/status as JSON, a fleet's list of every cluster's state
// (clusters.go), the leader history, recent probe latencies, the alert
// history fed by Alertmanager's webhook, and the optional benchmark and demo
// controls.
package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
)

// DemoControl stops, starts and partitions members of the demo cluster.
type DemoControl interface {
	// Act performs action (stop, start, partition, heal) on a member.
	Act(member, action string) error
}

// Options configure the API.
type Options struct {
	// Clusters are the watched clusters (status.Sources of the checkers).
	Clusters []status.Source
	Alerts   *alerthistory.Store
	// Benchmarks serves POST /api/v1/performance/benchmark; nil (the
	// default) unless --web.enable-benchmark-api is set, as it writes load
	// into the cluster.
	Benchmarks *Benchmarks
	// WebhookToken, when set, is the bearer token POST /api/v1/alerts
	// requires.
	WebhookToken []byte
	// Demo is set in demo mode only.
	Demo   DemoControl
	Logger *slog.Logger
	// LatencyWindow is the sliding window of the latency endpoints
	// (default 5 minutes, the most the checkers keep).
	LatencyWindow time.Duration
}

// RequestError is a client error with its HTTP status.
type RequestError struct {
	Status int
	Msg    string
}

func (e *RequestError) Error() string { return e.Msg }

// BadRequest builds a 400 RequestError.
func BadRequest(format string, args ...any) error {
	return &RequestError{Status: http.StatusBadRequest, Msg: fmt.Sprintf(format, args...)}
}

// API is the REST API handler.
type API struct {
	opts Options
	mux  *http.ServeMux
}

// New builds the API's routes.
func New(opts Options) *API {
	if opts.LatencyWindow <= 0 || opts.LatencyWindow > status.LatencyWindow {
		opts.LatencyWindow = status.LatencyWindow
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{opts: opts, mux: http.NewServeMux()}
	a.route("/health", http.MethodGet, a.health)
	a.route("/api/v1/clusters", http.MethodGet, a.clusters)
	a.route("/api/v1/cluster/status", http.MethodGet, a.clusterStatus)
	a.route("/api/v1/cluster/leader", http.MethodGet, a.leader)
	a.route("/api/v1/metrics/current", http.MethodGet, a.currentMetrics)
	a.route("/api/v1/metrics/latency", http.MethodGet, a.latency)
	a.route("/api/v1/performance/benchmark", http.MethodPost, a.benchmark)
	a.route("/api/v1/alerts", http.MethodPost, a.receiveAlerts)
	a.route("/api/v1/alerts/history", http.MethodGet, a.alertHistory)
	a.route("/api/v1/demo/members/", http.MethodPost, a.demo)
	a.route("/api/", "", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: "+r.URL.Path)
	})
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.mux.ServeHTTP(w, r) }

// Paths lists the path prefixes the API owns, for mounting next to /metrics.
func (a *API) Paths() []string { return []string{"/health", "/api/"} }

func (a *API) route(path, method string, h http.HandlerFunc) {
	a.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		if method != "" && r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", method)
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s: use %s", r.Method, path, method))
			return
		}
		defer func() {
			// Never let a bug in one handler take the monitor down.
			if v := recover(); v != nil {
				a.opts.Logger.Error("API handler panic", "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		h(w, r)
	})
}

type errorBody struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg, Status: status})
}

func writeErr(w http.ResponseWriter, err error) {
	var re *RequestError
	if errors.As(err, &re) {
		writeError(w, re.Status, re.Msg)
		return
	}
	writeError(w, http.StatusInternalServerError, err.Error())
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// checker picks the cluster named by ?cluster=; it may be omitted when only
// one cluster is watched.
func (a *API) checker(r *http.Request) (status.Source, error) {
	name := r.URL.Query().Get("cluster")
	cs := a.opts.Clusters
	if name == "" {
		if len(cs) == 1 {
			return cs[0], nil
		}
		return nil, BadRequest("several clusters are watched: add ?cluster= with one of %s", a.names())
	}
	for _, c := range cs {
		if c.Name() == name {
			return c, nil
		}
	}
	return nil, &RequestError{Status: http.StatusNotFound, Msg: fmt.Sprintf("unknown cluster %q: watched are %s", name, a.names())}
}

// maxNamesInError bounds the cluster names an error lists: a fleet's
// thousand names would make a one-line error a page long.
const maxNamesInError = 10

// names lists the watched clusters for an error message, the first few
// only in a fleet, pointing at the endpoint that lists them all.
func (a *API) names() string {
	var n []string
	for _, c := range a.opts.Clusters {
		if len(n) == maxNamesInError {
			return fmt.Sprintf("%s and %d more (GET /api/v1/clusters lists them)", strings.Join(n, ", "), len(a.opts.Clusters)-len(n))
		}
		n = append(n, c.Name())
	}
	return strings.Join(n, ", ")
}

// fresh says whether a cluster's last check is recent (status.Fresh).
func fresh(ch status.Source, now time.Time) (bool, *time.Time) {
	s := ch.Snapshot()
	if s == nil {
		return false, nil
	}
	return status.Fresh(s.Time, ch.Config().HealthCheckInterval, now), status.TimePtr(s.Time)
}

type healthCluster struct {
	Name      string     `json:"name"`
	LastCheck *time.Time `json:"last_check"`
	Fresh     bool       `json:"fresh"`
	State     string     `json:"state"`
}

type healthBody struct {
	Status   string          `json:"status"`
	Fresh    bool            `json:"fresh"`
	Time     time.Time       `json:"time"`
	Clusters []healthCluster `json:"clusters"`
}

// health says the monitor itself is alive (always 200) and whether its
// checks are current; the clusters' health is in cluster/status.
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	b := healthBody{Status: "ok", Fresh: true, Time: now.UTC(), Clusters: []healthCluster{}}
	for _, c := range a.opts.Clusters {
		f, last := fresh(c, now)
		b.Fresh = b.Fresh && f
		// The summary reads the snapshot only: no probe percentiles for a
		// liveness check of a thousand clusters.
		b.Clusters = append(b.Clusters, healthCluster{Name: c.Name(), LastCheck: last, Fresh: f, State: status.Summarize(c, now).State})
	}
	writeJSON(w, http.StatusOK, b)
}

func (a *API) clusterStatus(w http.ResponseWriter, r *http.Request) {
	ch, err := a.checker(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, status.Build(ch))
}

type leaderChange struct {
	Time     time.Time `json:"time"`
	From     uint64    `json:"from"`
	FromHex  string    `json:"from_hex"`
	FromName string    `json:"from_name"`
	To       uint64    `json:"to"`
	ToHex    string    `json:"to_hex"`
	ToName   string    `json:"to_name"`
	Term     uint64    `json:"term"`
}

type leaderBody struct {
	Cluster          string         `json:"cluster"`
	HasLeader        bool           `json:"has_leader"`
	LeaderID         uint64         `json:"leader_id"`
	LeaderIDHex      string         `json:"leader_id_hex"`
	LeaderName       string         `json:"leader_name"`
	RaftTerm         uint64         `json:"raft_term"`
	LeaderChanges    uint64         `json:"leader_changes"`
	LastLeaderChange *time.Time     `json:"last_leader_change"`
	History          []leaderChange `json:"history"`
}

func (a *API) leader(w http.ResponseWriter, r *http.Request) {
	ch, err := a.checker(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	b := leaderBody{Cluster: ch.Name(), History: []leaderChange{}}
	s := ch.Snapshot()
	if s == nil {
		writeError(w, http.StatusServiceUnavailable, "no check has finished yet")
		return
	}
	b.HasLeader, b.LeaderID, b.RaftTerm = s.HasLeader, s.LeaderID, s.RaftTerm
	b.LeaderChanges, b.LastLeaderChange = s.LeaderChanges, status.TimePtr(s.LastLeaderChange)
	if l := s.Leader(); l != nil {
		b.LeaderIDHex, b.LeaderName = collector.IDHex(l.ID), l.Label()
	}
	// Newest first, like the alert history.
	for i := len(s.LeaderHistory) - 1; i >= 0; i-- {
		c := s.LeaderHistory[i]
		lc := leaderChange{Time: c.Time.UTC(), From: c.From, FromName: c.FromName, To: c.To, ToHex: collector.IDHex(c.To), ToName: c.ToName, Term: c.Term}
		if c.From != 0 {
			lc.FromHex = collector.IDHex(c.From)
		}
		b.History = append(b.History, lc)
	}
	writeJSON(w, http.StatusOK, b)
}

// currentBody is GET /api/v1/metrics/current, the fields of the original
// etcd-monitor guide's API. Latencies
// are milliseconds over the last 5 minutes of probes; null when no probe
// succeeded in that window.
type currentBody struct {
	Timestamp       time.Time `json:"timestamp"`
	Cluster         string    `json:"cluster"`
	RequestRate     *float64  `json:"request_rate"`
	ReadLatencyP50  *float64  `json:"read_latency_p50"`
	ReadLatencyP95  *float64  `json:"read_latency_p95"`
	ReadLatencyP99  *float64  `json:"read_latency_p99"`
	WriteLatencyP50 *float64  `json:"write_latency_p50"`
	WriteLatencyP95 *float64  `json:"write_latency_p95"`
	WriteLatencyP99 *float64  `json:"write_latency_p99"`
	DBSize          int64     `json:"db_size"`
	DBSizeInUse     int64     `json:"db_size_in_use"`
	WindowSeconds   int       `json:"window_seconds"`
}

func f64(v float64) *float64 { return &v }

func (a *API) currentMetrics(w http.ResponseWriter, r *http.Request) {
	ch, err := a.checker(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	win := a.opts.LatencyWindow
	b := currentBody{Timestamp: time.Now().UTC(), Cluster: ch.Name(), WindowSeconds: int(win.Seconds())}
	if rate, ok := ch.WriteRate(win); ok {
		b.RequestRate = f64(rate)
	}
	for _, l := range ch.RecentLatencyByOperation(win) {
		switch l.Operation {
		case collector.OpGet:
			b.ReadLatencyP50, b.ReadLatencyP95, b.ReadLatencyP99 = f64(status.Ms(l.P50)), f64(status.Ms(l.P95)), f64(status.Ms(l.P99))
		case collector.OpPut:
			b.WriteLatencyP50, b.WriteLatencyP95, b.WriteLatencyP99 = f64(status.Ms(l.P50)), f64(status.Ms(l.P95)), f64(status.Ms(l.P99))
		}
	}
	if s := ch.Snapshot(); s != nil {
		// The leader's backend, else the largest one reachable: the size
		// that meets the quota first.
		for _, m := range s.Members {
			if m.Up && (m.IsLeader || m.DBSize > b.DBSize) {
				b.DBSize, b.DBSizeInUse = m.DBSize, m.DBSizeInUse
				if m.IsLeader {
					break
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, b)
}

type latencyEntry struct {
	Member    string  `json:"member"`
	Operation string  `json:"operation"`
	Count     int     `json:"count"`
	P50       float64 `json:"p50"`
	P95       float64 `json:"p95"`
	P99       float64 `json:"p99"`
}

type latencyBody struct {
	Timestamp     time.Time      `json:"timestamp"`
	Cluster       string         `json:"cluster"`
	WindowSeconds int            `json:"window_seconds"`
	Unit          string         `json:"unit"`
	Latencies     []latencyEntry `json:"latencies"`
}

func (a *API) latency(w http.ResponseWriter, r *http.Request) {
	ch, err := a.checker(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	win := a.opts.LatencyWindow
	b := latencyBody{Timestamp: time.Now().UTC(), Cluster: ch.Name(), WindowSeconds: int(win.Seconds()), Unit: "ms", Latencies: []latencyEntry{}}
	for _, l := range ch.RecentLatency(win) {
		b.Latencies = append(b.Latencies, latencyEntry{Member: l.Member, Operation: l.Operation, Count: l.Count, P50: status.Ms(l.P50), P95: status.Ms(l.P95), P99: status.Ms(l.P99)})
	}
	writeJSON(w, http.StatusOK, b)
}

// maxHistoryPage is the default page of GET /api/v1/alerts/history;
// ?limit= goes up to alerthistory.MaxPage.
const maxHistoryPage = 100

// maxHistoryBytes bounds the entries of one history answer (as JSON):
// a page stops early rather than grow beyond it, and says where to go on.
const maxHistoryBytes = 1 << 20

// receiveAlerts is Alertmanager's webhook. In order: the bearer token
// (when one is set), the media type (a browser's cross-site form or
// text/plain post is refused before its body is read), the size, then the
// payload.
func (a *API) receiveAlerts(w http.ResponseWriter, r *http.Request) {
	if a.opts.Alerts == nil {
		writeError(w, http.StatusNotFound, "alert history is off")
		return
	}
	if len(a.opts.WebhookToken) > 0 && !bearerMatches(r.Header.Get("Authorization"), a.opts.WebhookToken) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="etcd-monitor alert webhook"`)
		writeError(w, http.StatusUnauthorized, "the alert webhook needs Authorization: Bearer with the token the monitor reads from --alerts.webhook-token-file")
		return
	}
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %.64q: want application/json", ct))
		return
	}
	tooLarge := fmt.Sprintf("body larger than %d bytes (1 MiB): send fewer alerts per notification (webhook_configs max_alerts)", alerthistory.MaxBody)
	if r.ContentLength > alerthistory.MaxBody {
		writeError(w, http.StatusRequestEntityTooLarge, tooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, alerthistory.MaxBody)
	release, err := a.opts.Alerts.Acquire(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "gave up waiting to decode the notification: "+err.Error())
		return
	}
	defer release()
	wh, err := alerthistory.Decode(r.Body)
	if err != nil {
		if alerthistory.IsTooLarge(err) {
			writeError(w, http.StatusRequestEntityTooLarge, tooLarge)
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	added := a.opts.Alerts.Add(wh, time.Now())
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "received": len(added)})
}

// isJSON accepts application/json with any parameters (charset=utf-8).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// bearerMatches compares the header's bearer token with want in constant
// time; hashing first makes the comparison's time independent of the
// lengths too.
func bearerMatches(header string, want []byte) bool {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	exp := sha256.Sum256(want)
	return subtle.ConstantTimeCompare(got[:], exp[:]) == 1
}

type historyBody struct {
	Alerts []json.RawMessage `json:"alerts"`
	// NextCursor, when set, is the ?cursor= of the next (older) page.
	NextCursor uint64 `json:"next_cursor,omitempty"`
}

func (a *API) alertHistory(w http.ResponseWriter, r *http.Request) {
	if a.opts.Alerts == nil {
		writeError(w, http.StatusNotFound, "alert history is off")
		return
	}
	q := r.URL.Query()
	f := alerthistory.Filter{Cluster: q.Get("cluster"), AlertName: q.Get("alertname"), Status: q.Get("status"), Limit: maxHistoryPage}
	if f.Status != "" && f.Status != "firing" && f.Status != "resolved" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status %.64q: want firing or resolved", f.Status))
		return
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > alerthistory.MaxPage {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %.64q: want 1 to %d", l, alerthistory.MaxPage))
			return
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseUint(c, 10, 64)
		if err != nil || n == 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("cursor %.64q: want the next_cursor of the previous page", c))
			return
		}
		f.Before = n
	}
	// A page costs a few MiB while it is encoded: as many at once as
	// webhook bodies are decoded, not as many as clients ask.
	release, err := a.opts.Alerts.Acquire(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "gave up waiting to read the history: "+err.Error())
		return
	}
	defer release()
	entries, next := a.opts.Alerts.Page(f)
	b := historyBody{Alerts: []json.RawMessage{}, NextCursor: next}
	size := 0
	for i := range entries {
		raw, err := json.Marshal(&entries[i])
		if err != nil {
			writeErr(w, err)
			return
		}
		if size += len(raw); size > maxHistoryBytes && i > 0 {
			b.NextCursor = entries[i-1].ID
			break
		}
		b.Alerts = append(b.Alerts, raw)
	}
	writeJSON(w, http.StatusOK, b)
}

var demoActions = []string{"stop", "start", "partition", "heal"}

// demo: POST /api/v1/demo/members/{member}/{action}.
func (a *API) demo(w http.ResponseWriter, r *http.Request) {
	if a.opts.Demo == nil {
		writeError(w, http.StatusNotFound, "member control exists in demo mode only")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/demo/members/"), "/")
	if len(parts) != 2 || parts[0] == "" || !slices.Contains(demoActions, parts[1]) {
		writeError(w, http.StatusNotFound, "want /api/v1/demo/members/{member}/{"+strings.Join(demoActions, "|")+"}")
		return
	}
	if err := a.opts.Demo.Act(parts[0], parts[1]); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"member": parts[0], "action": parts[1], "status": "done"})
}
