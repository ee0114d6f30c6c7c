package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// prober runs synthetic requests against one member, on its own schedule,
// through the member's long-lived connection. Rounds never overlap: the next
// one starts when both the interval has passed and the last one has ended.
type prober struct {
	c        *Checker
	conn     *memberConn
	member   string // label
	endpoint string
	learner  bool
	key      []byte

	cancel context.CancelFunc
	done   chan struct{}
}

func (c *Checker) newProber(m MemberState, conn *memberConn) *prober {
	host, _ := os.Hostname()
	if host == "" {
		host = "etcd-monitor"
	}
	// One key per monitor host and member, so two monitor replicas do not
	// overwrite each other's probes.
	key := c.cfg.Probe.KeyPrefix + host + "/" + IDHex(m.ID)
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{
		c: c, conn: conn, member: m.Label(), endpoint: m.Endpoint, learner: m.Learner,
		key: []byte(key), cancel: cancel, done: make(chan struct{}),
	}
	go p.run(ctx)
	return p
}

func (p *prober) stop() {
	p.cancel()
	<-p.done
}

func (p *prober) run(ctx context.Context) {
	defer close(p.done)
	interval := p.c.cfg.Probe.Interval
	for {
		start := time.Now()
		p.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(time.Until(start.Add(interval)), 0)):
		}
	}
}

func (p *prober) round(ctx context.Context) {
	cfg := p.c.cfg.Probe
	ok := true
	write := cfg.Write && !p.learner
	if write {
		ok = p.op(ctx, OpPut, func(ctx context.Context) error {
			lease, err := p.c.probeLease(ctx, p.conn)
			if err != nil {
				return err
			}
			kv, err := p.conn.kv()
			if err != nil {
				return err
			}
			_, err = kv.Put(ctx, &pb.PutRequest{Key: p.key, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano)), Lease: lease})
			return err
		}) && ok
	}
	if !p.learner { // learners refuse linearizable reads
		ok = p.op(ctx, OpGet, func(ctx context.Context) error { return p.get(ctx, false) }) && ok
	}
	ok = p.op(ctx, OpGetSerializable, func(ctx context.Context) error { return p.get(ctx, true) }) && ok
	if write {
		ok = p.op(ctx, OpDelete, func(ctx context.Context) error {
			kv, err := p.conn.kv()
			if err != nil {
				return err
			}
			_, err = kv.DeleteRange(ctx, &pb.DeleteRangeRequest{Key: p.key})
			return err
		}) && ok
	}
	if ctx.Err() != nil {
		return
	}
	p.c.probeMetrics.success.WithLabelValues(p.c.cfg.Name, p.member, p.endpoint).Set(b2f(ok))
}

func (p *prober) get(ctx context.Context, serializable bool) error {
	kv, err := p.conn.kv()
	if err != nil {
		return err
	}
	_, err = kv.Range(ctx, &pb.RangeRequest{Key: p.key, Serializable: serializable})
	return err
}

