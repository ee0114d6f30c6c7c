package statuspage

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
)

// The trend charts are inline SVG drawn here, on the server: no script, no
// library, nothing loaded. Geometry is in the SVG's own units; the browser
// scales the whole chart to the width of its column, so the same numbers
// serve a phone and a desktop. Colours come from the stylesheet's classes,
// as the page's Content-Security-Policy allows no inline style.

// Chart geometry, in SVG units.
const (
	chartW, chartH = 320.0, 132.0
	padL, padR     = 50.0, 6.0 // room for the y labels
	padT, padB     = 8.0, 18.0 // room for the x labels
	plotW, plotH   = chartW - padL - padR, chartH - padT - padB
)

type chartView struct {
	Title string
	// Where the plot's left and right edges, the y labels (right-aligned)
	// and the x labels' baseline are.
	PlotL, PlotR, YLabelX, XLabelY float64
	// Label describes the chart for screen readers and as a tooltip.
	Label  string
	W, H   float64
	Grid   []gridView // horizontal lines with their labels
	XTicks []tickView
	Series []seriesView
	Bars   []barView
	Ref    *gridView // a reference line, e.g. the quota
	Note   string    // one line under the chart
	Legend []legendView
}

type gridView struct {
	Y, LabelY float64
	Label     string
}

type tickView struct {
	X     float64
	Label string
	// Anchor is the SVG text-anchor, so the outer labels stay inside.
	Anchor string
}

type seriesView struct {
	Class string
	D     string // path data
}

type barView struct {
	X, Y, W, H float64
}

type legendView struct {
	Class, Text string
}

// trendsView is a cluster's three charts, or why there are none yet.
type trendsView struct {
	Charts []chartView
	Empty  string
}

// opNames are the probe operations as the legend names them.
var opNames = map[string]string{"get": "get", "get_serializable": "serializable get", "put": "put", "delete": "delete"}

func buildTrends(tr status.Trend, now time.Time) trendsView {
	if len(tr.Samples) < 2 {
		return trendsView{Empty: "Collecting: the charts appear after the second sample (one per check interval)."}
	}
	sc := xScale{from: now.Add(-status.TrendSpan), gap: tr.Every * 5 / 2}
	return trendsView{Charts: []chartView{latencyChart(tr, sc), dbChart(tr, sc), leaderChart(tr, sc)}}
}

// xScale maps times of the last hour onto the plot's width.
type xScale struct {
	from time.Time
	gap  time.Duration // samples further apart than this are not joined
}

func (x xScale) at(t time.Time) float64 {
	f := float64(t.Sub(x.from)) / float64(status.TrendSpan)
	return padL + plotW*min(max(f, 0), 1)
}

func yAt(v, top float64) float64 { return padT + plotH*(1-min(max(v/top, 0), 1)) }

func newChart(title string, x xScale) chartView {
	c := chartView{Title: title, W: chartW, H: chartH, PlotL: padL, PlotR: padL + plotW, YLabelX: padL - 4, XLabelY: chartH - 4}
	for i, label := range []string{"-60m", "-45m", "-30m", "-15m", "now"} {
		t := tickView{X: padL + plotW*float64(i)/4, Label: label, Anchor: "middle"}
		switch i {
		case 0:
			t.Anchor = "start"
		case 4:
			t.Anchor = "end"
		}
		c.XTicks = append(c.XTicks, t)
	}
	return c
}

func (c *chartView) grid(top float64, label func(float64) string) {
	for _, f := range []float64{0, 0.5, 1} {
		y := yAt(top*f, top)
		c.Grid = append(c.Grid, gridView{Y: y, LabelY: y + 3.5, Label: label(top * f)})
	}
}

// path joins the samples' values into lines, leaving a gap where a value
// is missing (value returns false) or samples are too far apart.
func path(tr status.Trend, x xScale, top float64, value func(status.Sample) (float64, bool)) string {
	// Appended by hand: a page carries a few thousand points, and fmt
	// would cost most of the render.
	b := make([]byte, 0, 14*len(tr.Samples))
	var prev time.Time
	joined := false
	for _, s := range tr.Samples {
		v, ok := value(s)
		if !ok {
			joined = false
			continue
		}
		cmd := byte('L')
		if !joined || s.At.Sub(prev) > x.gap {
			cmd = 'M'
		}
		b = append(b, cmd)
		b = appendTenths(b, x.at(s.At))
		b = append(b, ' ')
		b = appendTenths(b, yAt(v, top))
		prev, joined = s.At, true
	}
	return string(b)
}

// appendTenths appends a coordinate (never negative) with one decimal,
// as integers: several times faster than formatting the float.
func appendTenths(b []byte, v float64) []byte {
	n := int64(math.Round(v * 10))
	b = strconv.AppendInt(b, n/10, 10)
	return append(b, '.', byte('0'+n%10))
}

