package benchmark

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

const (
	// guardInterval is how often the guard asks every member for its
	// status during a run. Status is answered locally by each member (no
	// raft round), so this costs the cluster next to nothing.
	guardInterval = 250 * time.Millisecond
	// guardCallTimeout bounds each of the guard's calls.
	guardCallTimeout = time.Second
	// maxEvents bounds the events kept for the report (a flapping member
	// must not grow it without end).
	maxEvents = 100
)

// Event is something the guard saw happen to the cluster during the run.
type Event struct {
	AtSeconds float64 `json:"at_seconds"` // since the timed run started (negative: while populating)
	Message   string  `json:"message"`
}

// QuotaUsage is one member's backend size against its quota.
type QuotaUsage struct {
	Member      string  `json:"member"`
	DBSizeBytes int64   `json:"db_size_bytes"`
	QuotaBytes  int64   `json:"quota_bytes"`
	Share       float64 `json:"share"`
}

// QuotaInfo is the fullest member's quota usage before and during the run.
type QuotaInfo struct {
	Limit float64    `json:"limit"`
	Start QuotaUsage `json:"start"`
	Peak  QuotaUsage `json:"peak"`
}

// guard checks the cluster before the run (quorum, alarms, quota
// headroom) and watches it during the run, halting it before the revisions
// it writes fill the backend quota: deleted keys keep their revisions until
// a compaction, so a long write run can set off NOSPACE, which stops every
// writer of the cluster, not just us.
type guard struct {
	checker *collector.Checker
	limit   float64

	cancel context.CancelFunc // hard stop: abandons the check under way
	ending chan struct{}      // closed by stop: one last check, then exit
	done   chan struct{}

	mu      sync.Mutex
	zero    time.Time // run start, for event offsets
	last    *collector.Snapshot
	prev    map[string]usageSample
	events  []Event
	dropped int
	quota   QuotaInfo
}

type usageSample struct {
	at    time.Time
	share float64
}

// startGuard runs the pre-flight checks and returns a guard ready to
// watch, or why the run must not start.
func startGuard(ctx context.Context, conn *etcdconn.Config, cfg Config) (*guard, error) {
	g := &guard{checker: checkerFor(conn, cfg), limit: cfg.MaxQuotaUsage, prev: map[string]usageSample{}}
	g.quota.Limit = cfg.MaxQuotaUsage
	s := g.checker.CheckOnce(ctx)
	if err := g.preflight(ctx, s, conn.Endpoints); err != nil {
		g.checker.Close()
		return nil, err
	}
	g.last = s
	g.quota.Start = fullest(s)
	g.quota.Peak = g.quota.Start
	for _, m := range s.Members {
		if !m.Up && !m.Learner {
			g.event(time.Now(), fmt.Sprintf("member %s is down at the start (%s)", m.Label(), m.Err))
		}
	}
	return g, nil
}

func (g *guard) preflight(ctx context.Context, s *collector.Snapshot, endpoints []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !s.Success {
		var why []string
		for _, m := range s.Members {
			why = append(why, m.Label()+": "+m.Err)
		}
		return fmt.Errorf("%w: no member answered at %s (%s)", ErrUnreachable, strings.Join(endpoints, ","), strings.Join(why, "; "))
	}
	if !s.HasQuorum {
		return fmt.Errorf("%w: the cluster has no quorum (%d of %d voting members healthy, %d needed); adding load would only make recovery harder",
			ErrRefused, s.HealthyVoting, s.VotingMembers, s.QuorumSize)
	}
	if a := s.Alarms(); len(a) > 0 {
		return fmt.Errorf("%w: the cluster has active alarms (%s); resolve them first (etcdctl alarm list, then alarm disarm once fixed)",
			ErrRefused, strings.Join(a, ", "))
	}
	if u := fullest(s); u.Share >= g.limit {
		return fmt.Errorf("%w: member %s's database is at %.1f%% of its quota (%s of %s), at or above --max-quota-usage=%s; compact and defragment first",
			ErrRefused, u.Member, 100*u.Share, bytesize.Format(u.DBSizeBytes), bytesize.Format(u.QuotaBytes), percent(g.limit))
	}
	return nil
}

// fullest returns the member whose backend is closest to its quota.
func fullest(s *collector.Snapshot) QuotaUsage {
	var u QuotaUsage
	for _, m := range s.Members {
		if !m.Up || m.DBQuota <= 0 {
			continue
		}
		share := float64(m.DBSize) / float64(m.DBQuota)
		if u.Member == "" || share > u.Share {
			u = QuotaUsage{Member: m.Label(), DBSizeBytes: m.DBSize, QuotaBytes: m.DBQuota, Share: share}
		}
	}
	return u
}

// watch polls the cluster until stop, calling halt when the run must end.
func (g *guard) watch(halt func(reason, detail string)) {
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.ending = make(chan struct{})
	g.done = make(chan struct{})
	g.mu.Lock()
	g.zero = time.Now()
	g.mu.Unlock()
	go func() {
		defer close(g.done)
		t := time.NewTicker(guardInterval)
		defer t.Stop()
		for {
			final := false
			select {
			case <-ctx.Done():
				return
			case <-g.ending:
				final = true
			case <-t.C:
			}
			s := g.checker.CheckOnce(ctx)
			if ctx.Err() != nil {
				return
			}
			if final {
				// The load has ended: this look only completes the
				// events, it halts nothing.
				g.observe(s, func(string, string) {})
				return
			}
			g.observe(s, halt)
		}
	}()
}

