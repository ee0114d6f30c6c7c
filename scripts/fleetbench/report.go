package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// num is a float that rounds to 4 decimals in JSON and is null when NaN
// (e.g. a median of nothing).
type num float64

func (n num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return []byte(strconv.FormatFloat(math.Round(f*1e4)/1e4, 'f', -1, 64)), nil
}

type report struct {
	Clusters      int      `json:"clusters"`
	EtcdClusters  int      `json:"etcd_clusters"`
	EtcdMembers   int      `json:"etcd_members"`
	TLS           bool     `json:"tls,omitempty"` // -tls; left out without it, as in summaries from before the flag
	EtcdBinary    string   `json:"etcd_binary"`
	EtcdNice      int      `json:"etcd_nice,omitempty"`
	MonitorArgs   []string `json:"monitor_args"`
	SettleSeconds num      `json:"settle_seconds"`
	WindowSeconds num      `json:"window_seconds"`
	LoadAverage   string   `json:"load_average"`

	MonitorCPUCores num     `json:"monitor_cpu_cores"`
	EtcdCPUCores    num     `json:"etcd_cpu_cores"`
	HarnessCPUCores num     `json:"harness_cpu_cores"`
	RSSSettledMiB   num     `json:"rss_settled_mib"`
	RSSWindowMaxMiB num     `json:"rss_window_max_mib"`
	Goroutines      float64 `json:"goroutines"`
	OpenFDs         int     `json:"open_fds"`

	Rounds                 []roundsRow        `json:"rounds_window"`
	Probes                 []probeRow         `json:"probes"`
	ProbeFailures          map[string]float64 `json:"probe_failures_window"`
	LogLinesWindow         map[string]int     `json:"log_lines_window"`
	LogLinesTotal          map[string]int     `json:"log_lines_since_start"`
	ScrapeFormat           string             `json:"scrape_format"`
	ScrapeMs               stats              `json:"scrape_ms"`
	ScrapeMiB              num                `json:"scrape_mib"`
	Series                 int                `json:"series"`
	RSSBeforeScrapesMiB    num                `json:"rss_before_scrapes_mib"`
	RSSControlMaxMiB       num                `json:"rss_control_max_mib"`
	RSSControlSeconds      float64            `json:"rss_control_seconds"`
	RSSDuringScrapesMaxMiB num                `json:"rss_during_scrapes_max_mib"`
	Targets                []target           `json:"targets"`
}

// roundsRow is what the monitor says of its own lateness over the window,
// for one kind of round: what it ran, started late and skipped, and the
// late and skipped share of the rounds due (EtcdMonitorFallingBehind's
// measure; its threshold is 1%).
type roundsRow struct {
	Kind    string `json:"kind"`
	Ran     num    `json:"ran"`
	Late    num    `json:"late"`
	Skipped num    `json:"skipped"`
	Behind  num    `json:"behind_share"`
}

// monitorRounds reads the window's increase of the monitor's rounds
// counters, by kind.
func monitorRounds(before, after map[string]*dto.MetricFamily) []roundsRow {
	inc := func(name string) map[string]float64 {
		b, a := countersBy(before, name, "kind"), countersBy(after, name, "kind")
		for k := range a {
			a[k] -= b[k]
		}
		return a
	}
	ran, late, skipped := inc("etcd_monitor_rounds_total"), inc("etcd_monitor_rounds_late_total"), inc("etcd_monitor_rounds_skipped_total")
	var rows []roundsRow
	for _, kind := range []string{"check", "probe"} {
		row := roundsRow{Kind: kind, Ran: num(ran[kind]), Late: num(late[kind]), Skipped: num(skipped[kind]), Behind: num(math.NaN())}
		if due := ran[kind] + skipped[kind]; due > 0 {
			// At most all: the counters are read one after another, so
			// rounds in between can be counted late but not yet run.
			row.Behind = num(min(late[kind]+skipped[kind], due) / due)
		}
		rows = append(rows, row)
	}
	return rows
}

