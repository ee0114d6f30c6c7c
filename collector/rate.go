package collector

import (
	"sync"
	"time"
)

type revSample struct {
	at  time.Time
	rev int64
}

// revisionSpan is how much revision history is kept for WriteRate.
const revisionSpan = 10 * time.Minute

// revisions are the newest revisions seen over the last minutes, for the
// write rate.
type revisions struct {
	mu   sync.Mutex
	seen []revSample
}

func (r *revisions) record(at time.Time, rev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, revSample{at, rev})
	cut := 0
	for cut < len(r.seen) && at.Sub(r.seen[cut].at) > revisionSpan {
		cut++
	}
	r.seen = r.seen[cut:]
}

// WriteRate is the cluster's write rate over about the last window, in
// revisions per second, with this monitor's own probe writes taken out. ok is
// false until two observations far enough apart exist.
func (c *Checker) WriteRate(window time.Duration) (rate float64, ok bool) {
	c.revs.mu.Lock()
	defer c.revs.mu.Unlock()
	seen := c.revs.seen
	n := len(seen)
	if n < 2 {
		return 0, false
	}
	last := seen[n-1]
	first := seen[0]
	for _, s := range seen {
		if last.at.Sub(s.at) <= window {
			first = s
			break
		}
	}
	span := last.at.Sub(first.at)
	if span <= 0 {
		return 0, false
	}
	writes := float64(last.rev - first.rev)
	// Every successful put and delete probe created one revision.
	probes := float64(c.recent.count(first.at, last.at, OpPut, OpDelete))
	return max(writes-probes, 0) / span.Seconds(), true
}
