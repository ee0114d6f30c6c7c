package statuspage

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

// healthy is the hand-built "main" cluster every page test starts from: 3
// members, m1 leading, read probes of about a millisecond on each.
func healthy(at time.Time) *statustest.Source {
	return statustest.New("main").Set(statustest.Healthy("main", at)).SetLatency(
		statustest.Latency("m1", collector.OpGet, 60, 1200*time.Microsecond),
		statustest.Latency("m2", collector.OpGet, 60, 1800*time.Microsecond),
		statustest.Latency("m3", collector.OpGet, 60, 950*time.Microsecond),
	)
}

// leaderStopped is what the checker publishes after the leader m1 stopped
// and m2 took over.
func leaderStopped(at time.Time) *collector.Snapshot {
	s := statustest.NewLeader(statustest.Healthy("main", at), "m2", 3, at.Add(-20*time.Second))
	s.Members[0].LastSeen = at.Add(-25 * time.Second)
	return statustest.Down(s, "m1", "dial tcp 127.0.0.1:2379: connect: connection refused")
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
	src := healthy(time.Now())
	alerts := alerthistory.New(100, collector.LabelCluster, slog.New(slog.DiscardHandler))
	h := newHandler(t, Options{Clusters: []status.Source{src}, Alerts: alerts, Version: "1.2.3"})

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
	rows := memberRows(body)
	if len(rows) != 3 {
		t.Fatalf("want 3 member rows, got %d: %v", len(rows), rows)
	}
	for i, name := range []string{"m1", "m2", "m3"} {
		r, ok := rows[name]
		if !ok {
			t.Fatalf("no row for %s", name)
		}
		if r.status != "UP" {
			t.Errorf("%s: status %q, want UP", name, r.status)
		}
		role := "follower"
		if name == "m1" {
			role = "leader"
		}
		p99 := []string{"1.20 ms<", "1.80 ms<", "0.95 ms<"}[i]
		for _, want := range []string{fmt.Sprintf("http://127.0.0.1:%d", 2379+10*i), `data-label="Role" class="half">` + role + `<`,
			"12.0 MiB of 2.0 GiB (1%)", p99, `<meter class="ok" min="0" max="1" low="0.75" high="0.9" optimum="0" value="0.0059">`, "in use 9.0 MiB"} {
			if !strings.Contains(r.html, want) {
				t.Errorf("%s row lacks %q: %s", name, want, r.html)
			}
		}
	}

	// The leader stops: the page must show it DOWN (with when it was last
	// seen and why), the quorum arithmetic, the new leader and the change.
	addAlert(t, alerts, "firing", "EtcdMemberDown", "m1", `member <b>m1</b> is down`)
	src.Set(leaderStopped(time.Now()))
	body = get(t, h, http.MethodGet, "/").Body.String()
	rows = memberRows(body)
	if r := rows["m1"]; r.status != "DOWN" || !strings.Contains(r.html, ">DOWN</span>") || !strings.Contains(r.html, "last seen <time") ||
		!strings.Contains(r.html, ">25s ago</time>") || !strings.Contains(r.html, "connect: connection refused") || !strings.Contains(r.html, `data-label="Role" class="half">—<`) {
		t.Errorf("stopped member m1: status %q, row %s", r.status, r.html)
	}
	for _, want := range []string{
		`data-state="degraded">DEGRADED</span>`,
		`<title>DEGRADED · etcd-monitor</title>`,
		`quorum 2 of 3, tolerates 0 failures`,
		`leader <b data-leader>m2</b>`,
		`<li>member m1 is down</li>`,
		`<li>no failure tolerance: one more member lost ends quorum</li>`,
		`data-leader-change`,
		`<td>m1</td><td>m2</td><td class="num">3</td>`,
		`1 observed since the monitor started.`,
		// Alert text is data: escaped, never markup.
		`member &lt;b&gt;m1&lt;/b&gt; is down`,
		`>FIRING</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page after stopping m1 lacks %q", want)
		}
	}
}

// The DB meter turns colour where the shipped quota alerts fire.
func TestPageDBLevels(t *testing.T) {
	s := statustest.Healthy("main", time.Now())
	s.Members[0].DBSize = 1900 << 20 // 93%
	s.Members[1].DBSize = 1600 << 20 // 78%
	s.Members[2].Alarms = []string{"NOSPACE"}
	h := newHandler(t, Options{Clusters: []status.Source{statustest.New("main").Set(s)}})
	body := get(t, h, http.MethodGet, "/").Body.String()
	rows := memberRows(body)
	for name, want := range map[string]string{"m1": `<meter class="bad"`, "m2": `<meter class="warn"`, "m3": `<meter class="ok"`} {
		if !strings.Contains(rows[name].html, want) {
			t.Errorf("%s row lacks %q: %s", name, want, rows[name].html)
		}
	}
	if rows["m3"].status != "UP NOSPACE" || !strings.Contains(rows["m3"].html, `<span class="pill warn">UP NOSPACE</span>`) {
		t.Errorf("m3 with an alarm: %+v", rows["m3"])
	}
	for _, want := range []string{`<li class="alarm">alarms: <b data-alarms>NOSPACE on m3</b>`, `<li>alarm NOSPACE on member m3</li>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
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
	a := healthy(time.Now())
	b := statustest.New("prod b&c")
	h := newHandler(t, Options{Clusters: []status.Source{a, b}, TelemetryPath: "/m", Refresh: 2500 * time.Millisecond})
	rec := get(t, h, http.MethodGet, "/")
	body := rec.Body.String()
	for _, want := range []string{
		`href="/api/v1/cluster/status?cluster=main"`,
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
		// The worst state heads the page; unknown is worse than healthy.
		`<span class="badge unknown" data-overall="unknown">UNKNOWN</span>`,
		`<a href="#cluster-main"><span class="name">main</span> <span class="badge healthy">HEALTHY</span></a>`,
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