// probeRow compares one probe operation with the reference client's over
// the window. Both medians come from the same estimator (the monitor's
// native histogram buckets, interpolated), so the ratio is not skewed by
// the buckets' width; the reference's exact median is given beside.
type probeRow struct {
	Operation         string `json:"operation"`
	MonitorCount      num    `json:"monitor_count"`
	MonitorMedianMs   num    `json:"monitor_median_ms"`
	MonitorP99Ms      num    `json:"monitor_p99_ms"`
	ReferenceCount    int    `json:"reference_count"`
	ReferenceMedianMs num    `json:"reference_median_ms"`
	ReferenceExactMs  num    `json:"reference_exact_median_ms"`
	ReferenceP99Ms    num    `json:"reference_p99_ms"`
	ReferenceFailures int    `json:"reference_failures"`
	MedianRatio       num    `json:"median_ratio"`
}

type stats struct {
	Median num `json:"median"`
	P99    num `json:"p99"`
	Max    num `json:"max"`
	N      int `json:"n"`
}

// compareProbes turns two scrapes of the monitor and the reference samples
// into per-operation rows and the window's probe failures by reason.
func compareProbes(before, after map[string]*dto.MetricFamily, ref *reference) ([]probeRow, map[string]float64) {
	const hist = "etcd_monitor_probe_duration_seconds"
	b, a := nativeBy(before, hist, "operation"), nativeBy(after, hist, "operation")
	samples, fails := ref.result()
	var rows []probeRow
	for _, op := range refOps {
		row := probeRow{Operation: op, MonitorCount: num(math.NaN()), MonitorMedianMs: num(math.NaN()), MonitorP99Ms: num(math.NaN()),
			ReferenceMedianMs: num(math.NaN()), MedianRatio: num(math.NaN())}
		s := samples[op]
		row.ReferenceCount, row.ReferenceFailures = len(s), fails[op]
		ms := make([]float64, len(s))
		for i, d := range s {
			ms[i] = d.Seconds() * 1000
		}
		sort.Float64s(ms)
		row.ReferenceExactMs, row.ReferenceP99Ms = num(percentile(ms, 50)), num(percentile(ms, 99))
		if a[op] != nil {
			d := a[op]
			if b[op] != nil {
				d = a[op].sub(b[op])
			}
			row.MonitorCount = num(d.total())
			row.MonitorMedianMs, row.MonitorP99Ms = num(d.quantile(.5)*1000), num(d.quantile(.99)*1000)
			if len(s) > 0 {
				row.ReferenceMedianMs = num(fromSamples(s, d.schema).quantile(.5) * 1000)
				row.MedianRatio = row.MonitorMedianMs / row.ReferenceMedianMs
			}
		}
		rows = append(rows, row)
	}
	const failures = "etcd_monitor_probe_failures_total"
	fb, fa := countersBy(before, failures, "reason"), countersBy(after, failures, "reason")
	out := map[string]float64{}
	for reason, v := range fa {
		if d := v - fb[reason]; d > 0 {
			out[reason] = d
		}
	}
	return rows, out
}

// logLines counts, in bytes [from, to) of the monitor's log, the lines
// that report a member down or unable to serve, and all warnings and errors.
func logLines(path string, from, to int64) map[string]int {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	data := make([]byte, max(to-from, 0))
	n, _ := f.ReadAt(data, from)
	return countLines(bytes.ToLower(data[:n]),
		"member is down", "cannot serve a read", "looks partitioned", "level=warn", "level=error")
}

// countSamples counts the samples of a text exposition.
func countSamples(body []byte) int {
	n := 0
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(line) > 0 && line[0] != '#' {
			n++
		}
	}
	return n
}

func summary(v []float64) stats {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return stats{Median: num(percentile(s, 50)), P99: num(percentile(s, 99)), Max: num(maxOf(s)), N: len(s)}
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return percentile(s, 50)
}

