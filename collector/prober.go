package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// proberSet owns the probers (one per member), the lease their keys are
// written with and the window of recent latencies. One goroutine per
// cluster drives the probe rounds: each member's rounds run on a grid of
// the probe interval at the member's own stable phase, so the members of a
// cluster, and the clusters of a monitor, are not probed all at once (the
// probes would then measure their own burst). A round runs in a goroutine
// of its own only while it is in flight.
type proberSet struct {
	cluster string
	cfg     ProbeConfig
	metrics *ProbeMetrics
	sched   *Scheduler
	recent  *latencyWindow
	lease   *leaseKeeper
	log     *probeLog
	host    string

	cancel context.CancelFunc // the driver's; set with done under mu
	done   chan struct{}      // closed when the driver ends; nil before it starts
	wake   chan struct{}      // a prober was added: the driver recomputes its timer

	mu      sync.Mutex
	probers map[string]*prober // by member ID, endpoint and role
	stopped bool
}

func newProberSet(cluster string, cfg ProbeConfig, requestTimeout time.Duration, pm *ProbeMetrics, sched *Scheduler,
	recent *latencyWindow, logger *slog.Logger, pick func() *memberConn) *proberSet {
	host, _ := os.Hostname()
	if host == "" {
		host = "etcd-monitor"
	}
	return &proberSet{
		cluster: cluster, cfg: cfg, metrics: pm, sched: sched, recent: recent, host: host,
		lease:   newLeaseKeeper(probeLeaseTTL(cfg.Interval), requestTimeout, pick),
		log:     newProbeLog(logger, cfg.KeyPrefix),
		wake:    make(chan struct{}, 1),
		probers: map[string]*prober{},
	}
}

// probeLeaseTTL is a few probe intervals, and at least 10 s (etcd's minimum
// TTL is larger than a heartbeat anyway).
func probeLeaseTTL(interval time.Duration) time.Duration {
	return max(4*interval, 10*time.Second).Round(time.Second)
}

// reconcile starts a prober for every started member with an endpoint and
// stops those of members that left or changed endpoint or role.
func (ps *proberSet) reconcile(s *Snapshot, members *memberSet) {
	want := map[string]MemberState{}
	for _, m := range s.Members {
		if m.Endpoint != "" && !m.Unstarted && m.ID != 0 {
			want[fmt.Sprintf("%x@%s@%v", m.ID, m.Endpoint, m.Learner)] = m
		}
	}
	ps.mu.Lock()
	if ps.stopped {
		ps.mu.Unlock()
		return
	}
	if ps.done == nil { // the driver starts with the first members to probe
		ctx, cancel := context.WithCancel(context.Background())
		ps.cancel, ps.done = cancel, make(chan struct{})
		go ps.drive(ctx)
	}
	var stopping []*prober
	for k, p := range ps.probers {
		if _, ok := want[k]; !ok {
			stopping = append(stopping, p)
			delete(ps.probers, k)
		}
	}
	ps.mu.Unlock()
	// Outside the lock: a round in flight takes it as it ends.
	stopAll(stopping)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.stopped {
		return
	}
	for _, p := range stopping {
		if !ps.hasProberForLocked(p.member) {
			ps.metrics.forget(ps.cluster, p.member)
			ps.recent.forget(p.member)
		}
	}
	added := false
	for k, m := range want {
		if _, ok := ps.probers[k]; ok {
			continue
		}
		conn := members.acquire(m.Endpoint)
		if conn == nil {
			continue
		}
		ps.probers[k] = ps.newProber(m, conn)
		added = true
	}
	if added {
		select {
		case ps.wake <- struct{}{}:
		default:
		}
	}
}

func (ps *proberSet) hasProberForLocked(member string) bool {
	for _, p := range ps.probers {
		if p.member == member {
			return true
		}
	}
	return false
}

