package statuspage

import (
	"encoding/xml"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

// anHour feeds a recorder the last hour of a hand-built cluster, one
// sample per 10 s check: read probes about a millisecond with a spike to
// 40 ms from 35 to 30 minutes ago, the DB growing from 12 to 60 MiB, two
// leader changes (40 and 10 minutes ago), and no check at all from 22 to 20
// minutes ago. It returns the cluster's source, its recorder and the
// snapshot of the hour's end.
func anHour(t testing.TB, now time.Time) (*statustest.Source, *status.Recorder) {
	t.Helper()
	src := statustest.New("main")
	rec := status.NewRecorder([]status.Source{src})
	start := now.Add(-status.TrendSpan + time.Second)
	type change struct {
		at time.Time
		to string
	}
	var changes []change
	for at := start; !at.After(now); at = at.Add(10 * time.Second) {
		ago := now.Sub(at)
		if ago < 22*time.Minute && ago >= 20*time.Minute {
			continue // the monitor was not running
		}
		if (ago <= 40*time.Minute && len(changes) == 0) || (ago <= 10*time.Minute && len(changes) == 1) {
			changes = append(changes, change{at, []string{"m2", "m3"}[len(changes)]})
		}
		snap := statustest.Healthy("main", at)
		for i, c := range changes {
			statustest.NewLeader(snap, c.to, uint64(3+i), c.at)
		}
		for i := range snap.Members {
			f := 1 - float64(ago)/float64(status.TrendSpan)
			snap.Members[i].DBSize = int64((12 + f*48) * (1 << 20))
			snap.Members[i].DBSizeInUse = snap.Members[i].DBSize * 3 / 4
		}
		var l []collector.LatencySummary
		for i, m := range []string{"m1", "m2", "m3"} {
			r := time.Duration(1000+150*i+int(200*math.Sin(float64(ago)/float64(3*time.Minute)))) * time.Microsecond
			if ago <= 35*time.Minute && ago > 30*time.Minute {
				r = 40 * time.Millisecond
			}
			l = append(l, statustest.Latency(m, collector.OpGet, 4, r), statustest.Latency(m, collector.OpGetSerializable, 4, r/2),
				statustest.Latency(m, collector.OpPut, 4, 3*r), statustest.Latency(m, collector.OpDelete, 4, 5*r/2))
		}
		src.Set(snap).SetLatency(l...)
		rec.Record(at)
	}
	return src, rec
}

var svgRE = regexp.MustCompile(`(?s)<figure class="trend" data-chart="([^"]+)">.*?(<svg.*?</svg>).*?<p class="note">([^<]*)</p>`)

// svgDoc is the part of an SVG chart the tests look at.
type svgDoc struct {
	XMLName xml.Name `xml:"svg"`
	ViewBox string   `xml:"viewBox,attr"`
	Role    string   `xml:"role,attr"`
	Label   string   `xml:"aria-label,attr"`
	Title   string   `xml:"title"`
	Lines   []struct {
		Class string `xml:"class,attr"`
	} `xml:"line"`
	Texts []string `xml:"text"`
	Paths []struct {
		Class string `xml:"class,attr"`
		D     string `xml:"d,attr"`
	} `xml:"path"`
	Rects []struct {
		X      float64 `xml:"x,attr"`
		Height float64 `xml:"height,attr"`
	} `xml:"rect"`
}

type renderedChart struct {
	svg  svgDoc
	note string
}

// charts parses the page's charts: each SVG must be well-formed XML.
func charts(t *testing.T, body string) map[string]renderedChart {
	t.Helper()
	out := map[string]renderedChart{}
	for _, m := range svgRE.FindAllStringSubmatch(body, -1) {
		var d svgDoc
		if err := xml.Unmarshal([]byte(m[2]), &d); err != nil {
			t.Fatalf("chart %s is not well-formed SVG: %v\n%s", m[1], err, m[2])
		}
		out[m[1]] = renderedChart{d, m[3]}
	}
	return out
}

func TestTrendCharts(t *testing.T) {
	now := time.Now()
	src, rec := anHour(t, now)
	h := newHandler(t, Options{Clusters: []status.Source{src}, Trends: rec})
	body := get(t, h, http.MethodGet, "/").Body.String()
	for _, bad := range []string{"NaN", "Inf", "<script", "style="} {
		if strings.Contains(body, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	cs := charts(t, body)
	if len(cs) != 3 || !strings.Contains(body, "<h3>Last hour</h3>") {
		t.Fatalf("want 3 charts under Last hour, got %d", len(cs))
	}

	p99 := cs["Probe p99"]
	if p99.svg.ViewBox != "0 0 320 132" || p99.svg.Role != "img" || p99.svg.Title != p99.svg.Label || !strings.HasPrefix(p99.svg.Label, "Probe p99 over the last hour. Now get ") {
		t.Errorf("p99 chart: %+v", p99.svg)
	}
	// One line per operation, each broken once by the two minutes without
	// a check; the y axis reaches the 120 ms put spike, rounded up.
	if len(p99.svg.Paths) != 4 {
		t.Fatalf("p99 chart has %d lines, want 4", len(p99.svg.Paths))
	}
	for i, op := range []string{"get", "get_serializable", "put", "delete"} {
		p := p99.svg.Paths[i]
		if p.Class != "line s-"+op || strings.Count(p.D, "M") != 2 || strings.Count(p.D, "L") < 300 {
			t.Errorf("%s line: class %q, %d moves, %d segments", op, p.Class, strings.Count(p.D, "M"), strings.Count(p.D, "L"))
		}
	}
	if want := []string{"0", "100 ms", "200 ms", "-60m", "-45m", "-30m", "-15m", "now"}; strings.Join(p99.svg.Texts, ",") != strings.Join(want, ",") {
		t.Errorf("p99 chart labels %q, want %q", p99.svg.Texts, want)
	}
	if !strings.Contains(p99.note, "highest 120 ms") || !strings.Contains(p99.note, "serializable get ") {
		t.Errorf("p99 note %q", p99.note)
	}
	// The spike sits 35 to 30 minutes ago: in x from 50 + 264*25/60 to
	// 50 + 264*30/60, and the get line rises there to 40/200 of the plot's
	// 106 units of height.
	if !regexp.MustCompile(`L1(6[0-9]|7[0-9]|8[01])\.\d 92\.8L`).MatchString(p99.svg.Paths[0].D) {
		t.Errorf("get line lacks the 40 ms spike at 35-30 minutes ago: %s", p99.svg.Paths[0].D)
	}

	db := cs["DB size"]
	if len(db.svg.Paths) != 2 || db.svg.Paths[0].Class != "line s-db" || db.svg.Paths[1].Class != "line s-inuse" {
		t.Errorf("DB chart lines %+v", db.svg.Paths)
	}
	// 60 MiB of 2 GiB is far from the quota: the axis is scaled to the
	// size and the note names the quota.
	if want := []string{"0", "50 MiB", "100 MiB"}; strings.Join(db.svg.Texts[:3], ",") != strings.Join(want, ",") {
		t.Errorf("DB labels %q, want %q", db.svg.Texts[:3], want)
	}
	if !strings.HasPrefix(db.note, "Now 59.9 MiB of 2.0 GiB quota (3%), 44.9 MiB in use") {
		t.Errorf("DB note %q", db.note)
	}
	for _, l := range db.svg.Lines {
		if l.Class == "ref" {
			t.Error("a quota line on a chart scaled far below the quota")
		}
	}

	lc := cs["Leader changes"]
	if len(lc.svg.Rects) != 2 || lc.note != "2 seen in the last hour." {
		t.Fatalf("leader chart: %d bars, note %q", len(lc.svg.Rects), lc.note)
	}
	for i, ago := range []float64{40, 10} {
		x := 50 + 264*(60-ago)/60
		if r := lc.svg.Rects[i]; math.Abs(r.X+1.5-x) > 1 || r.Height < 100 {
			t.Errorf("bar %d at x %.1f (height %.1f), want one full bar %g minutes ago at %.1f", i, r.X, r.Height, ago, x)
		}
	}
}

// Near the quota the DB chart is drawn against it, with the quota line.
func TestTrendChartAgainstQuota(t *testing.T) {
	now := time.Now()
	src := statustest.New("main")
	rec := status.NewRecorder([]status.Source{src})
	for i := range 10 {
		at := now.Add(time.Duration(i-9) * 10 * time.Second)
		s := statustest.Healthy("main", at)
		s.Members[0].DBSize = (1500 + int64(i)*40) << 20
		src.Set(s)
		rec.Record(at)
	}
	h := newHandler(t, Options{Clusters: []status.Source{src}, Trends: rec})
	body := get(t, h, http.MethodGet, "/").Body.String()
	db := charts(t, body)["DB size"]
	if !strings.Contains(strings.Join(db.svg.Texts, ","), "0,1 GiB,2 GiB,") || !strings.Contains(body, `>quota 2.0 GiB</text>`) ||
		!strings.HasPrefix(db.note, "Now 1.8 GiB of 2.0 GiB quota (91%)") {
		t.Errorf("DB chart near the quota: labels %q, note %q", db.svg.Texts, db.note)
	}
	// No probes at all: the chart says so instead of drawing nothing.
	p99 := charts(t, body)["Probe p99"]
	if len(p99.svg.Paths) != 0 || !strings.HasPrefix(p99.note, "No successful probe") {
		t.Errorf("p99 chart without probes: %+v %q", p99.svg.Paths, p99.note)
	}
}

func TestTrendChartsWaitForSamples(t *testing.T) {
	src := healthy(time.Now())
	rec := status.NewRecorder([]status.Source{src})
	rec.Record(time.Now())
	body := get(t, newHandler(t, Options{Clusters: []status.Source{src}, Trends: rec}), http.MethodGet, "/").Body.String()
	if !strings.Contains(body, "<p class=\"note\" data-trends-empty>Collecting") || strings.Contains(body, "<svg") {
		t.Error("one sample should show the collecting note and no chart")
	}
	body = get(t, newHandler(t, Options{Clusters: []status.Source{src}}), http.MethodGet, "/").Body.String()
	if strings.Contains(body, "Last hour") {
		t.Error("charts section without a recorder")
	}
}

func TestNiceScales(t *testing.T) {
	for v, want := range map[float64]float64{0: 1, 0.7: 1, 1: 1, 1.2: 2, 3: 5, 7: 10, 44: 50, 132: 200} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%g) = %g, want %g", v, got, want)
		}
	}
	for v, want := range map[float64]string{60 << 20: "100 MiB", 1.5 * (1 << 30): "2 GiB", 900: "1000 B"} {
		if got := shortBytes(niceBytes(v)); got != want {
			t.Errorf("niceBytes(%g) = %s, want %s", v, got, want)
		}
	}
}

// BenchmarkPageWithTrends renders the page of one cluster with a full hour
// of trends (360 samples, three charts), as every reload does.
func BenchmarkPageWithTrends(b *testing.B) {
	src, rec := anHour(b, time.Now())
	h, err := New(Options{Clusters: []status.Source{src}, Trends: rec})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkPageWithoutTrends is the same page without the charts, for
// comparison on the same (possibly loaded) machine.
func BenchmarkPageWithoutTrends(b *testing.B) {
	src, _ := anHour(b, time.Now())
	h, err := New(Options{Clusters: []status.Source{src}})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}