func maxOf(v []float64) float64 {
	m := math.NaN()
	for _, x := range v {
		if math.IsNaN(m) || x > m {
			m = x
		}
	}
	return m
}

func (r *report) print(w io.Writer) {
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	transport := ""
	if r.TLS {
		transport = ", mutual TLS"
	}
	if r.EtcdNice != 0 {
		transport += fmt.Sprintf(", etcd at nice %d", r.EtcdNice)
	}
	fmt.Fprintf(t, "fleet\t%d config entries over %d etcd clusters (%d member processes%s), settle %s, window %s, load %s\n",
		r.Clusters, r.EtcdClusters, r.EtcdMembers, transport, time.Duration(r.SettleSeconds*1e9), time.Duration(r.WindowSeconds*1e9), r.LoadAverage)
	fmt.Fprintf(t, "monitor CPU\t%.3f cores (etcd members together %.3f, this harness %.3f)\n", r.MonitorCPUCores, r.EtcdCPUCores, r.HarnessCPUCores)
	fmt.Fprintf(t, "monitor RSS\t%.1f MiB settled (never scraped), %.1f MiB max in the window\n", r.RSSSettledMiB, r.RSSWindowMaxMiB)
	fmt.Fprintf(t, "goroutines, fds\t%.0f, %d\n", r.Goroutines, r.OpenFDs)
	samples := fmt.Sprintf("%d samples", r.Series)
	if r.ScrapeFormat == "protobuf" {
		samples = "samples counted in text scrapes only"
	}
	fmt.Fprintf(t, "scrape (%s)\tmedian %.1f ms, p99 %.1f ms (n=%d), %.2f MiB, %s\n", r.ScrapeFormat, r.ScrapeMs.Median, r.ScrapeMs.P99, r.ScrapeMs.N, r.ScrapeMiB, samples)
	fmt.Fprintf(t, "RSS around scrapes\t%.1f MiB before, %.1f MiB max over %.0f s unscraped, %.1f MiB max during the scrapes\n",
		r.RSSBeforeScrapesMiB, r.RSSControlMaxMiB, r.RSSControlSeconds, r.RSSDuringScrapesMaxMiB)
	for _, rr := range r.Rounds {
		fmt.Fprintf(t, "%s rounds (window)\t%.0f ran, %.0f late, %.0f skipped: %.2f%% behind (the monitor's own lateness)\n",
			rr.Kind, rr.Ran, rr.Late, rr.Skipped, 100*rr.Behind)
	}
	fmt.Fprintf(t, "probe failures (window)\t%s\n", counts(r.ProbeFailures))
	fmt.Fprintf(t, "log lines (window)\t%s\n", counts(r.LogLinesWindow))
	fmt.Fprintf(t, "log lines (since start)\t%s\n", counts(r.LogLinesTotal))
	t.Flush()
	fmt.Fprintln(w)
	t = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "operation\tprobes\tprobe p50 ms\tprobe p99 ms\treference n\tref p50 ms\t(exact)\tref p99 ms\tref failures\tp50 ratio\t")
	for _, p := range r.Probes {
		fmt.Fprintf(t, "%s\t%.0f\t%.3f\t%.3f\t%d\t%.3f\t%.3f\t%.3f\t%d\t%.2f\t\n", p.Operation, p.MonitorCount, p.MonitorMedianMs, p.MonitorP99Ms,
			p.ReferenceCount, p.ReferenceMedianMs, p.ReferenceExactMs, p.ReferenceP99Ms, p.ReferenceFailures, p.MedianRatio)
	}
	t.Flush()
	fmt.Fprintln(w)
	printTargets(w, r.Targets)
}

// counts formats a map of counts as "key=n, ..." in key order, or "none".
func counts[V int | float64](m map[string]V) string {
	var parts []string
	for k, v := range m {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%q=%v", k, v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (r *report) writeJSON(w io.Writer, file string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return err
	}
	if file != "" {
		return os.WriteFile(file, b, 0o644)
	}
	return nil
}
