// Package statuspage serves the status page at /: every watched cluster's
// health at a glance (quorum, leader, failure tolerance, alarms, and per
// member its state, role, DB size against quota, raft lag and probe p99),
// charts of its last hour (probe p99 per operation, DB size against quota,
// leader changes), recent leader changes and recent alerts, with links to
// /metrics and the REST API.
//
// Past MaxCards clusters the page is the fleet view instead (fleet.go): the
// counts by state, a filter form (?q=, ?state=) and a table of the
// clusters, worst first; /?cluster=NAME shows one cluster's card.
//
// It is plain server-rendered HTML from html/template with inline CSS and no
// JavaScript: it must work behind closed networks (no external assets), in
// any browser, on a phone, and refresh itself with a meta refresh; the
// charts are inline SVG drawn on the server (chart.go). Every
// figure comes from status.Build, so the page, the API and `check` agree.
package statuspage

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
)

//go:embed templates/page.html templates/style.css
var templates embed.FS

// DefaultRefresh is how often the page reloads itself: the default
// --health-check-interval, so each reload can show a new round.
const DefaultRefresh = 10 * time.Second

// How much history the page shows; the API has the rest.
const (
	maxLeaderChanges = 10
	maxAlerts        = 20
)

// Options configure the page.
type Options struct {
	// Clusters are the watched clusters (status.Sources of the checkers).
	Clusters []status.Source
	// Alerts is the webhook history; nil hides the alerts section.
	Alerts *alerthistory.Store
	// Trends is the recorded last hour for the charts; nil hides them.
	Trends *status.Recorder
	// TelemetryPath is where /metrics is served (default "/metrics").
	TelemetryPath string
	// Version is shown in the footer, e.g. version.Version.
	Version string
	// Refresh is the reload interval (default DefaultRefresh), rounded up
	// to whole seconds as the meta refresh counts them.
	Refresh time.Duration
}

// handler renders the page on every request: a render reads only the
// latest snapshots and the recorded trends, and takes about a millisecond
// with the charts (docs/performance.md), a cost paid once per reload.
type handler struct {
	opts    Options
	tmpl    *template.Template
	style   template.CSS
	csp     string
	refresh int
}

