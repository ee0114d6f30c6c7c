package benchmark

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
)

// Report is the result of one run. Its JSON is what `--output json` prints
// and what the REST API returns.
type Report struct {
	Workload       string   `json:"workload"`
	Config         Config   `json:"config"`
	Endpoints      []string `json:"endpoints"`
	ClusterVersion string   `json:"cluster_version,omitempty"`
	// RunPrefix is the directory below the key prefix that held this run's
	// keys (and nothing else).
	RunPrefix    string    `json:"run_prefix"`
	Start        time.Time `json:"start"`
	TotalSeconds float64   `json:"total_seconds"`
	Stop         StopInfo  `json:"stop"`
	// Summary covers all requests; Operations each kind the workload sends
	// (write; read; or read and write for mixed).
	Summary    OpReport      `json:"summary"`
	Operations []OpReport    `json:"operations"`
	Events     []Event       `json:"events"`
	Quota      QuotaInfo     `json:"quota"`
	Populate   *PopulateInfo `json:"populate,omitempty"`
	Cleanup    CleanupInfo   `json:"cleanup"`
	Check      *CheckResult  `json:"check,omitempty"`
}

// StopInfo says why the run ended: StopCompleted, StopInterrupted,
// StopQuota or StopAlarm, with the details.
type StopInfo struct {
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

// PopulateInfo describes the untimed writing of the key space before a read
// or mixed run.
type PopulateInfo struct {
	Keys    int64   `json:"keys"`
	Errors  int64   `json:"errors"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"` // the first error, as an example
}

// OpReport holds the figures etcd's pkg/report prints, for one kind of
// request (or all of them). Latencies are of successful requests, in
// seconds, as in etcd's report.
type OpReport struct {
	Operation  string  `json:"operation"` // write, read or all
	Requests   int64   `json:"requests"`
	Succeeded  int64   `json:"succeeded"`
	Errors     int64   `json:"errors"`
	ErrorRate  float64 `json:"error_rate"`
	Throughput float64 `json:"throughput_ops_per_second"` // succeeded / total time, as etcd's Requests/sec
	Fastest    float64 `json:"fastest_seconds"`
	Slowest    float64 `json:"slowest_seconds"`
	Average    float64 `json:"average_seconds"`
	Stddev     float64 `json:"stddev_seconds"`
	// Percentiles are etcd's (10, 25, 50, 75, 90, 95, 99, 99.9), read from
	// a log-linear histogram: within 0.8% of the exact value.
	Percentiles []Percentile `json:"percentiles"`
	// Histogram is etcd's: ten equal buckets between fastest and slowest,
	// each counting the latencies up to its bound.
	Histogram         []Bucket     `json:"histogram"`
	ErrorDistribution []ErrorCount `json:"error_distribution"`

	hist *Histogram // the full histogram, for the Pushgateway
}

// Percentile is one latency percentile.
type Percentile struct {
	Percentile float64 `json:"percentile"`
	Seconds    float64 `json:"seconds"`
}

// Bucket is one line of the latency histogram.
type Bucket struct {
	UpperSeconds float64 `json:"le_seconds"`
	Count        uint64  `json:"count"`
}

// ErrorCount is one kind of failure (see errorKind), with the first message
// seen as an example.
type ErrorCount struct {
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

// pctls are etcd's pkg/report percentiles.
var pctls = []float64{10, 25, 50, 75, 90, 95, 99, 99.9}

// fill completes the report from the shards and the guard.
func (r *runner) fill(rep *Report, elapsed time.Duration) {
	rep.TotalSeconds = elapsed.Seconds()
	rep.Events, rep.Quota, rep.ClusterVersion = r.guard.result()

	var hists [numOps]Histogram
	errs := [numOps]map[string]*errStat{{}, {}}
	for i := range r.shards {
		sh := &r.shards[i]
		sh.mu.Lock()
		for op, h := range sh.hist {
			hists[op].Merge(h)
		}
		for k, e := range sh.errs {
			addErr(errs[k.op], k.kind, e)
		}
		sh.mu.Unlock()
	}
	var ops []int
	switch r.cfg.Workload {
	case WorkloadWrite:
		ops = []int{opWrite}
	case WorkloadRead:
		ops = []int{opRead}
	default:
		ops = []int{opRead, opWrite}
	}
	var all Histogram
	allErrs := map[string]*errStat{}
	for _, op := range ops {
		rep.Operations = append(rep.Operations, opReport(opNames[op], &hists[op], errs[op], elapsed))
		all.Merge(&hists[op])
		for kind, e := range errs[op] {
			addErr(allErrs, kind, e)
		}
	}
	rep.Summary = opReport("all", &all, allErrs, elapsed)
}

func addErr(m map[string]*errStat, kind string, e *errStat) {
	if t := m[kind]; t != nil {
		t.count += e.count
		return
	}
	m[kind] = &errStat{count: e.count, example: e.example}
}

func opReport(name string, h *Histogram, errs map[string]*errStat, elapsed time.Duration) OpReport {
	o := OpReport{
		Operation: name,
		Succeeded: int64(h.Count()),
		Fastest:   h.Min().Seconds(),
		Slowest:   h.Max().Seconds(),
		Average:   h.Mean().Seconds(),
		Stddev:    h.Stddev().Seconds(),
		Histogram: linearHistogram(h),
		hist:      h,
	}
	for kind, e := range errs {
		o.Errors += e.count
		o.ErrorDistribution = append(o.ErrorDistribution, ErrorCount{Kind: kind, Count: e.count, Example: e.example})
	}
	sortErrors(o.ErrorDistribution)
	o.Requests = o.Succeeded + o.Errors
	if o.Requests > 0 {
		o.ErrorRate = float64(o.Errors) / float64(o.Requests)
	}
	if s := elapsed.Seconds(); s > 0 {
		o.Throughput = float64(o.Succeeded) / s
	}
	if h.Count() > 0 {
		for _, p := range pctls {
			o.Percentiles = append(o.Percentiles, Percentile{Percentile: p, Seconds: h.Quantile(p / 100).Seconds()})
		}
	}
	return o
}

// sortErrors orders the distribution by count, most frequent first, so
// the cause that matters tops the list (etcd's map order is random).
func sortErrors(es []ErrorCount) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && (es[j].Count > es[j-1].Count || es[j].Count == es[j-1].Count && es[j].Kind < es[j-1].Kind); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

// linearHistogram rebuilds etcd's ten-bucket histogram from the fine one.
func linearHistogram(h *Histogram) []Bucket {
	if h.Count() == 0 {
		return nil
	}
	const bc = 10
	fast, slow := h.Min().Seconds(), h.Max().Seconds()
	bs := (slow - fast) / bc
	b := make([]Bucket, bc+1)
	for i := range bc {
		b[i].UpperSeconds = fast + bs*float64(i)
	}
	b[bc].UpperSeconds = slow
	first := true
	h.each(func(v time.Duration, c uint64) {
		x := v.Seconds()
		if first {
			// The fastest request's fine bucket is all within 1.6% of it:
			// count it at the fastest, so that the first line, like
			// etcd's, is never empty.
			x, first = fast, false
		}
		i := 0
		for i < bc && x > b[i].UpperSeconds {
			i++
		}
		b[i].Count += c
	})
	return b
}

// OK reports whether the run did what was asked and left nothing behind.
func (r *Report) OK() bool {
	return r.Stop.Reason == StopCompleted && r.Cleanup.Error == "" && r.Cleanup.Remaining == 0
}

const prec = "%4.4f" // etcd's default precision

func secs(s float64) string { return fmt.Sprintf(prec+" secs", s) }

// WriteText writes the report as etcd's tools/benchmark prints it, with
// what etcd-monitor adds (stop reason, cluster events, quota, cleanup,
// check) around it.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	c := r.Config
	fmt.Fprintf(&b, "Benchmark: %s workload, ", r.Workload)
	if c.Duration > 0 {
		fmt.Fprintf(&b, "for %s", c.Duration)
	} else {
		fmt.Fprintf(&b, "%d requests", c.total())
	}
	fmt.Fprintf(&b, ", %d connections, %d clients, ", c.Conns, c.Clients)
	if c.Rate > 0 {
		fmt.Fprintf(&b, "at most %g requests/sec\n", c.Rate)
	} else {
		b.WriteString("unlimited rate\n")
	}
	order := "random"
	if c.SequentialKeys {
		order = "sequential"
	}
	fmt.Fprintf(&b, "  keys: %d bytes below %s, key space %d (%s); values: %d bytes", c.KeySize, r.RunPrefix, c.KeySpaceSize, order, c.ValSize)
	if r.Workload != WorkloadWrite {
		cons := "linearizable"
		if c.Consistency == "s" {
			cons = "serializable"
		}
		fmt.Fprintf(&b, "; reads: %s", cons)
	}
	if r.Workload == WorkloadMixed {
		fmt.Fprintf(&b, ", %s of requests", percent(c.ReadRatio))
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  cluster: %s", strings.Join(r.Endpoints, ","))
	if r.ClusterVersion != "" {
		fmt.Fprintf(&b, " (etcd %s)", r.ClusterVersion)
	}
	b.WriteString("\n")
	if p := r.Populate; p != nil {
		fmt.Fprintf(&b, "  populated %d keys in %s before the timed run", p.Keys, secs(p.Seconds))
		if p.Errors > 0 {
			fmt.Fprintf(&b, ", %d failed (e.g. %s)", p.Errors, p.Error)
		}
		b.WriteString("\n")
	}

	switch r.Stop.Reason {
	case StopCompleted:
		b.WriteString("\nCompleted.\n")
	case StopInterrupted:
		fmt.Fprintf(&b, "\nInterrupted after %s (%s): the figures cover the requests sent until then.\n", secs(r.TotalSeconds), r.Stop.Detail)
	case StopQuota:
		fmt.Fprintf(&b, "\nStopped by the quota guard after %s: %s.\n", secs(r.TotalSeconds), r.Stop.Detail)
	case StopAlarm:
		fmt.Fprintf(&b, "\nStopped after %s: %s.\n", secs(r.TotalSeconds), r.Stop.Detail)
	}

	if len(r.Operations) == 1 {
		writeOp(&b, "Summary", r.TotalSeconds, &r.Operations[0])
	} else {
		for i := range r.Operations {
			o := &r.Operations[i]
			writeOp(&b, "Summary ("+o.Operation+"s)", r.TotalSeconds, o)
		}
		s := r.Summary
		b.WriteString("\nAll requests:\n")
		fmt.Fprintf(&b, "  Total:\t%s.\n", secs(r.TotalSeconds))
		fmt.Fprintf(&b, "  Requests/sec:\t"+prec+"\n", s.Throughput)
		writeCounts(&b, &s)
	}

	if len(r.Events) > 0 {
		b.WriteString("\nCluster events:\n")
		for _, e := range r.Events {
			fmt.Fprintf(&b, "  %+.3fs\t%s\n", e.AtSeconds, e.Message)
		}
	}
	q := r.Quota
	if q.Start.Member != "" {
		fmt.Fprintf(&b, "\nQuota: fullest member %s at %.1f%% (%s of %s) at the start, peak %.1f%% (%s); the guard stops at %s.\n",
			q.Start.Member, 100*q.Start.Share, bytesize.Format(q.Start.DBSizeBytes), bytesize.Format(q.Start.QuotaBytes),
			100*q.Peak.Share, q.Peak.Member, percent(q.Limit))
	}
	cl := r.Cleanup
	if cl.Error == "" {
		fmt.Fprintf(&b, "Cleanup: deleted %d keys below %s in %s; none remain.\n", cl.Deleted, r.RunPrefix, secs(cl.Seconds))
	} else {
		fmt.Fprintf(&b, "Cleanup FAILED after deleting %d keys: %s\n", cl.Deleted, cl.Error)
	}
	if r.Check != nil {
		b.WriteString("\nCheck:\n")
		for _, it := range r.Check.Items {
			verdict := "PASS"
			if !it.Passed {
				verdict = "FAIL"
			}
			fmt.Fprintf(&b, "  %s: %s\n", verdict, it.Detail)
		}
		if r.Check.Passed {
			b.WriteString("PASS\n")
		} else {
			b.WriteString("FAIL\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeOp prints one operation's block in etcd's layout.
func writeOp(b *strings.Builder, title string, total float64, o *OpReport) {
	fmt.Fprintf(b, "\n%s:\n", title)
	fmt.Fprintf(b, "  Total:\t%s.\n", secs(total))
	if o.Succeeded > 0 {
		fmt.Fprintf(b, "  Slowest:\t%s.\n", secs(o.Slowest))
		fmt.Fprintf(b, "  Fastest:\t%s.\n", secs(o.Fastest))
		fmt.Fprintf(b, "  Average:\t%s.\n", secs(o.Average))
		fmt.Fprintf(b, "  Stddev:\t%s.\n", secs(o.Stddev))
	}
	fmt.Fprintf(b, "  Requests/sec:\t"+prec+"\n", o.Throughput)
	writeCounts(b, o)
	if o.Succeeded > 0 {
		b.WriteString("\nResponse time histogram:\n")
		var top uint64
		for _, bk := range o.Histogram {
			top = max(top, bk.Count)
		}
		for _, bk := range o.Histogram {
			bar := 0
			if top > 0 {
				bar = int(bk.Count * 40 / top)
			}
			fmt.Fprintf(b, "  "+prec+" [%d]\t|%s\n", bk.UpperSeconds, bk.Count, strings.Repeat("∎", bar))
		}
		b.WriteString("\nLatency distribution:\n")
		for _, p := range o.Percentiles {
			fmt.Fprintf(b, "  %v%% in %s.\n", p.Percentile, secs(p.Seconds))
		}
	}
	if len(o.ErrorDistribution) > 0 {
		b.WriteString("\nError distribution:\n")
		for _, e := range o.ErrorDistribution {
			fmt.Fprintf(b, "  [%d]\t%s: %s\n", e.Count, e.Kind, e.Example)
		}
	}
}

func writeCounts(b *strings.Builder, o *OpReport) {
	fmt.Fprintf(b, "  Requests:\t%d (%d succeeded, %d failed, error rate %.2f%%)\n", o.Requests, o.Succeeded, o.Errors, 100*o.ErrorRate)
}

// CheckLimits are the pass/fail thresholds of --check.
type CheckLimits struct {
	MaxP99       time.Duration
	MaxErrorRate float64
}

// GuideLimits are the original etcd-monitor guide's expectations: P99 under 100 ms, error rate
// under 5%.
func GuideLimits() CheckLimits {
	return CheckLimits{MaxP99: 100 * time.Millisecond, MaxErrorRate: 0.05}
}

// CheckResult is the verdict of Judge.
type CheckResult struct {
	Passed        bool        `json:"passed"`
	MaxP99Seconds float64     `json:"max_p99_seconds"`
	MaxErrorRate  float64     `json:"max_error_rate"`
	Items         []CheckItem `json:"items"`
}

// CheckItem is one judged expectation.
type CheckItem struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Judge checks the run against l, records the verdict in r.Check and
// returns it. A run that did not complete fails: its figures do not cover
// what was asked.
func (r *Report) Judge(l CheckLimits) *CheckResult {
	res := &CheckResult{Passed: true, MaxP99Seconds: l.MaxP99.Seconds(), MaxErrorRate: l.MaxErrorRate}
	add := func(name string, ok bool, format string, args ...any) {
		res.Items = append(res.Items, CheckItem{Name: name, Passed: ok, Detail: fmt.Sprintf(format, args...)})
		res.Passed = res.Passed && ok
	}
	for _, o := range r.Operations {
		name := o.Operation + "_p99"
		if o.Succeeded == 0 {
			add(name, false, "%s p99 latency: no %s request succeeded", o.Operation, o.Operation)
			continue
		}
		p99 := o.percentile(99)
		add(name, p99 < l.MaxP99.Seconds(), "%s p99 latency %s (limit %s)", o.Operation, secs(p99), secs(l.MaxP99.Seconds()))
	}
	er := r.Summary.ErrorRate
	add("error_rate", er < l.MaxErrorRate, "error rate %.2f%% (limit %s)", 100*er, percent(l.MaxErrorRate))
	add("completed", r.Stop.Reason == StopCompleted, "run %s", stopPhrase(r.Stop))
	r.Check = res
	return res
}

func stopPhrase(s StopInfo) string {
	switch s.Reason {
	case StopCompleted:
		return "completed"
	case StopQuota:
		return "stopped by the quota guard"
	case StopAlarm:
		return "stopped by an alarm"
	case StopInterrupted:
		return "interrupted"
	}
	return s.Reason
}

func (o *OpReport) percentile(p float64) float64 {
	for _, x := range o.Percentiles {
		if x.Percentile == p {
			return x.Seconds
		}
	}
	return math.NaN()
}

// MarshalJSON writes Duration as a Go duration string ("30s"), which
// people can read and the REST API can accept.
func (c Config) MarshalJSON() ([]byte, error) {
	type plain Config
	var d string
	if c.Duration > 0 {
		d = c.Duration.String()
	}
	return json.Marshal(struct {
		plain
		Duration string `json:"duration,omitempty"`
	}{plain(c), d})
}

// UnmarshalJSON accepts Duration as a Go duration string or a number of
// seconds.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	aux := struct {
		*plain
		Duration json.RawMessage `json:"duration,omitempty"`
	}{plain: (*plain)(c)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if len(aux.Duration) == 0 || string(aux.Duration) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(aux.Duration, &s); err == nil {
		d, err := time.ParseDuration(s)
		if err != nil {
			return &ConfigError{Field: "duration", Msg: err.Error()}
		}
		c.Duration = d
		return nil
	}
	var sec float64
	if err := json.Unmarshal(aux.Duration, &sec); err != nil {
		return &ConfigError{Field: "duration", Msg: "want a duration such as \"30s\" or a number of seconds"}
	}
	c.Duration = time.Duration(sec * float64(time.Second))
	return nil
}