// stop ends the driver, every prober, then the lease keeper.
func (ps *proberSet) stop() {
	ps.mu.Lock()
	ps.stopped = true
	cancel, done := ps.cancel, ps.done
	ps.mu.Unlock()
	if done != nil {
		cancel()
		<-done
	}
	ps.mu.Lock()
	var all []*prober
	for k, p := range ps.probers {
		all = append(all, p)
		delete(ps.probers, k)
	}
	ps.mu.Unlock()
	stopAll(all)
	ps.lease.stop()
}

func stopAll(ps []*prober) {
	for _, p := range ps {
		p.cancel() // all at once: each may wait on a hung member
	}
	for _, p := range ps {
		p.stop()
	}
}

// drive starts each prober's rounds at its slots. A slot whose previous
// round is still running is skipped (and counted): rounds of one member
// never overlap, and a hung member is not asked again and again.
func (ps *proberSet) drive(ctx context.Context) {
	defer close(ps.done)
	iv := ps.cfg.Interval
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		var earliest time.Time
		ps.mu.Lock()
		for _, p := range ps.probers {
			if !p.next.After(now) {
				due := p.next
				p.next = nextSlot(now, iv, p.phase)
				// Slots that passed while the driver itself was held up.
				missed := int(now.Sub(due) / iv)
				if p.running {
					missed++
				} else {
					p.running = true
					p.wg.Add(1)
					go p.round(due, p.next)
				}
				if missed > 0 {
					ps.sched.markSkipped(ps.cluster, KindProbe, missed)
				}
			}
			if earliest.IsZero() || p.next.Before(earliest) {
				earliest = p.next
			}
		}
		ps.mu.Unlock()
		wait := time.Hour
		if !earliest.IsZero() {
			wait = max(time.Until(earliest), 0)
		}
		t.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-ps.wake:
		case <-t.C:
		}
	}
}

// prober probes one member through the member's long-lived connection,
// which it holds until it stops.
type prober struct {
	set      *proberSet
	conn     *memberConn
	member   string // label
	endpoint string
	learner  bool
	key      []byte
	phase    time.Duration

	next    time.Time // the next slot; guarded by set.mu
	running bool      // a round is in flight; guarded by set.mu

	// The latency series of each operation, looked up once: only the
	// round in flight uses it, and rounds never overlap.
	hists map[string]*probeHistogram

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the round in flight
}

func (ps *proberSet) newProber(m MemberState, conn *memberConn) *prober {
	// One key per monitor host and member, so two monitor replicas do not
	// overwrite each other's probes.
	id := IDHex(m.ID)
	key := ps.cfg.KeyPrefix + ps.host + "/" + id
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{
		set: ps, conn: conn, member: m.Label(), endpoint: m.Endpoint, learner: m.Learner,
		key: []byte(key), phase: phase(ps.cluster+"/"+id, ps.cfg.Interval), ctx: ctx, cancel: cancel,
		hists: map[string]*probeHistogram{},
	}
	p.next = nextSlot(time.Now(), ps.cfg.Interval, p.phase)
	return p
}

// stop ends the prober once its round in flight has ended.
func (p *prober) stop() {
	p.cancel()
	p.wg.Wait()
	p.conn.release()
}

// round runs the round of one slot: it waits for a slot of the scheduler
// until the next one is due (else the round is skipped, not failed), then
// probes. The requests' timeouts start only once it has its slot.
func (p *prober) round(due, next time.Time) {
	defer func() {
		p.set.mu.Lock()
		p.running = false
		p.set.mu.Unlock()
		p.wg.Done()
	}()
	ps := p.set
	if !ps.sched.acquireBy(p.ctx, next) {
		if p.ctx.Err() == nil {
			ps.sched.markSkipped(ps.cluster, KindProbe, 1)
		}
		return
	}
	defer ps.sched.release()
	ps.sched.markRan(KindProbe)
	if time.Since(due) > lateAfter(ps.cfg.Interval) {
		ps.sched.markLate(ps.cluster, KindProbe)
	}
	p.probe(p.ctx)
}

