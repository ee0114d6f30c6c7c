package statuspage

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

// fleetRowRE finds the fleet table's rows by their test markers.
var fleetRowRE = regexp.MustCompile(`<tr data-fleet-cluster="([^"]+)" data-state="([^"]+)">`)

type fleetRowSeen struct{ name, state string }

func fleetRows(body string) []fleetRowSeen {
	var rows []fleetRowSeen
	for _, m := range fleetRowRE.FindAllStringSubmatch(body, -1) {
		rows = append(rows, fleetRowSeen{m[1], m[2]})
	}
	return rows
}

// MaxPageBytes is the size the fleet page of 1,000 clusters must stay under:
// a reload every 10 s on a phone over a slow link.
const maxFleetPageBytes = 1 << 20

// A thousand clusters: one page under 1 MiB with no cards, the counts by
// state, and every cluster in a row, the unhealthy ones first.
func TestFleetPageOfAThousand(t *testing.T) {
	h := newHandler(t, Options{Clusters: statustest.FleetSources(1000, time.Now().Add(-2*time.Second))})
	rec := get(t, h, http.MethodGet, "/")
	body := rec.Body.String()
	if rec.Code != 200 || len(body) >= maxFleetPageBytes {
		t.Fatalf("GET /: %d, %d bytes (want under %d)", rec.Code, len(body), maxFleetPageBytes)
	}
	t.Logf("fleet page of 1,000 clusters: %d bytes", len(body))
	if strings.Contains(body, `<section class="cluster`) || strings.Contains(body, "<svg") {
		t.Error("the fleet page renders cluster cards")
	}
	for _, want := range []string{
		`<title>UNAVAILABLE · etcd-monitor</title>`,
		`<span class="note">1000 watched</span>`,
		`href="/?state=unavailable" data-count="unavailable"><b>20</b> unavailable</a>`,
		`href="/?state=degraded" data-count="degraded"><b>50</b> degraded</a>`,
		`href="/?state=unknown" data-count="unknown"><b>10</b> unknown</a>`,
		`href="/?state=healthy" data-count="healthy"><b>920</b> healthy</a>`,
		`<form class="filter" method="get" action="/" role="search">`,
		`1–1000 of 1000, worst first.`,
		`<tr data-fleet-cluster="tenant-0007" data-state="unavailable"><th scope="row"><a href="/?cluster=tenant-0007">tenant-0007</a></th>` +
			`<td><span class="badge unavailable">UNAVAILABLE</span></td><td>0 of 3 healthy</td><td>none</td><td><time datetime=`,
		`<td>no member could be reached <span class="more">+3 more</span></td></tr>`,
		`<td>2 of 3 healthy</td><td>m1</td><td><time datetime=`,
		`<td>member m3 is down <span class="more">+1 more</span></td></tr>`,
		`<td><span class="badge unknown">UNKNOWN</span></td><td>—</td><td>none</td><td>not yet</td><td>no check has finished yet</td></tr>`,
		`href="/api/v1/clusters"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("fleet page lacks %q", want)
		}
	}
	rows := fleetRows(body)
	if len(rows) != 1000 {
		t.Fatalf("%d rows, want 1000", len(rows))
	}
	// The unhealthy first: unavailable, degraded, unknown, then healthy,
	// each by name.
	for i, r := range rows {
		want := status.StateHealthy
		switch {
		case i < 20:
			want = status.StateUnavailable
		case i < 70:
			want = status.StateDegraded
		case i < 80:
			want = status.StateUnknown
		}
		if r.state != want || (i > 0 && rows[i-1].state == r.state && rows[i-1].name >= r.name) {
			t.Fatalf("row %d: %+v after %+v, want state %s", i, r, rows[max(i-1, 0)], want)
		}
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("CSP %q does not let the filter form submit", csp)
	}
}

func TestFleetPageFilters(t *testing.T) {
	h := newHandler(t, Options{Clusters: statustest.FleetSources(1000, time.Now())})
	for _, tc := range []struct {
		query string
		rows  []string
		note  string
	}{
		{"?q=tenant-09%3F7&state=unavailable", []string{"tenant-0907", "tenant-0957"}, "1–2 of 2 matching"},
		{"?q=0012", []string{"tenant-0012"}, "1–1 of 1 matching"},
		{"?q=-000&state=unhealthy", []string{"tenant-0007", "tenant-0003"}, "1–2 of 2 matching"},
		{"?q=nope", nil, "No cluster matches."},
	} {
		body := get(t, h, http.MethodGet, "/"+tc.query).Body.String()
		var got []string
		for _, r := range fleetRows(body) {
			got = append(got, r.name)
		}
		if strings.Join(got, " ") != strings.Join(tc.rows, " ") || !strings.Contains(body, tc.note) {
			t.Errorf("%s: rows %v, want %v and %q", tc.query, got, tc.rows, tc.note)
		}
		// The counts stay those of the whole fleet, and the form keeps
		// what was asked.
		if !strings.Contains(body, `<b>920</b> healthy`) || !strings.Contains(body, `<a href="/">Clear</a>`) {
			t.Errorf("%s: counts or clear link missing", tc.query)
		}
	}
	body := get(t, h, http.MethodGet, "/?q=tenant-09%3F7&state=unavailable").Body.String()
	for _, want := range []string{`value="tenant-09?7"`, `<option value="unavailable" selected>unavailable</option>`,
		`class="count unavailable active" href="/?q=tenant-09%3F7&amp;state=unavailable"`} {
		if !strings.Contains(body, want) {
			t.Errorf("filtered page lacks %q", want)
		}
	}
	for _, bad := range []string{"/?state=sick", "/?q=%5B", "/?offset=-3", "/?cluster=nope"} {
		rec := get(t, h, http.MethodGet, bad)
		if rec.Code/100 != 4 || strings.Count(strings.TrimSpace(rec.Body.String()), "\n") != 0 {
			t.Errorf("GET %s: %d %q, want a 4xx with one line", bad, rec.Code, rec.Body.String())
		}
	}
}

// Past MaxRows the table pages on, keeping the filters.
func TestFleetPagePages(t *testing.T) {
	h := newHandler(t, Options{Clusters: statustest.FleetSources(MaxRows+5, time.Now())})
	body := get(t, h, http.MethodGet, "/?q=tenant").Body.String()
	if n := len(fleetRows(body)); n != MaxRows || !strings.Contains(body, `<a href="/?offset=1000&amp;q=tenant">Next →</a>`) {
		t.Errorf("first page: %d rows, next link missing", n)
	}
	body = get(t, h, http.MethodGet, "/?q=tenant&offset=1000").Body.String()
	if n := len(fleetRows(body)); n != 5 || !strings.Contains(body, "1001–1005 of 1005") || !strings.Contains(body, `<a href="/?q=tenant">← Previous</a>`) {
		t.Errorf("second page: %d rows", n)
	}
}

// /?cluster=NAME is one cluster's card, charts and all, with the way back.
func TestFleetClusterDetail(t *testing.T) {
	srcs := statustest.FleetSources(100, time.Now())
	h := newHandler(t, Options{Clusters: srcs})
	body := get(t, h, http.MethodGet, "/?cluster=tenant-0003").Body.String()
	rows := memberRows(body)
	if len(rows) != 3 || rows["m3"].status != "DOWN" || strings.Count(body, `<section class="cluster`) != 1 {
		t.Fatalf("detail of tenant-0003: %d member rows %+v", len(rows), rows)
	}
	for _, want := range []string{
		`<title>DEGRADED · tenant-0003 · etcd-monitor</title>`,
		`<a href="/">← All clusters</a>`,
		`data-cluster="tenant-0003"`,
		// The header speaks for the fleet.
		`data-overall="unavailable"`,
		`href="/api/v1/cluster/status?cluster=tenant-0003"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("detail lacks %q", want)
		}
	}
	if len(fleetRows(body)) != 0 {
		t.Error("detail shows the fleet table")
	}
	// With few clusters, ?cluster= works too, and the page is the cards.
	few := newHandler(t, Options{Clusters: srcs[:MaxCards]})
	body = get(t, few, http.MethodGet, "/").Body.String()
	if strings.Count(body, `<section class="cluster`) != MaxCards || len(fleetRows(body)) != 0 {
		t.Errorf("%d clusters are not shown as cards", MaxCards)
	}
	if body = get(t, few, http.MethodGet, "/?cluster=tenant-0007").Body.String(); strings.Count(body, `<section class="cluster`) != 1 {
		t.Error("?cluster= with few clusters")
	}
	if body = get(t, few, http.MethodGet, "/?state=unhealthy").Body.String(); len(fleetRows(body)) != 2 {
		t.Errorf("a filter with few clusters: %d rows, want 2", len(fleetRows(body)))
	}
}