func latencyChart(tr status.Trend, x xScale) chartView {
	c := newChart("Probe p99", x)
	peak := 0.0
	var latest []string
	for i, op := range status.TrendOps {
		seen := false
		last := math.NaN()
		for _, s := range tr.Samples {
			if v := s.P99[i]; !math.IsNaN(v) {
				peak, seen = max(peak, v), true
			}
			last = s.P99[i]
		}
		if !seen {
			continue // e.g. no write probes
		}
		cls := "s-" + op
		c.Legend = append(c.Legend, legendView{Class: cls, Text: opNames[op]})
		c.Series = append(c.Series, seriesView{Class: cls})
		if !math.IsNaN(last) {
			latest = append(latest, opNames[op]+" "+status.Millis(last))
		}
	}
	if len(c.Series) == 0 {
		c.Note = "No successful probe in the last hour (probes off, or every one failed)."
		c.Label = "Probe p99 over the last hour: no data"
		c.grid(1, msLabel)
		return c
	}
	top := niceCeil(peak * 1.1)
	c.grid(top, msLabel)
	j := 0
	for i, op := range status.TrendOps {
		if j >= len(c.Series) || c.Series[j].Class != "s-"+op {
			continue
		}
		c.Series[j].D = path(tr, x, top, func(s status.Sample) (float64, bool) { return s.P99[i], !math.IsNaN(s.P99[i]) })
		j++
	}
	c.Note = "Highest " + status.Millis(peak)
	if len(latest) > 0 {
		c.Note = "Now " + strings.Join(latest, ", ") + "; highest " + status.Millis(peak)
	}
	c.Label = "Probe p99 over the last hour. " + c.Note + "."
	return c
}

func msLabel(v float64) string {
	if v == 0 {
		return "0"
	}
	return round(v) + " ms"
}

func dbChart(tr status.Trend, x xScale) chartView {
	c := newChart("DB size", x)
	var peak, quota int64
	var last *status.Sample
	for i, s := range tr.Samples {
		if s.DBSize >= 0 {
			peak, quota, last = max(peak, s.DBSize), max(quota, s.DBQuota), &tr.Samples[i]
		}
	}
	if last == nil {
		c.Note = "No member answered in the last hour."
		c.Label = "DB size over the last hour: no data"
		c.grid(1, func(float64) string { return "" })
		return c
	}
	// Against the quota when it is near enough to matter; else scaled to
	// the size, with the quota named in the note, so growth stays visible.
	top := float64(quota)
	if quota <= 0 || peak < quota/2 {
		top = niceBytes(float64(peak) * 1.2)
	} else {
		c.Ref = &gridView{Y: padT, LabelY: padT + 10, Label: "quota " + bytesize.Format(quota)}
	}
	c.grid(top, func(v float64) string {
		if v == 0 {
			return "0"
		}
		return shortBytes(v)
	})
	c.Series = []seriesView{
		{Class: "s-db", D: path(tr, x, top, func(s status.Sample) (float64, bool) { return float64(s.DBSize), s.DBSize >= 0 })},
		{Class: "s-inuse", D: path(tr, x, top, func(s status.Sample) (float64, bool) { return float64(s.DBSizeInUse), s.DBSizeInUse >= 0 })},
	}
	c.Legend = []legendView{{"s-db", "size"}, {"s-inuse", "in use"}}
	c.Note = "Now " + bytesize.Format(last.DBSize)
	if last.DBQuota > 0 {
		c.Note += fmt.Sprintf(" of %s quota (%d%%)", bytesize.Format(last.DBQuota), int(math.Round(100*float64(last.DBSize)/float64(last.DBQuota))))
	}
	c.Note += ", " + bytesize.Format(last.DBSizeInUse) + " in use"
	c.Label = "DB size over the last hour. " + c.Note + "."
	return c
}

func leaderChart(tr status.Trend, x xScale) chartView {
	c := newChart("Leader changes", x)
	total, peak := uint64(0), uint64(1)
	type bar struct {
		at time.Time
		n  uint64
	}
	var bars []bar
	for i := 1; i < len(tr.Samples); i++ {
		prev, s := tr.Samples[i-1], tr.Samples[i]
		// The count only grows while the monitor runs; a restart starts a
		// new recorder, so a decrease cannot happen.
		if s.LeaderChanges > prev.LeaderChanges {
			n := s.LeaderChanges - prev.LeaderChanges
			bars = append(bars, bar{s.At, n})
			total += n
			peak = max(peak, n)
		}
	}
	top := float64(peak)
	c.grid(top, func(v float64) string {
		if v != math.Trunc(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	})
	w := max(plotW*float64(tr.Every)/float64(status.TrendSpan), 3)
	for _, b := range bars {
		y := yAt(float64(b.n), top)
		c.Bars = append(c.Bars, barView{X: x.at(b.at) - w/2, Y: y, W: w, H: padT + plotH - y})
	}
	// "Seen": changes before the monitor started are not known.
	switch total {
	case 0:
		c.Note = "None seen in the last hour."
	default:
		c.Note = strconv.FormatUint(total, 10) + " seen in the last hour."
	}
	c.Legend = []legendView{{"s-leader", "changes per check"}}
	c.Label = "Leader changes over the last hour. " + c.Note
	return c
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, so the grid's
// labels are round numbers.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

var byteUnits = []struct {
	size float64
	name string
}{{1 << 40, "TiB"}, {1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}, {1, "B"}}

// niceBytes rounds a size up to a round number of the binary unit it is
// shown in.
func niceBytes(v float64) float64 {
	for _, u := range byteUnits {
		if v >= u.size {
			return niceCeil(v/u.size) * u.size
		}
	}
	return 1
}

// shortBytes labels a grid line: "50 MiB", "1.5 GiB".
func shortBytes(v float64) string {
	for _, u := range byteUnits {
		if v >= u.size {
			return round(v/u.size) + " " + u.name
		}
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " B"
}

// round prints a grid value (a round number or half of one) without
// trailing zeros or an exponent.
func round(v float64) string {
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}
