package main

import (
	"fmt"
	"io"
	"math"
)

// target is one of the limits issue 16 sets for 1,000 clusters on 2 cores;
// at other sizes they are for orientation only.
type target struct {
	What  string `json:"what"`
	Limit string `json:"limit"`
	Value num    `json:"value"`
	OK    bool   `json:"ok"`
}

// targets checks the report against issue 16's limits.
func (r *report) targets() []target {
	falseReports := 0.0
	for _, v := range r.ProbeFailures {
		falseReports += v
	}
	for _, k := range []string{"member is down", "cannot serve a read", "looks partitioned"} {
		falseReports += float64(r.LogLinesWindow[k])
	}
	t := []target{
		{"monitor CPU, cores", "<= 0.25", r.MonitorCPUCores, r.MonitorCPUCores <= 0.25},
		{"settled RSS, MiB", "<= 400", r.RSSSettledMiB, r.RSSSettledMiB <= 400},
		{"scrape median, ms", "<= 500", r.ScrapeMs.Median, r.ScrapeMs.Median <= 500},
		{"scrape size, MiB", "<= 10", r.ScrapeMiB, r.ScrapeMiB <= 10},
		// The peak over as long unscraped just before: what the scrapes add,
		// not the heap's growth between collections, which happens anyway.
		{"RSS during scrapes / unscraped before", "<= 1.10", r.RSSDuringScrapesMaxMiB / r.RSSControlMaxMiB, r.RSSDuringScrapesMaxMiB <= 1.1*r.RSSControlMaxMiB},
		{"false reports in the window (probe failures + down/unhealthy/partitioned lines)", "0", num(falseReports), falseReports == 0},
	}
	for _, p := range r.Probes {
		if !math.IsNaN(float64(p.MedianRatio)) {
			t = append(t, target{"probe p50 / reference p50, " + p.Operation, "0.8-1.2", p.MedianRatio, p.MedianRatio >= 0.8 && p.MedianRatio <= 1.2})
		}
	}
	return t
}

func printTargets(w io.Writer, ts []target) {
	fmt.Fprintln(w, "issue 16's limits (set for 1,000 clusters on 2 cores):")
	for _, t := range ts {
		verdict := "ok"
		if !t.OK {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "  %-6s %s: %.3f (limit %s)\n", verdict, t.What, float64(t.Value), t.Limit)
	}
	fmt.Fprintln(w)
}