// BenchmarkFleetPage renders / for 1,000 hand-built 3-member clusters.
func BenchmarkFleetPage(b *testing.B) {
	benchmarkPage(b, "/")
}

// BenchmarkFleetClusterDetail renders /?cluster=NAME in a fleet of 1,000.
func BenchmarkFleetClusterDetail(b *testing.B) {
	benchmarkPage(b, "/?cluster=tenant-0500")
}

func benchmarkPage(b *testing.B, path string) {
	h, err := New(Options{Clusters: statustest.FleetSources(1000, time.Now())})
	if err != nil {
		b.Fatal(err)
	}
	statustest.BenchmarkServe(b, h, path, "bytes/page")
}

// A cluster whose checks stopped finishing says so in its row, whatever
// its last state was.
func TestFleetPageStaleCheck(t *testing.T) {
	srcs := statustest.FleetSources(MaxCards+1, time.Now())
	srcs[0].(*statustest.Source).Set(statustest.Healthy("tenant-0000", time.Now().Add(-5*time.Minute)))
	body := get(t, newHandler(t, Options{Clusters: srcs}), http.MethodGet, "/").Body.String()
	if !regexp.MustCompile(`data-fleet-cluster="tenant-0000" data-state="healthy">.*<time class="stale" datetime="[^"]+" title="[^"]+">5m ago</time>`).MatchString(body) {
		t.Error("a check 5 minutes old is not marked stale")
	}
	if strings.Count(body, `class="stale"`) != 1 {
		t.Errorf("%d stale checks, want 1", strings.Count(body, `class="stale"`))
	}
}

