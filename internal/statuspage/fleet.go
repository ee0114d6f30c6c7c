package statuspage

import (
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/status"
)

// MaxCards is the most clusters the page shows as full cards with charts.
// Past it (or whenever a filter is given) the page is the fleet view: the
// counts by state, a filter form and one table row per cluster, worst
// first; each row links to the cluster's card at /?cluster=NAME. Twelve
// cards with their charts are already several screens; a hundred would be
// a page nobody reads and a render nobody should pay for on every reload.
const MaxCards = 12

// MaxRows bounds the fleet table on one page (about 330 bytes of HTML a
// row); ?offset= pages on. At 1,000 clusters the whole fleet fits one page.
const MaxRows = 1000

// fleetView is the fleet part of the page.
type fleetView struct {
	Total    int
	Matched  int
	Counts   []countView
	Q        string
	States   []option
	Filtered bool
	// Rows is the table's body, written by writeRows rather than by the
	// template: html/template's escaping per field cost 45 ms and 93,000
	// allocations for 1,000 rows (docs/performance.md).
	Rows    template.HTML
	Showing string // "1–1000 of 1003"
	Prev    string // URL of the previous page, "" on the first
	Next    string // URL of the next page, "" on the last
}

type countView struct {
	State, Text string
	N           int
	URL         string
	Active      bool
}

type option struct {
	Value, Text string
	Selected    bool
}

// fleetQuery is what the fleet view was asked for.
type fleetQuery struct {
	q, state string
	filter   status.Filter
	offset   int
}

// parseFleetQuery reads ?q=, ?state= and ?offset=; the error is one line
// for a 400 answer.
func parseFleetQuery(v url.Values) (fleetQuery, error) {
	fq := fleetQuery{q: strings.TrimSpace(v.Get("q")), state: strings.TrimSpace(v.Get("state"))}
	f, err := status.ParseFilter(fq.q, fq.state)
	if err != nil {
		return fq, err
	}
	fq.filter = f
	if o := v.Get("offset"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 {
			return fq, fmt.Errorf("offset %q: want a number from 0", o)
		}
		fq.offset = n
	}
	return fq, nil
}

// url is the page's URL for these filters at offset (0: the first page).
func (fq fleetQuery) url(state string, offset int) string {
	v := url.Values{}
	if fq.q != "" {
		v.Set("q", fq.q)
	}
	if state != "" {
		v.Set("state", state)
	}
	if offset > 0 {
		v.Set("offset", strconv.Itoa(offset))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + strings.ReplaceAll(v.Encode(), "+", "%20")
}

func clusterURL(name string) string {
	return "/?cluster=" + strings.ReplaceAll(url.QueryEscape(name), "+", "%20")
}

// buildFleet summarises every cluster (the snapshot only, no probe
// windows: see status.Summarize) and lays out the rows of one page.
func buildFleet(srcs []status.Source, fq fleetQuery, now time.Time) (*fleetView, string) {
	fl := status.BuildFleet(srcs, fq.filter, now)
	fv := &fleetView{Total: fl.Total, Matched: fl.Matched, Q: fq.q, Filtered: fq.filter.Active()}
	for _, st := range status.States {
		fv.Counts = append(fv.Counts, countView{
			State: st, Text: st, N: fl.Counts.Of(st), URL: fq.url(st, 0), Active: strings.EqualFold(fq.state, st),
		})
	}
	fv.States = []option{{"", "any state", fq.state == ""}, {status.StateUnhealthy, "not healthy", strings.EqualFold(fq.state, status.StateUnhealthy)}}
	for _, st := range status.States {
		fv.States = append(fv.States, option{st, st, strings.EqualFold(fq.state, st)})
	}
	start := min(fq.offset, len(fl.Clusters))
	end := start + min(MaxRows, len(fl.Clusters)-start)
	fv.Rows = writeRows(fl.Clusters[start:end], now)
	if len(fl.Clusters) > 0 {
		fv.Showing = fmt.Sprintf("%d–%d of %d", start+1, end, len(fl.Clusters))
		if start >= len(fl.Clusters) {
			fv.Showing = fmt.Sprintf("none past %d of %d", start, len(fl.Clusters))
		}
	}
	if start > 0 {
		fv.Prev = fq.url(fq.state, max(0, start-MaxRows))
	}
	if end < len(fl.Clusters) {
		fv.Next = fq.url(fq.state, end)
	}
	return fv, fl.Counts.Worst()
}

// writeRows writes the table rows, one line each. Every text from a cluster
// (its name, the problem, the leader's name) goes through
// template.HTMLEscapeString, as the template would escape it; the URL is
// query-escaped first. The cells carry no labels: the stylesheet names them
// on a phone.
func writeRows(sums []status.Summary, now time.Time) template.HTML {
	var b strings.Builder
	b.Grow(340 * len(sums))
	esc := template.HTMLEscapeString
	for _, s := range sums {
		name := esc(s.Name)
		b.WriteString(`<tr data-fleet-cluster="`)
		b.WriteString(name)
		b.WriteString(`" data-state="`)
		b.WriteString(esc(s.State))
		b.WriteString(`"><th scope="row"><a href="`)
		b.WriteString(esc(clusterURL(s.Name)))
		b.WriteString(`">`)
		b.WriteString(name)
		b.WriteString(`</a></th><td><span class="badge `)
		b.WriteString(esc(s.State))
		b.WriteString(`">`)
		b.WriteString(esc(status.StateText(s.State)))
		b.WriteString(`</span></td><td>`)
		if s.Members > 0 {
			b.WriteString(strconv.Itoa(s.HealthyMembers))
			b.WriteString(" of ")
			b.WriteString(strconv.Itoa(s.Members))
			b.WriteString(" healthy")
		} else {
			b.WriteString(placeholder(""))
		}
		b.WriteString(`</td><td>`)
		if s.Leader != "" {
			b.WriteString(esc(s.Leader))
		} else {
			b.WriteString("none")
		}
		b.WriteString(`</td><td>`)
		if s.LastCheck != nil {
			t := timeOf(now, *s.LastCheck)
			b.WriteString(`<time`)
			if !s.Fresh {
				b.WriteString(` class="stale"`)
			}
			b.WriteString(` datetime="`)
			b.WriteString(t.ISO)
			b.WriteString(`" title="`)
			b.WriteString(t.Absolute)
			b.WriteString(`">`)
			b.WriteString(t.Ago)
			b.WriteString(`</time>`)
		} else {
			b.WriteString("not yet")
		}
		b.WriteString(`</td><td>`)
		b.WriteString(esc(placeholder(s.Problem)))
		if s.ProblemCount > 1 {
			b.WriteString(` <span class="more">+`)
			b.WriteString(strconv.Itoa(s.ProblemCount - 1))
			b.WriteString(` more</span>`)
		}
		b.WriteString("</td></tr>\n")
	}
	return template.HTML(b.String()) //nolint:gosec // every text above is escaped
}
