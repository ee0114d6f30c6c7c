package statuspage

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/api"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testetcd"
)

// startCluster starts a real 3-member etcd cluster and a running checker
// (with probes, as serve runs it) watching it as cluster "main".
func startCluster(t *testing.T) (*localetcd.Cluster, *collector.Checker) {
	t.Helper()
	c := testetcd.StartWithin(t, 2*time.Minute, localetcd.Options{Members: 3, FastElections: true})
	ch := newChecker(t, "main", c.Endpoints())
	ch.Start()
	t.Cleanup(ch.Close)
	waitStatus(t, ch, "healthy with probe latencies", func(s api.ClusterStatus) bool {
		if !s.Healthy || len(s.Members) != 3 {
			return false
		}
		for _, m := range s.Members {
			if m.ProbeP99Ms == nil {
				return false
			}
		}
		return true
	})
	return c, ch
}

func newChecker(t *testing.T, name string, endpoints []string) *collector.Checker {
	t.Helper()
	// Generous timeouts: the test machines are loaded, and a slow answer
	// must not read as a down member.
	conn := &etcdconn.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, RequestTimeout: 3 * time.Second}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	return collector.NewChecker(collector.ClusterConfig{
		Name: name, Conn: conn, HealthCheckInterval: 300 * time.Millisecond,
		Probe: collector.ProbeConfig{Interval: 200 * time.Millisecond, Timeout: time.Second, Write: true},
	}, slog.New(slog.DiscardHandler), collector.WithProbeMetrics(collector.NewProbeMetrics()))
}