// errNoLease: no probe lease could be had in time. The lease is granted
// through another member, so this is not the probed member's failure: the
// write probes of the round are skipped, not counted.
var errNoLease = errors.New("no probe lease yet")

// probe sends the requests of one round, one after another.
func (p *prober) probe(ctx context.Context) {
	cfg := p.set.cfg
	ok := true
	write := cfg.Write && !p.learner
	var lease int64
	if write {
		lctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		var err error
		lease, err = p.set.lease.get(lctx)
		cancel()
		if err != nil {
			write = false
		}
	}
	if write {
		ok = p.op(ctx, OpPut, func(ctx context.Context) (time.Duration, error) {
			return p.conn.put(ctx, p.key, []byte(time.Now().UTC().Format(time.RFC3339Nano)), lease)
		}) && ok
	}
	if !p.learner { // learners refuse linearizable reads
		ok = p.op(ctx, OpGet, func(ctx context.Context) (time.Duration, error) { return p.conn.get(ctx, p.key, false) }) && ok
	}
	ok = p.op(ctx, OpGetSerializable, func(ctx context.Context) (time.Duration, error) { return p.conn.get(ctx, p.key, true) }) && ok
	if write {
		ok = p.op(ctx, OpDelete, func(ctx context.Context) (time.Duration, error) { return p.conn.del(ctx, p.key) }) && ok
	}
	if ctx.Err() != nil {
		return
	}
	p.set.metrics.success.WithLabelValues(p.set.cluster, p.member, p.endpoint).Set(b2f(ok))
}

// op runs one request; f reports how long the request took from the
// moment it was sent (a login it needed first is not part of it). Its
// duration is observed only on success and only within the timeout: a
// request slower than the timeout is a timeout even if it returned.
func (p *prober) op(ctx context.Context, op string, f func(context.Context) (time.Duration, error)) bool {
	ps := p.set
	timeout := ps.cfg.Timeout
	octx, cancel := context.WithTimeout(ctx, timeout)
	d, err := f(octx)
	start := time.Now().Add(-d)
	cancel()
	if ctx.Err() != nil {
		return false // shutting down: not the member's fault
	}
	if err == nil && d > timeout {
		err = context.DeadlineExceeded
	}
	if err == nil {
		h := p.hists[op]
		if h == nil {
			h = ps.metrics.duration.WithLabelValues(ps.cluster, p.member, p.endpoint, op)
			p.hists[op] = h
		}
		h.Observe(d.Seconds())
		ps.recent.add(p.member, op, start, d)
		ps.log.cleared(p.member, op)
		return true
	}
	reason := FailureReason(err)
	ps.metrics.failures.WithLabelValues(ps.cluster, p.member, p.endpoint, op, reason).Inc()
	ps.log.failed(p.member, op, reason, err)
	return false
}

// FailureReason maps a probe error to the `reason` label.
func FailureReason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, context.Canceled) {
		return "canceled"
	}
	var ae *AuthError
	if errors.As(err, &ae) {
		return "unauthenticated"
	}
	s, ok := status.FromError(err)
	if !ok {
		var le *leaseError
		if errors.As(err, &le) {
			return FailureReason(le.err)
		}
		return "error"
	}
	msg := s.Message()
	switch s.Code() {
	case codes.DeadlineExceeded:
		return "timeout"
	case codes.Unavailable:
		switch {
		case strings.Contains(msg, "no leader"):
			return "no_leader"
		case strings.Contains(msg, "request timed out"), strings.Contains(msg, "timed out"):
			return "timeout"
		}
		return "unavailable"
	case codes.PermissionDenied:
		return "permission_denied"
	case codes.Unauthenticated:
		return "unauthenticated"
	case codes.ResourceExhausted:
		if strings.Contains(msg, "space exceeded") {
			return "no_space"
		}
		return "resource_exhausted"
	case codes.DataLoss:
		return "corrupt"
	case codes.Canceled:
		return "canceled"
	case codes.FailedPrecondition:
		if strings.Contains(msg, "learner") {
			return "learner"
		}
	case codes.NotFound:
		if strings.Contains(msg, "lease") {
			return "lease_not_found"
		}
	}
	return strings.ToLower(s.Code().String())
}

