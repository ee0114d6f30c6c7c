package collector

import (
	"slices"
	"sort"
	"sync"
	"time"
)

// latencyWindow keeps recent successful probe latencies per member and
// operation, for answers over a sliding window (the REST API's "last 5
// minutes") that a histogram accumulated since start cannot give.
//
// A monitor of 1,000 clusters keeps 12,000 of these series, 60 samples each
// at the default probe interval, so a sample is 16 bytes (a time.Time alone
// is 24) and each series' samples stay at the start of one array, which
// then never grows past the window's count.
type latencyWindow struct {
	span  time.Duration
	epoch time.Time // sample times are offsets from it (monotonic)

	mu      sync.Mutex
	samples map[[2]string][]sample
}

type sample struct {
	at time.Duration // since the window's epoch
	d  time.Duration
}

func newLatencyWindow(span time.Duration) *latencyWindow {
	return &latencyWindow{span: span, epoch: time.Now(), samples: map[[2]string][]sample{}}
}

func (w *latencyWindow) add(member, op string, at time.Time, d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := [2]string{member, op}
	off := at.Sub(w.epoch)
	s := w.samples[k]
	// Drop what fell out of the window (samples arrive in time order) by
	// moving the rest down, so that the append reuses the array.
	cut := 0
	for cut < len(s) && off-s[cut].at > w.span {
		cut++
	}
	if cut > 0 {
		s = s[:copy(s, s[cut:])]
	}
	w.samples[k] = append(s, sample{off, d})
}

func (w *latencyWindow) forget(member string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.samples {
		if k[0] == member {
			delete(w.samples, k)
		}
	}
}

// LatencySummary describes the probe latencies of one member and operation
// over a window.
type LatencySummary struct {
	Member    string
	Operation string
	Count     int
	P50       time.Duration
	P95       time.Duration
	P99       time.Duration
}

// summaries returns percentiles over the samples newer than now-window.
// member "" merges all members per operation.
func (w *latencyWindow) summaries(now time.Time, window time.Duration, merge bool) []LatencySummary {
	w.mu.Lock()
	groups := map[[2]string][]time.Duration{}
	for k, s := range w.samples {
		g := k
		if merge {
			g[0] = ""
		}
		nowOff := now.Sub(w.epoch)
		for _, x := range s {
			if nowOff-x.at <= window {
				groups[g] = append(groups[g], x.d)
			}
		}
	}
	w.mu.Unlock()
	out := make([]LatencySummary, 0, len(groups))
	for k, ds := range groups {
		if len(ds) == 0 {
			continue
		}
		slices.Sort(ds)
		out = append(out, LatencySummary{Member: k[0], Operation: k[1], Count: len(ds),
			P50: quantile(ds, .5), P95: quantile(ds, .95), P99: quantile(ds, .99)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Member != out[j].Member {
			return out[i].Member < out[j].Member
		}
		return out[i].Operation < out[j].Operation
	})
	return out
}

// quantile uses the nearest-rank method on sorted samples.
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// RecentLatency summarises the probes of the last window per member and
// operation (max 5 minutes are kept).
func (c *Checker) RecentLatency(window time.Duration) []LatencySummary {
	return c.recent.summaries(time.Now(), window, false)
}

// RecentLatencyByOperation is RecentLatency with all members merged.
func (c *Checker) RecentLatencyByOperation(window time.Duration) []LatencySummary {
	return c.recent.summaries(time.Now(), window, true)
}

// count returns how many samples of the given operations were taken in
// (from, to].
func (w *latencyWindow) count(from, to time.Time, ops ...string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	lo, hi := from.Sub(w.epoch), to.Sub(w.epoch)
	for k, s := range w.samples {
		if !slices.Contains(ops, k[1]) {
			continue
		}
		for _, x := range s {
			if x.at > lo && x.at <= hi {
				n++
			}
		}
	}
	return n
}
