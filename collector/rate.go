package collector

import "time"

type revSample struct {
	at  time.Time
	rev int64
}

// revisionSpan is how much revision history is kept for WriteRate.
const revisionSpan = 10 * time.Minute

func (c *Checker) recordRevision(at time.Time, rev int64) {
	c.revMu.Lock()
	defer c.revMu.Unlock()
	c.revSeen = append(c.revSeen, revSample{at, rev})
	cut := 0
	for cut < len(c.revSeen) && at.Sub(c.revSeen[cut].at) > revisionSpan {
		cut++
	}
	c.revSeen = c.revSeen[cut:]
}

// WriteRate is the cluster's write rate over about the last window, in
// revisions per second, with this monitor's own probe writes taken out. ok is
// false until two observations far enough apart exist.
func (c *Checker) WriteRate(window time.Duration) (rate float64, ok bool) {
	c.revMu.Lock()
	defer c.revMu.Unlock()
	n := len(c.revSeen)
	if n < 2 {
		return 0, false
	}
	last := c.revSeen[n-1]
	first := c.revSeen[0]
	for _, s := range c.revSeen {
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