// leaseError marks a failure to obtain the probe lease.
type leaseError struct{ err error }

func (e *leaseError) Error() string { return "probe lease: " + e.err.Error() }
func (e *leaseError) Unwrap() error { return e.err }

// leaseKeeper holds the lease probe keys are written with. Keys always
// carry a lease, so a monitor that dies leaves nothing behind for longer
// than the TTL. Renewing by granting (rather than a keep-alive stream) costs
// one request per half TTL for the whole cluster; the old lease expires on
// its own. The grant runs in its own goroutine, through a member that
// answered the last check, and holds no lock while it waits: a hung member
// cannot hold up the probes of the others.
type leaseKeeper struct {
	ttl     time.Duration
	timeout time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	pick    func() *memberConn // an answering member's connection, acquired; nil if none
	id      int64
	granted time.Time
	pending chan struct{} // closed when the grant in flight ends
	lastErr error
}

func newLeaseKeeper(ttl, timeout time.Duration, pick func() *memberConn) *leaseKeeper {
	ctx, cancel := context.WithCancel(context.Background())
	return &leaseKeeper{ttl: ttl, timeout: timeout, pick: pick, ctx: ctx, cancel: cancel}
}

// get returns a lease that lives at least another quarter TTL, starting a
// renewal at half the TTL. It waits (until ctx ends) only when no usable
// lease exists.
func (k *leaseKeeper) get(ctx context.Context) (int64, error) {
	k.mu.Lock()
	age := time.Since(k.granted)
	usable := k.id != 0 && age < k.ttl*3/4
	if (k.id == 0 || age >= k.ttl/2) && k.pending == nil && k.ctx.Err() == nil {
		k.pending = make(chan struct{})
		k.wg.Add(1)
		go k.grant(k.pending)
	}
	id, pending := k.id, k.pending
	k.mu.Unlock()
	if usable {
		return id, nil
	}
	if pending == nil {
		return 0, errNoLease
	}
	select {
	case <-pending:
	case <-ctx.Done():
		return 0, errNoLease
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.id != 0 && time.Since(k.granted) < k.ttl*3/4 {
		return k.id, nil
	}
	return 0, errNoLease
}

func (k *leaseKeeper) grant(done chan struct{}) {
	defer k.wg.Done()
	var id int64
	err := errors.New("no member answered the last check")
	k.mu.Lock()
	pick := k.pick
	k.mu.Unlock()
	if conn := pick(); conn != nil {
		ctx, cancel := context.WithTimeout(k.ctx, k.timeout)
		id, err = conn.leaseGrant(ctx, k.ttl)
		cancel()
		conn.release()
	}
	k.mu.Lock()
	if err == nil {
		k.id, k.granted = id, time.Now()
	}
	k.lastErr = err
	k.pending = nil
	k.mu.Unlock()
	close(done)
}

// stop waits for a grant in flight, then revokes the lease, so a cluster
// that is removed (or a monitor that stops) leaves no probe key behind, not
// even one a round cut short between its put and its delete. The revoke
// has its own deadline: a cluster that cannot answer lets the lease expire.
func (k *leaseKeeper) stop() {
	k.cancel()
	k.wg.Wait()
	k.mu.Lock()
	id, pick := k.id, k.pick
	k.id = 0
	k.mu.Unlock()
	if id == 0 {
		return
	}
	if conn := pick(); conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
		_ = conn.leaseRevoke(ctx, id) // an expired or unreachable lease ends by its TTL anyway
		cancel()
		conn.release()
	}
}