// op times one request. Its duration is observed only on success and only
// within the timeout: a request slower than the timeout is a timeout even if
// it returned.
func (p *prober) op(ctx context.Context, op string, f func(context.Context) error) bool {
	timeout := p.c.cfg.Probe.Timeout
	octx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	err := f(octx)
	d := time.Since(start)
	cancel()
	if ctx.Err() != nil {
		return false // shutting down: not the member's fault
	}
	if err == nil && d > timeout {
		err = context.DeadlineExceeded
	}
	cl := p.c.cfg.Name
	if err == nil {
		p.c.probeMetrics.duration.WithLabelValues(cl, p.member, p.endpoint, op).Observe(d.Seconds())
		p.c.recent.add(p.member, op, start, d)
		p.c.clearProbeFailure(p.member, op)
		return true
	}
	reason := FailureReason(err)
	p.c.probeMetrics.failures.WithLabelValues(cl, p.member, p.endpoint, op, reason).Inc()
	p.c.logProbeFailure(p.member, op, reason, err)
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

// leaseError marks a failure to obtain the probe lease, so the put probe
// reports why it could not run.
type leaseError struct{ err error }

func (e *leaseError) Error() string { return "probe lease: " + e.err.Error() }
func (e *leaseError) Unwrap() error { return e.err }

// probeLease returns the lease probe keys are written with, granting a new
// one when the current one is past half its TTL. Keys always carry a lease,
// so a monitor that dies leaves nothing behind for longer than the TTL.
// Renewing by granting (rather than a keep-alive stream) costs one request
// per half TTL for the whole cluster; the old lease expires on its own.
func (c *Checker) probeLease(ctx context.Context, conn *memberConn) (int64, error) {
	c.leaseMu.Lock()
	defer c.leaseMu.Unlock()
	ttl := c.probeLeaseTTL()
	if c.leaseID != 0 && time.Since(c.leaseGranted) < ttl/2 {
		return c.leaseID, nil
	}
	cli, err := conn.client()
	if err != nil {
		return 0, &leaseError{err}
	}
	resp, err := pb.NewLeaseClient(cli.ActiveConnection()).LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: int64(ttl / time.Second)})
	if err != nil {
		return 0, &leaseError{err}
	}
	c.leaseID, c.leaseGranted = resp.ID, time.Now()
	return c.leaseID, nil
}

// probeLeaseTTL is a few probe intervals, and at least 10 s (etcd's minimum
// TTL is larger than a heartbeat anyway).
func (c *Checker) probeLeaseTTL() time.Duration {
	return max(4*c.cfg.Probe.Interval, 10*time.Second).Round(time.Second)
}

// logProbeFailure logs a probe failure when its reason changes, so a
// read-only user sees "permission denied" once, not every five seconds.
func (c *Checker) logProbeFailure(member, op, reason string, err error) {
	c.probeLogMu.Lock()
	defer c.probeLogMu.Unlock()
	key := member + "/" + op
	if reason == "permission_denied" {
		// The same credentials go to every member: one line says it all.
		key = reason
	}
	if c.probeLogged[key] == reason {
		return
	}
	c.probeLogged[key] = reason
	msg := "probe failed"
	if reason == "permission_denied" && (op == OpPut || op == OpDelete) {
		msg = "write probe not permitted: grant the monitor's role readwrite on the probe prefix, or run with --no-probe.write"
	}
	c.logger.Warn(msg, "member", member, "operation", op, "reason", reason, "key_prefix", c.cfg.Probe.KeyPrefix, "err", err)
}

// clearProbeFailure forgets the logged reason once an operation succeeds
// again, so the next failure is logged.
func (c *Checker) clearProbeFailure(member, op string) {
	c.probeLogMu.Lock()
	defer c.probeLogMu.Unlock()
	delete(c.probeLogged, member+"/"+op)
	if op == OpPut {
		delete(c.probeLogged, "permission_denied")
	}
}

// reconcileProbers starts a prober for every member that can be reached and
// stops those of members that left or changed endpoint.
func (c *Checker) reconcileProbers(s *Snapshot) {
	if c.probeMetrics == nil || c.cfg.Probe.Interval <= 0 {
		return
	}
	want := map[string]MemberState{}
	for _, m := range s.Members {
		if m.Endpoint != "" && !m.Unstarted && m.ID != 0 {
			want[fmt.Sprintf("%x@%s@%v", m.ID, m.Endpoint, m.Learner)] = m
		}
	}
	for k, p := range c.probers {
		if _, ok := want[k]; !ok {
			p.stop()
			delete(c.probers, k)
			if !c.hasProberFor(p.member) {
				c.probeMetrics.forget(c.cfg.Name, p.member)
				c.recent.forget(p.member)
			}
		}
	}
	for k, m := range want {
		if _, ok := c.probers[k]; !ok {
			c.probers[k] = c.newProber(m, c.conns[m.Endpoint])
		}
	}
}

func (c *Checker) hasProberFor(member string) bool {
	for _, p := range c.probers {
		if p.member == member {
			return true
		}
	}
	return false
}

func (c *Checker) stopProbers() {
	var wg sync.WaitGroup
	for k, p := range c.probers {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
		delete(c.probers, k)
	}
	wg.Wait()
}