func waitStatus(t *testing.T, ch *collector.Checker, what string, cond func(api.ClusterStatus) bool) api.ClusterStatus {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		s := api.BuildStatus(ch)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster %s never %s: state %s, problems %v", ch.Name(), what, s.State, s.Problems)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newHandler(t *testing.T, opts Options) http.Handler {
	t.Helper()
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func get(t *testing.T, h http.Handler, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

// memberRowRE finds the member rows by their test markers; it also matches
// the browser's serialisation of the DOM, which keeps attribute order.
var memberRowRE = regexp.MustCompile(`(?s)<tr data-member="([^"]+)" data-status="([^"]+)">(.*?)</tr>`)

type row struct{ status, html string }

func memberRows(body string) map[string]row {
	rows := map[string]row{}
	for _, m := range memberRowRE.FindAllStringSubmatch(body, -1) {
		rows[m[1]] = row{m[2], m[3]}
	}
	return rows
}

func addAlert(t *testing.T, store *alerthistory.Store, status, name, member, summary string) {
	t.Helper()
	store.Add(&alerthistory.Webhook{
		Version: "4", Status: status, Receiver: "etcd-monitor",
		Alerts: []alerthistory.WebhookAlert{{
			Status:      status,
			Labels:      map[string]string{"alertname": name, "etcd_cluster": "main", "member": member, "severity": "critical"},
			Annotations: map[string]string{"summary": summary},
			StartsAt:    time.Now().Add(-time.Minute),
		}},
	}, time.Now())
}

func TestPageShowsClusterAndDownMember(t *testing.T) {
	c, ch := startCluster(t)
	alerts := alerthistory.New(100, collector.LabelCluster, slog.New(slog.DiscardHandler))
	h := newHandler(t, Options{Checkers: collector.Checkers{ch}, Alerts: alerts, Version: "1.2.3"})

	rec := get(t, h, http.MethodGet, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`<meta http-equiv="refresh" content="10">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`data-state="healthy">HEALTHY</span>`,
		`quorum 2 of 3, tolerates 1 failure`,
		`href="/metrics"`, `href="/health"`,
		`href="/api/v1/cluster/status"`, `href="/api/v1/cluster/leader"`, `href="/api/v1/metrics/current"`,
		`href="/api/v1/metrics/latency"`, `href="/api/v1/alerts/history"`,
		`etcd-monitor 1.2.3`,
		`No alert received yet`,
		`alarms: <b data-alarms>none</b>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// No script and nothing loaded from elsewhere: the page must work on a
	// closed network.
	for _, bad := range []string{"<script", "<link", " src=", "url(", "@import"} {
		if strings.Contains(body, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	leader, err := c.Leader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rows := memberRows(body)
	if len(rows) != 3 {
		t.Fatalf("want 3 member rows, got %d: %v", len(rows), rows)
	}
	for _, m := range c.Members() {
		r, ok := rows[m.Name]
		if !ok {
			t.Fatalf("no row for %s", m.Name)
		}
		if r.status != "UP" {
			t.Errorf("%s: status %q, want UP", m.Name, r.status)
		}
		role := "follower"
		if m == leader {
			role = "leader"
		}
		for _, want := range []string{m.ClientURL, `data-label="Role" class="half">` + role + `<`, " of 2.0 GiB (", " ms<", "<meter "} {
			if !strings.Contains(r.html, want) {
				t.Errorf("%s row lacks %q: %s", m.Name, want, r.html)
			}
		}
	}

	// Stop the leader: the page must show it DOWN, the quorum arithmetic,
	// the new leader and the change.
	addAlert(t, alerts, "firing", "EtcdMemberDown", leader.Name, `member <b>`+leader.Name+`</b> is down`)
	if err := leader.Stop(); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, ch, "showing the stopped leader down and a new leader", func(s api.ClusterStatus) bool {
		return s.HasLeader && s.LeaderName != leader.Name && s.State == api.StateDegraded && memberDown(s, leader.Name)
	})
	body = get(t, h, http.MethodGet, "/").Body.String()
	rows = memberRows(body)
	if r := rows[leader.Name]; r.status != "DOWN" || !strings.Contains(r.html, ">DOWN</span>") || !strings.Contains(r.html, "last seen") {
		t.Errorf("stopped member %s: status %q, row %s", leader.Name, r.status, r.html)
	}
	for _, want := range []string{
		`data-state="degraded">DEGRADED</span>`,
		`quorum 2 of 3, tolerates 0 failures`,
		`member ` + leader.Name + ` is down`,
		`data-leader-change`,
		`<td>` + leader.Name + `</td>`,
		// Alert text is data: escaped, never markup.
		`member &lt;b&gt;` + leader.Name + `&lt;/b&gt; is down`,
		`>FIRING</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page after stopping %s lacks %q", leader.Name, want)
		}
	}
}

func memberDown(s api.ClusterStatus, name string) bool {
	for _, m := range s.Members {
		if m.Name == name {
			return !m.Up
		}
	}
	return false
}

func TestPageRoutesAndMethods(t *testing.T) {
	h := newHandler(t, Options{})
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodGet, "/", http.StatusOK},
		{http.MethodHead, "/", http.StatusOK},
		{http.MethodGet, "/favicon.ico", http.StatusNotFound},
		{http.MethodGet, "/index.html", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/", http.StatusMethodNotAllowed},
	} {
		rec := get(t, h, tc.method, tc.path)
		if rec.Code != tc.code {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, rec.Code, tc.code)
		}
		if tc.method == http.MethodHead && rec.Body.Len() != 0 {
			t.Errorf("HEAD has a body")
		}
	}
	if allow := get(t, h, http.MethodPost, "/").Header().Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("Allow %q", allow)
	}
	if body := get(t, h, http.MethodGet, "/").Body.String(); !strings.Contains(body, "No cluster is configured") {
		t.Errorf("empty page: %s", body)
	}
}

// Several clusters: per-cluster API links carry ?cluster= (escaped), and a
// cluster that was never reached shows UNKNOWN without breaking the page.
func TestPageSeveralClusters(t *testing.T) {
	a := newChecker(t, "prod-a", []string{"127.0.0.1:1"})
	b := newChecker(t, "prod b&c", []string{"127.0.0.1:1"})
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	h := newHandler(t, Options{Checkers: collector.Checkers{a, b}, TelemetryPath: "/m", Refresh: 2500 * time.Millisecond})
	rec := get(t, h, http.MethodGet, "/")
	body := rec.Body.String()
	for _, want := range []string{
		`href="/api/v1/cluster/status?cluster=prod-a"`,
		`href="/api/v1/cluster/leader?cluster=prod%20b%26c"`,
		`href="/api/v1/alerts/history?cluster=prod%20b%26c"`,
		`href="/api/v1/alerts/history"`,
		`href="/m"`,
		`<meta http-equiv="refresh" content="3">`,
		`data-cluster="prod b&amp;c"`,
		`href="#cluster-prod-b-c"`, `id="cluster-prod-b-c"`,
		`data-state="unknown">UNKNOWN</span>`,
		`no check has finished yet`,
		`quorum unknown`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("%d", rec.Code)
	}
}

func TestPageHeadersAndStyleHash(t *testing.T) {
	h := newHandler(t, Options{})
	rec := get(t, h, http.MethodGet, "/")
	// The CSP allows the inline stylesheet by hash: if the template ever
	// changed its bytes (escaping, whitespace), the browser would drop it.
	css, err := templates.ReadFile("templates/style.css")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Body.String(), "<style>"+string(css)+"</style>") {
		t.Error("inline stylesheet differs from the embedded file its CSP hash is computed from")
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q", got)
	}
}
