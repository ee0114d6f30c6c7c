package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every Linux architecture Go supports.
const clockTicks = 100

// cpuSeconds returns the user+system CPU time a process has used.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, _ := strconv.ParseFloat(f[11], 64) // field 14, utime
	k, _ := strconv.ParseFloat(f[12], 64) // field 15, stime
	return (u + k) / clockTicks, nil
}

// cpuSecondsAll sums cpuSeconds over pids.
func cpuSecondsAll(pids []int) (float64, error) {
	var sum float64
	for _, p := range pids {
		s, err := cpuSeconds(p)
		if err != nil {
			return 0, err
		}
		sum += s
	}
	return sum, nil
}

// rssMiB returns a process's resident set size (VmRSS) in MiB.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// openFDs counts a process's open file descriptors (sockets included).
func openFDs(pid int) (int, error) {
	e, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(e), err
}

// Accept headers of the scrape formats.
var scrapeAccept = map[string]string{
	"text":        "text/plain;version=0.0.4",
	"openmetrics": "application/openmetrics-text;version=1.0.0",
	"protobuf":    "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
}

// scrape GETs url with an Accept header and returns the body and the time
// from sending the request to having read the last byte.
func scrape(ctx context.Context, url, accept string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", accept)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("scraping %s: %s", url, resp.Status)
	}
	return body, took, err
}

// families scrapes url in the protobuf format, the only one that carries
// the native histograms the probe medians are computed from.
func families(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	body, _, err := scrape(ctx, url, scrapeAccept["protobuf"])
	if err != nil {
		return nil, err
	}
	out := map[string]*dto.MetricFamily{}
	dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
	for {
		mf := &dto.MetricFamily{}
		if err := dec.Decode(mf); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("decoding %s: %w", url, err)
		}
		out[mf.GetName()] = mf
	}
}

// label returns the value of a metric's label.
func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// gauge returns the first value of a gauge family (0 when absent).
func gauge(fams map[string]*dto.MetricFamily, name string) float64 {
	if mf := fams[name]; mf != nil && len(mf.Metric) > 0 {
		return mf.Metric[0].GetGauge().GetValue()
	}
	return 0
}

// countersBy sums a counter family by one label.
func countersBy(fams map[string]*dto.MetricFamily, name, by string) map[string]float64 {
	out := map[string]float64{}
	if mf := fams[name]; mf != nil {
		for _, m := range mf.Metric {
			out[label(m, by)] += m.GetCounter().GetValue()
		}
	}
	return out
}

// zeroBucket stands for a native histogram's zero bucket in a buckets map.
const zeroBucket = math.MinInt32

// buckets are the counts of native histogram buckets at one schema, by
// bucket index: bucket i holds values in (2^((i-1)/2^schema), 2^(i/2^schema)].
type buckets struct {
	schema int32
	counts map[int]float64
}

// nativeBy sums the native histograms of a family by one label, every
// histogram brought to the lowest schema seen (the monitor may lower the
// resolution of a wide one).
func nativeBy(fams map[string]*dto.MetricFamily, name, by string) map[string]*buckets {
	out := map[string]*buckets{}
	mf := fams[name]
	if mf == nil {
		return out
	}
	for _, m := range mf.Metric {
		h := m.GetHistogram()
		if h.ZeroThreshold == nil && len(h.PositiveSpan) == 0 {
			continue // a classic histogram only
		}
		b := &buckets{schema: h.GetSchema(), counts: map[int]float64{zeroBucket: float64(h.GetZeroCount())}}
		idx, count := 0, int64(0)
		d := 0
		for _, sp := range h.PositiveSpan {
			idx += int(sp.GetOffset())
			for range sp.GetLength() {
				count += h.PositiveDelta[d]
				b.counts[idx] += float64(count)
				d, idx = d+1, idx+1
			}
		}
		key := label(m, by)
		if prev := out[key]; prev != nil {
			prev.add(b)
		} else {
			out[key] = b
		}
	}
	return out
}

// reduce lowers b to schema s: 2^(b.schema-s) neighbouring buckets merge.
func (b *buckets) reduce(s int32) {
	if s >= b.schema {
		return
	}
	shift := b.schema - s
	counts := map[int]float64{}
	for i, c := range b.counts {
		if i != zeroBucket {
			i = -((-i) >> shift) // ceil(i / 2^shift)
		}
		counts[i] += c
	}
	b.schema, b.counts = s, counts
}

// add adds o's counts to b, at the lower of the two schemas.
func (b *buckets) add(o *buckets) {
	o2 := &buckets{schema: o.schema, counts: map[int]float64{}}
	for i, c := range o.counts {
		o2.counts[i] = c
	}
	s := min(b.schema, o.schema)
	b.reduce(s)
	o2.reduce(s)
	for i, c := range o2.counts {
		b.counts[i] += c
	}
}

// sub returns b - o (a window's increase), both at b's schema or lower.
func (b *buckets) sub(o *buckets) *buckets {
	neg := &buckets{schema: o.schema, counts: map[int]float64{}}
	for i, c := range o.counts {
		neg.counts[i] = -c
	}
	out := &buckets{schema: b.schema, counts: map[int]float64{}}
	out.add(b)
	out.add(neg)
	return out
}

// fromSamples buckets raw latencies (seconds) at schema s, so that a
// reference client's latencies go through the same estimator as the
// monitor's.
func fromSamples(samples []time.Duration, s int32) *buckets {
	b := &buckets{schema: s, counts: map[int]float64{}}
	for _, d := range samples {
		v := d.Seconds()
		if v <= 0 {
			b.counts[zeroBucket]++
			continue
		}
		b.counts[int(math.Ceil(math.Log2(v)*math.Exp2(float64(s))))]++
	}
	return b
}

// quantile estimates the q-quantile, interpolating exponentially within the
// bucket it falls in, as Prometheus does for native histograms. NaN when
// empty.
func (b *buckets) quantile(q float64) float64 {
	var idx []int
	var total float64
	for i, c := range b.counts {
		if c > 0 {
			idx = append(idx, i)
			total += c
		}
	}
	if total == 0 {
		return math.NaN()
	}
	sort.Ints(idx)
	rank, cum := q*total, 0.0
	for _, i := range idx {
		c := b.counts[i]
		if cum+c >= rank {
			if i == zeroBucket {
				return 0
			}
			upper := math.Exp2(float64(i) / math.Exp2(float64(b.schema)))
			lower := math.Exp2(float64(i-1) / math.Exp2(float64(b.schema)))
			return lower * math.Pow(upper/lower, (rank-cum)/c)
		}
		cum += c
	}
	return math.NaN()
}

// total returns the number of observations.
func (b *buckets) total() float64 {
	var t float64
	for _, c := range b.counts {
		t += c
	}
	return t
}

// percentile returns the nearest-rank p-th percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// countLines counts the lines of data that contain each needle.
func countLines(data []byte, needles ...string) map[string]int {
	out := map[string]int{}
	for _, line := range bytes.Split(data, []byte("\n")) {
		for _, n := range needles {
			if bytes.Contains(line, []byte(n)) {
				out[n]++
			}
		}
	}
	return out
}
