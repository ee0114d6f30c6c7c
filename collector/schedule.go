package collector

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kinds of round, the `kind` label of the scheduling metrics.
const (
	KindCheck = "check"
	KindProbe = "probe"
)

// DefaultMaxInFlightRounds bounds the rounds (a cluster's check round, one
// member's probe round) a monitor runs at once. The bound has to hold the
// rounds a fleet keeps in flight while etcd is slow, not only while it is
// fast: a probe round is four requests one after another, so at 100 ms a
// request (etcd short of CPU) each of a thousand clusters' 3,000 members is
// in a round 8% of the time, about 250 rounds at once. With 256 such a fleet
// queued for slots and most of its rounds started late (measured: 75%),
// which the monitor reports as its own lateness; 1024 leaves room for four
// times that, or for rounds waiting on hung members until their timeout,
// at a few tens of KiB each (a goroutine and a request).
const DefaultMaxInFlightRounds = 1024

// phase is a stable offset in [0, interval) for key (a cluster's name, or
// its name and a member's). Rounds run on the grid epoch + phase + k *
// interval, so clusters and members are spread over the interval instead of
// all sending at once, and the spread is the same after a restart.
func phase(key string, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return time.Duration(h.Sum64() % uint64(interval))
}

// nextSlot is the first time after t on the grid of interval and phase.
func nextSlot(t time.Time, interval, phase time.Duration) time.Time {
	ns := t.UnixNano() - int64(phase)
	k := ns / int64(interval)
	if ns >= 0 {
		k++
	}
	return time.Unix(0, k*int64(interval)+int64(phase))
}

// lateAfter is how far past its slot a round may start before it counts as
// late: timers and the scheduler add some slack on a loaded machine.
func lateAfter(interval time.Duration) time.Duration {
	return min(max(interval/10, 50*time.Millisecond), time.Second)
}

// Scheduler is shared by every checker of a monitor: it bounds the rounds
// in flight and counts the rounds the monitor itself could not run on time.
// Time a round waits here is never part of a latency or a request timeout:
// those start once the round has its slot. Register it to expose the
// metrics.
type Scheduler struct {
	slots   chan struct{}
	ran     *prometheus.CounterVec
	late    *prometheus.CounterVec
	skipped *prometheus.CounterVec
}

// NewScheduler bounds the rounds in flight to maxInFlight (<= 0: unbounded).
func NewScheduler(maxInFlight int) *Scheduler {
	s := &Scheduler{
		// By kind only: the rounds due of a replica are what its
		// lateness is a share of, and two series cost nothing where a
		// per-cluster pair would add 2,000 to a fleet's scrape.
		ran: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "rounds_total",
			Help:      "Check or probe rounds the monitor ran, on time or late; with rounds_skipped_total, the rounds that were due.",
		}, []string{"kind"}),
		late: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "rounds_late_total",
			Help:      "Check or probe rounds the monitor started late or that overran their interval: the monitor fell behind, not etcd.",
		}, []string{LabelCluster, "kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "rounds_skipped_total",
			Help:      "Check or probe rounds the monitor did not run because the previous one was still running or no slot was free in time; not counted against etcd.",
		}, []string{LabelCluster, "kind"}),
	}
	if maxInFlight > 0 {
		s.slots = make(chan struct{}, maxInFlight)
	}
	return s
}

// acquire waits for a slot until ctx ends; false if none was had.
func (s *Scheduler) acquire(ctx context.Context) bool {
	if s.slots == nil {
		return ctx.Err() == nil
	}
	select {
	case s.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Scheduler) release() {
	if s.slots != nil {
		<-s.slots
	}
}

// acquireBy waits for a slot until the deadline (the round's next slot) or
// ctx ends.
func (s *Scheduler) acquireBy(ctx context.Context, deadline time.Time) bool {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	return s.acquire(dctx)
}

func (s *Scheduler) markRan(kind string) { s.ran.WithLabelValues(kind).Inc() }

func (s *Scheduler) markLate(cluster, kind string) { s.late.WithLabelValues(cluster, kind).Inc() }

func (s *Scheduler) markSkipped(cluster, kind string, n int) {
	s.skipped.WithLabelValues(cluster, kind).Add(float64(n))
}

// forget drops a cluster's series (it is no longer watched).
func (s *Scheduler) forget(cluster string) {
	l := prometheus.Labels{LabelCluster: cluster}
	s.late.DeletePartialMatch(l)
	s.skipped.DeletePartialMatch(l)
}

// Describe implements prometheus.Collector.
func (s *Scheduler) Describe(ch chan<- *prometheus.Desc) {
	s.ran.Describe(ch)
	s.late.Describe(ch)
	s.skipped.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *Scheduler) Collect(ch chan<- prometheus.Metric) {
	s.ran.Collect(ch)
	s.late.Collect(ch)
	s.skipped.Collect(ch)
}
