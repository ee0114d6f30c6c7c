package status

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
)

// TrendSpan is how far back the trends reach: the status page's charts show
// the last hour, and longer history is Prometheus's job.
const TrendSpan = time.Hour

// MaxTrendSamples bounds each cluster's ring. At the default 10 s check
// interval an hour is 360 samples; a shorter interval is sampled every
// TrendSpan/MaxTrendSamples (5 s) instead, so the ring always covers the
// hour. A sample is 56 bytes, so a cluster costs at most about 40 KiB.
const MaxTrendSamples = 720

// TrendOps are the probe operations whose p99 is recorded, in the order of
// Sample.P99.
var TrendOps = [...]string{collector.OpGet, collector.OpGetSerializable, collector.OpPut, collector.OpDelete}

// Sample is one observation of a cluster for its trends.
type Sample struct {
	At time.Time
	// P99 is the probe p99 of each of TrendOps in milliseconds over the
	// last sample interval (at least one probe interval); NaN when no probe
	// of that operation succeeded in it.
	P99 [len(TrendOps)]float64
	// DBSize, DBSizeInUse and DBQuota are those of the member with the
	// largest backend, the one that reaches the quota first; -1 when no
	// member answered (or the last check is stale).
	DBSize, DBSizeInUse, DBQuota int64
	// LeaderChanges is the cluster's leader change count since the monitor
	// started (the charts show its increase per sample).
	LeaderChanges uint64
}

// Trend is the recorded last hour of one cluster, oldest sample first.
type Trend struct {
	Cluster string
	// Every is the sample interval.
	Every   time.Duration
	Samples []Sample
}

// sample is Sample as stored: fixed size, no pointers, so a ring's memory
// is its capacity times 56 bytes whatever happens.
type sample struct {
	at            int64 // Unix nanoseconds
	p99           [len(TrendOps)]float32
	db, inUse     int64
	quota         int64
	leaderChanges uint64
}

// ring is one cluster's samples; full, it overwrites the oldest.
type ring struct {
	src   Source
	every time.Duration
	buf   []sample // fixed capacity
	next  int      // where the next sample goes
	n     int      // how many are stored
}

func (r *ring) add(s sample) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	r.n = min(r.n+1, len(r.buf))
}

func (r *ring) last() (sample, bool) {
	if r.n == 0 {
		return sample{}, false
	}
	return r.buf[(r.next-1+len(r.buf))%len(r.buf)], true
}

// Recorder samples every cluster's latest snapshot and probe latencies at
// its check interval and keeps the last hour of them, bounded in bytes, for
// the status page's trend charts. It reads the same Sources as the rest of
// the model; the checkers know nothing about it.
type Recorder struct {
	mu    sync.Mutex
	rings []*ring
	tick  time.Duration
	// ticker is Start's, so SetSources can follow a new shortest interval.
	ticker *time.Ticker

	cancel context.CancelFunc
	done   chan struct{}
}

// NewRecorder prepares a recorder for the given clusters; Start begins
// sampling (tests call Record themselves).
func NewRecorder(srcs []Source) *Recorder {
	r := &Recorder{tick: TrendSpan}
	for _, src := range srcs {
		rg := newRing(src)
		r.rings = append(r.rings, rg)
		r.tick = min(r.tick, rg.every)
	}
	return r
}

func newRing(src Source) *ring {
	every := max(src.Config().HealthCheckInterval, TrendSpan/MaxTrendSamples)
	n := min(int((TrendSpan+every-1)/every)+1, MaxTrendSamples)
	return &ring{src: src, every: every, buf: make([]sample, n)}
}

// SetSources replaces the recorded clusters after a configuration reload:
// a source that stays (the same Source) keeps its samples, a new one starts
// empty, a removed one is forgotten.
func (r *Recorder) SetSources(srcs []Source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := make(map[Source]*ring, len(r.rings))
	for _, rg := range r.rings {
		old[rg.src] = rg
	}
	rings := make([]*ring, 0, len(srcs))
	tick := TrendSpan
	for _, src := range srcs {
		rg, ok := old[src]
		if !ok {
			rg = newRing(src)
		}
		rings = append(rings, rg)
		tick = min(tick, rg.every)
	}
	r.rings = rings
	if tick != r.tick {
		r.tick = tick
		if r.ticker != nil {
			r.ticker.Reset(tick)
		}
	}
}

// Start samples in the background until Close.
func (r *Recorder) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.mu.Lock()
		t := time.NewTicker(r.tick)
		r.ticker = t
		r.mu.Unlock()
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				r.Record(now)
			}
		}
	}()
}

// Close stops sampling; what was recorded stays readable.
func (r *Recorder) Close() {
	if r.cancel != nil {
		r.cancel()
		<-r.done
	}
}

// Record takes a sample of every cluster whose interval has passed since
// its last one, and of none that has not been checked yet.
func (r *Recorder) Record(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rg := range r.rings {
		// A tenth of slack: ticks of a shared ticker land a little early
		// or late against each cluster's own interval.
		if last, ok := rg.last(); ok && now.Sub(time.Unix(0, last.at)) < rg.every-rg.every/10 {
			continue
		}
		if s, ok := take(rg.src, rg.every, now); ok {
			rg.add(s)
		}
	}
}

func take(src Source, every time.Duration, now time.Time) (sample, bool) {
	snap := src.Snapshot()
	if snap == nil {
		return sample{}, false
	}
	s := sample{at: now.UnixNano(), db: -1, inUse: -1, quota: -1, leaderChanges: snap.LeaderChanges}
	window := max(every, src.Config().Probe.Interval)
	for i := range s.p99 {
		s.p99[i] = float32(math.NaN())
	}
	for _, l := range src.RecentLatencyByOperation(window) {
		for i, op := range TrendOps {
			if l.Operation == op && l.Count > 0 {
				s.p99[i] = float32(Ms(l.P99))
			}
		}
	}
	// A snapshot older than three intervals says nothing about now: the
	// chart shows a gap rather than repeating it.
	if now.Sub(snap.Time) > 3*max(src.Config().HealthCheckInterval, every) {
		return s, true
	}
	for _, m := range snap.Members {
		if m.Up && m.DBSize > s.db {
			s.db, s.inUse, s.quota = m.DBSize, m.DBSizeInUse, m.DBQuota
		}
	}
	return s, true
}

// Trend returns a copy of the cluster's recorded samples, oldest first,
// those older than TrendSpan before now left out. ok is false for a
// cluster the recorder does not know.
func (r *Recorder) Trend(cluster string, now time.Time) (Trend, bool) {
	if r == nil {
		return Trend{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rg := range r.rings {
		if rg.src.Name() != cluster {
			continue
		}
		t := Trend{Cluster: cluster, Every: rg.every, Samples: make([]Sample, 0, rg.n)}
		start := (rg.next - rg.n + len(rg.buf)) % len(rg.buf)
		for i := range rg.n {
			s := rg.buf[(start+i)%len(rg.buf)]
			at := time.Unix(0, s.at)
			if now.Sub(at) > TrendSpan {
				continue
			}
			out := Sample{At: at, DBSize: s.db, DBSizeInUse: s.inUse, DBQuota: s.quota, LeaderChanges: s.leaderChanges}
			for j, v := range s.p99 {
				out.P99[j] = float64(v)
			}
			t.Samples = append(t.Samples, out)
		}
		return t, true
	}
	return Trend{}, false
}