// The rows are written by hand, not by html/template: names and problems
// from a cluster are still text, never markup.
func TestFleetRowsEscape(t *testing.T) {
	srcs := statustest.FleetSources(MaxCards, time.Now())
	name := `x"><script>alert(1)</script>&`
	s := statustest.Down(statustest.Healthy(name, time.Now()), "m3", "refused")
	s.Members[0].Name = `<i>m1</i>`
	srcs = append(srcs, statustest.New(name).Set(s))
	body := get(t, newHandler(t, Options{Clusters: srcs}), http.MethodGet, "/").Body.String()
	if strings.Contains(body, "<script>") || strings.Contains(body, "<i>") {
		t.Fatal("a cluster's name or member name became markup")
	}
	for _, want := range []string{
		`<tr data-fleet-cluster="x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;" data-state="degraded">`,
		`<a href="/?cluster=x%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E%26">x&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&amp;</a>`,
		`<td>&lt;i&gt;m1&lt;/i&gt;</td>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// FuzzFleetQuery sends arbitrary queries to the page of a fleet: no input
// may panic it or get a 5xx, and a 4xx is one line.
func FuzzFleetQuery(f *testing.F) {
	h, err := New(Options{Clusters: statustest.FleetSources(MaxCards+3, time.Now())})
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range []string{"", "q=tenant-0*&state=unhealthy", "state=degraded,unknown&offset=2", "cluster=tenant-0003", "q=%5B", "offset=99999999999999999999"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("?%s: %d %s", query, rec.Code, rec.Body.String())
		case rec.Code >= 400 && strings.Count(strings.TrimSpace(rec.Body.String()), "\n") != 0:
			t.Fatalf("?%s: %d with more than one line", query, rec.Code)
		}
	})
}