// New returns the handler for GET /. Other paths are 404 (it is mounted at
// "/", which catches every unrouted path), other methods 405.
func New(opts Options) (http.Handler, error) {
	if opts.TelemetryPath == "" {
		opts.TelemetryPath = "/metrics"
	}
	if opts.Refresh <= 0 {
		opts.Refresh = DefaultRefresh
	}
	css, err := templates.ReadFile("templates/style.css")
	if err != nil {
		return nil, fmt.Errorf("status page style: %w", err)
	}
	tmpl, err := template.New("page.html").Funcs(template.FuncMap{"placeholder": placeholder}).
		ParseFS(templates, "templates/page.html")
	if err != nil {
		return nil, fmt.Errorf("status page template: %w", err)
	}
	// The page runs no script and loads nothing, so the policy forbids
	// both; the one inline stylesheet is allowed by its hash, which keeps
	// injected markup (should escaping ever fail) from styling the page.
	// The fleet view's filter form submits to the page itself.
	sum := sha256.Sum256(css)
	csp := "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
	return &handler{
		opts: opts, tmpl: tmpl, style: template.CSS(css), csp: csp, //nolint:gosec // our own embedded stylesheet, not data
		refresh: int((opts.Refresh + time.Second - 1) / time.Second),
	}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: use GET", http.StatusMethodNotAllowed)
		return
	}
	p, code, err := h.build(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), code)
		return
	}
	// Rendered into a buffer first, so a template error is a clean 500
	// rather than half a page.
	var buf bytes.Buffer
	if err := h.tmpl.Execute(&buf, p); err != nil {
		http.Error(w, "rendering the status page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Security-Policy", h.csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(buf.Bytes())
}

// page is what the template renders; every text is built here so the
// template only lays it out.
type page struct {
	Style         template.CSS
	Refresh       int
	Version       string
	Generated     timeView
	Title         string
	Overall       string // worst state of every cluster, for the header
	OverallText   string
	Clusters      []clusterView
	Fleet         *fleetView // the fleet table instead of the cards
	Detail        bool       // one cluster's card, from the fleet view
	Multi         bool
	AlertsEnabled bool
	Alerts        []alertView
	Links         []link // global links
}

type link struct {
	Text, URL string
}

type timeView struct {
	Set      bool
	ISO      string // datetime attribute
	Absolute string // e.g. "2024-05-01 12:00:03 UTC"
	Ago      string
}

type clusterView struct {
	Name          string
	Anchor        string
	State         string // css class: healthy, degraded, unavailable, unknown
	StateText     string
	Quorum        string
	Leader        string
	Alarms        string
	HasAlarms     bool
	Problems      []string
	Version       string
	ClusterID     string
	RaftTerm      uint64
	Revision      int64
	LastCheck     timeView
	Members       []memberView
	LeaderChanges []leaderChangeView
	ChangesTotal  uint64
	Links         []link
	Trends        *trendsView // nil without a recorder
}

type memberView struct {
	Name        string
	Endpoint    string
	Status      string
	StatusClass string // ok, warn, bad
	Role        string
	DB          string
	DBInUse     string
	DBRatio     string // size/quota for <meter>, in plain decimal notation
	DBLevel     string // ok, warn, bad: how close to NOSPACE
	Lag         string
	P99         string
	Version     string
	Error       string
	LastSeen    timeView
}

type leaderChangeView struct {
	Time     timeView
	From, To string
	Term     uint64
}

type alertView struct {
	Time     timeView
	Status   string // FIRING, RESOLVED
	Class    string // bad, ok
	Name     string
	Cluster  string
	Member   string
	Severity string
	Summary  string
}

// build lays out the page asked for by the query: the cards of every
// cluster (at most MaxCards), the fleet view, or one cluster's card
// (?cluster=NAME). A bad query is a 4xx with a one-line error.
func (h *handler) build(q url.Values) (page, int, error) {
	now := time.Now()
	all := h.opts.Clusters
	p := page{
		Style: h.style, Refresh: h.refresh, Version: h.opts.Version, Generated: timeOf(now, now),
		Multi: len(all) > 1, AlertsEnabled: h.opts.Alerts != nil, Overall: status.StateHealthy,
	}
	alerts := alerthistory.Filter{Limit: maxAlerts}
	var cards []status.Source
	switch name := q.Get("cluster"); {
	case q.Has("cluster"):
		i := slices.IndexFunc(all, func(s status.Source) bool { return s.Name() == name })
		if i < 0 {
			return p, http.StatusNotFound, fmt.Errorf("unknown cluster %q: the page at / lists the watched clusters", name)
		}
		cards, p.Detail, alerts.Cluster = all[i:i+1], true, name
		// The header still speaks for the whole fleet, from the
		// snapshots only.
		p.Overall = status.BuildFleet(all, status.Filter{}, now).Counts.Worst()
	case len(all) > MaxCards || q.Has("q") || q.Has("state"):
		fq, err := parseFleetQuery(q)
		if err != nil {
			return p, http.StatusBadRequest, err
		}
		p.Fleet, p.Overall = buildFleet(all, fq, now)
	default:
		cards = all
		if len(all) == 0 {
			p.Overall = status.StateUnknown
		}
	}
	for _, ch := range cards {
		cv := buildCluster(ch, now, p.Multi)
		if h.opts.Trends != nil {
			tr, _ := h.opts.Trends.Trend(ch.Name(), now)
			tv := buildTrends(tr, now)
			cv.Trends = &tv
		}
		if !p.Detail && status.Worse(cv.State, p.Overall) {
			p.Overall = cv.State
		}
		p.Clusters = append(p.Clusters, cv)
	}
	if h.opts.Alerts != nil {
		for _, e := range h.opts.Alerts.List(alerts) {
			av := alertView{
				Time: timeOf(now, e.ReceivedAt), Status: strings.ToUpper(e.Status), Class: "bad",
				Name: e.AlertName, Cluster: e.Cluster, Member: e.Member, Severity: e.Severity, Summary: e.Summary,
			}
			if e.Status == "resolved" {
				av.Class = "ok"
			}
			p.Alerts = append(p.Alerts, av)
		}
	}
	p.OverallText = status.StateText(p.Overall)
	p.Title = p.OverallText
	if p.Detail {
		p.Title = p.Clusters[0].StateText + " · " + p.Clusters[0].Name
	}
	p.Links = []link{
		{"Metrics", h.opts.TelemetryPath},
		{"Health", "/health"},
		{"Clusters", "/api/v1/clusters"},
		{"Alert history", "/api/v1/alerts/history"},
	}
	if !p.Multi {
		// With one cluster the API needs no ?cluster=, and its links sit
		// in the cluster's card.
		p.Links = p.Links[:2]
	}
	return p, http.StatusOK, nil
}

func buildCluster(ch status.Source, now time.Time, multi bool) clusterView {
	cs := status.Build(ch)
	cv := clusterView{
		Name: cs.Cluster, Anchor: "cluster-" + anchorRE.ReplaceAllString(cs.Cluster, "-"),
		State: cs.State, StateText: status.StateText(cs.State),
		Quorum: status.QuorumText(cs), Leader: status.LeaderText(cs), Alarms: status.AlarmsText(cs), HasAlarms: len(cs.Alarms) > 0,
		Problems: cs.Problems, Version: cs.Version, ClusterID: cs.ClusterID, RaftTerm: cs.RaftTerm, Revision: cs.Revision,
		ChangesTotal: cs.LeaderChanges,
	}
	if cs.LastCheck != nil {
		cv.LastCheck = timeOf(now, *cs.LastCheck)
	}
	for _, m := range cs.Members {
		mv := memberView{
			Name: m.Name, Endpoint: m.Endpoint, Status: status.MemberStatusText(m), StatusClass: "ok",
			Role: status.RoleText(m), DB: status.DBText(m), Lag: status.LagText(m), P99: status.P99Text(m), Version: m.Version, Error: m.Error,
		}
		switch {
		case !m.Up || !m.Healthy:
			mv.StatusClass = "bad"
		case m.Partitioned || len(m.Alarms) > 0:
			mv.StatusClass = "warn"
		}
		if m.Up && m.DBQuota > 0 {
			ratio := min(1, float64(m.DBSize)/float64(m.DBQuota))
			// Plain decimals: %v of a small float64 is "6.1e-06".
			mv.DBRatio = strconv.FormatFloat(ratio, 'f', 4, 64)
			mv.DBInUse = bytesize.Format(m.DBSizeInUse)
			mv.DBLevel = "ok"
			// The default thresholds of the shipped EtcdDatabaseQuotaUsageHigh
			// alerts (rules/config.yml), so the colour turns when they fire.
			switch {
			case ratio > 0.9:
				mv.DBLevel = "bad"
			case ratio > 0.75:
				mv.DBLevel = "warn"
			}
		}
		if !m.Up && m.LastSeen != nil {
			mv.LastSeen = timeOf(now, *m.LastSeen)
		}
		cv.Members = append(cv.Members, mv)
	}
	if s := ch.Snapshot(); s != nil {
		hist := s.LeaderHistory
		for i := len(hist) - 1; i >= 0 && len(cv.LeaderChanges) < maxLeaderChanges; i-- {
			lc := hist[i]
			cv.LeaderChanges = append(cv.LeaderChanges, leaderChangeView{
				Time: timeOf(now, lc.Time), From: memberName(lc.FromName, lc.From), To: memberName(lc.ToName, lc.To), Term: lc.Term,
			})
		}
	}
	q := ""
	if multi {
		// %20 rather than "+" for a space: both decode the same, but "+"
		// reads as a literal plus to people copying the link.
		q = "?cluster=" + strings.ReplaceAll(url.QueryEscape(cs.Cluster), "+", "%20")
	}
	for _, l := range []link{
		{"Status", "/api/v1/cluster/status"},
		{"Leader", "/api/v1/cluster/leader"},
		{"Current metrics", "/api/v1/metrics/current"},
		{"Latency", "/api/v1/metrics/latency"},
		{"Alert history", "/api/v1/alerts/history"},
	} {
		cv.Links = append(cv.Links, link{l.Text, l.URL + q})
	}
	return cv
}

// anchorRE keeps fragment identifiers plain; cluster names from the config
// file already are, --cluster.name need not be.
var anchorRE = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

func memberName(name string, id uint64) string {
	switch {
	case name != "":
		return name
	case id != 0:
		return collector.IDHex(id)
	}
	return "none"
}

func timeOf(now, t time.Time) timeView {
	if t.IsZero() {
		return timeView{}
	}
	t = t.UTC()
	return timeView{Set: true, ISO: t.Format(time.RFC3339), Absolute: t.Format("2006-01-02 15:04:05 UTC"), Ago: status.Ago(now, t)}
}

// placeholder stands in for what is not known, so an empty cell never
// looks like a rendering bug.
func placeholder(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