// setZero moves the origin of event times to the start of the timed run.
func (g *guard) setZero(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	shift := g.zero.Sub(t).Seconds()
	for i := range g.events {
		g.events[i].AtSeconds += shift
	}
	g.zero = t
}

func (g *guard) observe(s *collector.Snapshot, halt func(reason, detail string)) {
	now := time.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	prev := g.last
	g.last = s

	if prev != nil {
		was := map[string]bool{}
		for _, m := range prev.Members {
			was[m.Label()] = m.Up
		}
		for _, m := range s.Members {
			up, known := was[m.Label()]
			switch {
			case known && up && !m.Up:
				g.event(now, fmt.Sprintf("member %s stopped answering (%s)", m.Label(), m.Err))
			case known && !up && m.Up:
				g.event(now, fmt.Sprintf("member %s answers again", m.Label()))
			}
		}
		if prev.Success && !s.Success {
			g.event(now, "no member answers")
		}
		switch {
		case prev.Quorum != collector.QuorumElecting && s.Quorum == collector.QuorumElecting:
			// An election is not a quorum loss: a quorum answers and will
			// elect a leader within a few election timeouts.
			g.event(now, "the cluster is electing a leader")
		case prev.HasQuorum && !s.HasQuorum && s.Success && s.Quorum != collector.QuorumElecting:
			g.event(now, "the cluster lost quorum")
		case !prev.HasQuorum && s.HasQuorum:
			g.event(now, "the cluster has quorum again")
		}
		if s.Success && prev.LeaderID != s.LeaderID {
			if l := s.Leader(); l != nil {
				g.event(now, fmt.Sprintf("leader is now %s", l.Label()))
			} else if prev.HasLeader {
				g.event(now, "no leader")
			}
		}
	}

	if a := s.Alarms(); len(a) > 0 {
		msg := "alarm raised during the run: " + strings.Join(a, ", ")
		if prev == nil || len(prev.Alarms()) == 0 {
			g.event(now, msg)
		}
		halt(StopAlarm, msg)
	}

	// The guard stops the run at the limit, or earlier when the current
	// growth would carry a member past it before the next check.
	horizon := (guardInterval + 2*s.Duration).Seconds()
	for _, m := range s.Members {
		if !m.Up || m.DBQuota <= 0 {
			continue
		}
		label := m.Label()
		share := float64(m.DBSize) / float64(m.DBQuota)
		if share > g.quota.Peak.Share {
			g.quota.Peak = QuotaUsage{Member: label, DBSizeBytes: m.DBSize, QuotaBytes: m.DBQuota, Share: share}
		}
		p, seen := g.prev[label]
		g.prev[label] = usageSample{at: now, share: share}
		if share >= g.limit {
			halt(StopQuota, fmt.Sprintf("member %s's database reached %.1f%% of its quota (%s of %s), the limit is %s (--max-quota-usage)",
				label, 100*share, bytesize.Format(m.DBSize), bytesize.Format(m.DBQuota), percent(g.limit)))
			continue
		}
		if !seen {
			continue
		}
		dt := now.Sub(p.at).Seconds()
		if dt <= 0 || share <= p.share {
			continue
		}
		rate := (share - p.share) / dt
		if share+rate*horizon >= g.limit {
			halt(StopQuota, fmt.Sprintf("member %s's database is at %.1f%% of its quota (%s of %s) and grows %s/s: it would pass the limit of %s (--max-quota-usage) before the next check",
				label, 100*share, bytesize.Format(m.DBSize), bytesize.Format(m.DBQuota), bytesize.Format(int64(rate*float64(m.DBQuota))), percent(g.limit)))
		}
	}
}

func (g *guard) event(at time.Time, msg string) {
	if len(g.events) >= maxEvents {
		g.dropped++
		return
	}
	var off float64
	if !g.zero.IsZero() {
		off = at.Sub(g.zero).Seconds()
	}
	g.events = append(g.events, Event{AtSeconds: off, Message: msg})
}

// stop ends the watching once the check under way and one last check have
// been observed: a member that stopped answering near the end of the run
// is only seen when its call times out, up to guardCallTimeout later, and
// cancelling that check would leave the report without the event. It
// waits for at most two checks, each bounded by guardCallTimeout.
func (g *guard) stop() {
	if g.done == nil {
		return
	}
	close(g.ending)
	<-g.done
	g.cancel()
	g.done = nil
}

// close stops the watching at once and releases the checker.
func (g *guard) close() {
	if g.done != nil {
		g.cancel()
		<-g.done
		g.done = nil
	}
	g.checker.Close()
}

func (g *guard) result() ([]Event, QuotaInfo, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ev := append([]Event(nil), g.events...)
	if g.dropped > 0 {
		ev = append(ev, Event{Message: fmt.Sprintf("%d more events not kept", g.dropped)})
	}
	var version string
	if g.last != nil {
		version = g.last.Version
	}
	return ev, g.quota, version
}

func percent(share float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", 100*share), "0"), ".") + "%"
}
