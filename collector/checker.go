package collector

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// DefaultQuotaBackendBytes is etcd's own default backend quota, assumed for
// members whose Status does not report one (before 3.6).
const DefaultQuotaBackendBytes = 2 << 30

// ClusterConfig is one watched cluster.
type ClusterConfig struct {
	Name                string
	Conn                *etcdconn.Config
	HealthCheckInterval time.Duration
	// QuotaBackendBytes is used where the server does not report its quota.
	QuotaBackendBytes int64
	Probe             ProbeConfig
	// HashKVInterval is how often members' KV hashes are compared; 0 turns
	// the check off (hashing a large keyspace costs the members CPU).
	HashKVInterval time.Duration
	// ElectionGrace is how long a quorum of answering members without a
	// serving leader counts as an election under way before it is called
	// quorum lost (default DefaultElectionGrace).
	ElectionGrace time.Duration
}

// DefaultElectionGrace is a few of etcd's default election timeouts (1 s):
// an election normally ends well within it.
const DefaultElectionGrace = 5 * time.Second

// Probe defaults.
const (
	DefaultProbeInterval  = 5 * time.Second
	DefaultProbeKeyPrefix = "/etcd-monitor/probe/"
)

// ProbeConfig configures the synthetic probes.
type ProbeConfig struct {
	// Interval between probe rounds on each member; 0 turns probes off.
	Interval time.Duration
	// Timeout of each probe request (default: the etcd request timeout,
	// at most Interval).
	Timeout time.Duration
	// Write enables the put and delete probes; off for read-only users.
	Write bool
	// KeyPrefix is where probe keys live.
	KeyPrefix string
}

// Checker polls one cluster in the background and publishes an immutable
// Snapshot after every round. It is made of parts that each own their state
// and lock: the round loop here (history, last-seen times, the cluster
// version), the member set (connections, member list, per-member checks),
// the prober set (probers, their lease, the latency window), the event log,
// and the certificate and KV-hash loops' results.
type Checker struct {
	cfg    ClusterConfig
	logger *slog.Logger
	http   *http.Client

	snap    atomic.Pointer[Snapshot]
	members *memberSet
	probers *proberSet // nil without probes
	events  *eventLog
	recent  *latencyWindow
	revs    revisions
	extras  extras

	probeMetrics *ProbeMetrics
	sched        *Scheduler

	// roundMu makes rounds run one at a time (the loop, or CheckOnce
	// callers) and guards what only rounds touch.
	roundMu  sync.Mutex
	hist     *history
	lastSeen map[uint64]time.Time
	version  string

	certsAt   time.Time   // last certificate read started; the loop's own
	certsBusy atomic.Bool // a certificate read is in flight
	// The cluster version's refresh, the rounds' own: when it was last
	// read, and the members' versions and when they last changed.
	verAsked   time.Time
	verKey     string
	verChanged time.Time

	cancel    context.CancelFunc
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// extras are the results of the certificate and KV-hash loops.
type extras struct {
	mu     sync.Mutex
	certs  []CertExpiry
	hashkv *HashKVResult
}

// Option configures a Checker.
type Option func(*Checker)

// WithProbeMetrics enables the synthetic probes (when the cluster's probe
// interval is positive), recording into pm.
func WithProbeMetrics(pm *ProbeMetrics) Option {
	return func(c *Checker) { c.probeMetrics = pm }
}

// WithScheduler shares s, the monitor's bound on rounds in flight and its
// count of late and skipped rounds, with this checker. Without it the
// checker's rounds are unbounded and their lateness is counted unexposed.
func WithScheduler(s *Scheduler) Option {
	return func(c *Checker) { c.sched = s }
}

// NewChecker prepares a checker; Start begins polling.
func NewChecker(cfg ClusterConfig, logger *slog.Logger, opts ...Option) *Checker {
	if cfg.QuotaBackendBytes == 0 {
		cfg.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if cfg.ElectionGrace <= 0 {
		cfg.ElectionGrace = DefaultElectionGrace
	}
	if cfg.Probe.KeyPrefix == "" {
		cfg.Probe.KeyPrefix = DefaultProbeKeyPrefix
	}
	if cfg.Probe.Interval > 0 && (cfg.Probe.Timeout <= 0 || cfg.Probe.Timeout > cfg.Probe.Interval) {
		cfg.Probe.Timeout = min(cfg.Conn.RequestTimeout, cfg.Probe.Interval)
	}
	// HTTP (the cluster version, a quota on etcd before 3.6) is asked for
	// about once a minute: a connection kept open for it would be a fourth
	// connection per cluster and two goroutines, for a dial a minute saved.
	tr := &http.Transport{
		TLSClientConfig:   cfg.Conn.TLS(),
		DisableKeepAlives: true,
		DialContext:       (&net.Dialer{Timeout: cfg.Conn.DialTimeout}).DialContext,
	}
	logger = logger.With("etcd_cluster", cfg.Name)
	hc := &http.Client{Transport: tr, Timeout: cfg.Conn.RequestTimeout}
	c := &Checker{
		cfg:      cfg,
		logger:   logger,
		http:     hc,
		members:  newMemberSet(cfg.Conn, cfg.QuotaBackendBytes, logger, hc),
		events:   newEventLog(logger),
		recent:   newLatencyWindow(5 * time.Minute),
		hist:     newHistory(cfg.ElectionGrace),
		lastSeen: map[uint64]time.Time{},
	}
	for _, o := range opts {
		o(c)
	}
	if c.sched == nil {
		c.sched = NewScheduler(0)
	}
	if c.probeMetrics != nil && cfg.Probe.Interval > 0 {
		c.probers = newProberSet(cfg.Name, cfg.Probe, cfg.Conn.RequestTimeout, c.probeMetrics, c.sched, c.recent, logger, c.leaseConn)
	}
	return c
}

// leaseConn picks the member the probe lease is granted through: the
// leader if it served the last check, else any voting member that did.
func (c *Checker) leaseConn() *memberConn {
	s := c.Snapshot()
	if s == nil {
		return nil
	}
	if l := s.Leader(); l != nil && l.Healthy {
		if conn := c.members.acquire(l.Endpoint); conn != nil {
			return conn
		}
	}
	for _, m := range s.Members {
		if m.Healthy && !m.Learner {
			if conn := c.members.acquire(m.Endpoint); conn != nil {
				return conn
			}
		}
	}
	return nil
}

// Name is the cluster's configured name (the etcd_cluster label).
func (c *Checker) Name() string { return c.cfg.Name }

// Config returns the cluster's configuration.
func (c *Checker) Config() ClusterConfig { return c.cfg }

// Snapshot returns the latest published snapshot, nil before the first
// round has finished.
func (c *Checker) Snapshot() *Snapshot { return c.snap.Load() }

// Start polls every HealthCheckInterval until Close. The first round starts
// at once (as soon as the scheduler has a slot) but does not block Start: a
// cluster that is down at start must not keep the exporter from serving.
// Later rounds run on the interval's grid at the cluster's own stable phase,
// so a monitor's clusters do not all send their requests at once.
func (c *Checker) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	if c.cfg.HashKVInterval > 0 {
		c.wg.Add(1)
		go func() { defer c.wg.Done(); c.hashKVLoop(ctx) }()
	}
	go func() { defer close(c.done); c.loop(ctx) }()
}

// loop runs the check rounds. A round waits for the scheduler's slot at
// most until its next slot, then it is skipped; a round that starts late or
// overruns its interval is counted as the monitor's lateness. The request
// timeouts of a round start once it has its slot.
func (c *Checker) loop(ctx context.Context) {
	iv := c.cfg.HealthCheckInterval
	ph := phase(c.cfg.Name, iv)
	due := time.Now()
	first := true
	for {
		next := nextSlot(due, iv, ph)
		if first {
			// Not charged for starting between two slots.
			next = nextSlot(due.Add(iv/2), iv, ph)
		}
		ran := c.sched.acquireBy(ctx, next)
		if ran {
			c.sched.markRan(KindCheck)
			if !first && time.Since(due) > lateAfter(iv) {
				c.sched.markLate(c.cfg.Name, KindCheck)
			}
			s := c.CheckOnce(ctx)
			c.sched.release()
			c.readCertsIfDue(ctx, s)
		} else if ctx.Err() == nil {
			c.sched.markSkipped(c.cfg.Name, KindCheck, 1)
		}
		if ctx.Err() != nil {
			return
		}
		first = false
		if end := time.Now(); ran && !end.Before(next) {
			// Overran: the slots it ran into are skipped, the next
			// round takes the first slot ahead.
			c.sched.markLate(c.cfg.Name, KindCheck)
			c.sched.markSkipped(c.cfg.Name, KindCheck, int(end.Sub(next)/iv)+1)
			next = nextSlot(end, iv, ph)
		}
		due = next
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(next)):
		}
	}
}

// readCertsIfDue reads the certificates after the first round and then
// every certInterval, in a goroutine of its own for as long as it takes
// (dials to hung members), so the rounds keep their schedule.
func (c *Checker) readCertsIfDue(ctx context.Context, s *Snapshot) {
	if s == nil || ctx.Err() != nil || time.Since(c.certsAt) < certInterval || c.certsBusy.Load() {
		return
	}
	c.certsAt = time.Now()
	c.certsBusy.Store(true)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.certsBusy.Store(false)
		certs := c.readCerts(ctx, s)
		c.extras.mu.Lock()
		c.extras.certs = certs
		c.extras.mu.Unlock()
	}()
}

// Close stops polling and closes every connection, in order: the loops,
// then the probers (which hold connections), then the connections.
func (c *Checker) Close() {
	c.closeOnce.Do(func() {
		if c.cancel != nil {
			c.cancel()
			<-c.done
			c.wg.Wait()
		}
		c.roundMu.Lock() // a CheckOnce caller's round ends first
		defer c.roundMu.Unlock()
		if c.probers != nil {
			c.probers.stop()
		}
		c.members.close()
		c.http.CloseIdleConnections()
		c.sched.forget(c.cfg.Name)
	})
}

// CheckOnce runs one round, publishes and returns its snapshot. A round cut
// short by ctx (shutdown) is neither published nor logged: members did not
// fail, the monitor stopped asking. It then returns the last snapshot.
func (c *Checker) CheckOnce(ctx context.Context) *Snapshot {
	c.roundMu.Lock()
	defer c.roundMu.Unlock()
	start := time.Now()
	res := c.members.check(ctx)
	if ctx.Err() != nil {
		if s := c.Snapshot(); s != nil {
			return s
		}
		return &Snapshot{Cluster: c.cfg.Name, Time: time.Now()}
	}
	states := res.states
	now := time.Now()
	for i := range states {
		m := &states[i]
		if m.Up {
			c.lastSeen[m.ID] = now
		}
		m.LastSeen = c.lastSeen[m.ID]
	}
	slices.SortFunc(states, func(a, b MemberState) int {
		if c := strings.Compare(a.Label(), b.Label()); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	s := &Snapshot{Cluster: c.cfg.Name, Members: states, Time: now}
	ev := c.hist.analyze(s, res.haveList)
	s.ClusterID = res.clusterID
	s.Version = c.clusterVersion(ctx, s)
	s.Success = res.knownList && anyUp(states)
	c.extras.mu.Lock()
	s.Certs, s.HashKV = c.extras.certs, c.extras.hashkv
	c.extras.mu.Unlock()
	if s.Revision > 0 {
		c.revs.record(s.Time, s.Revision)
	}
	s.Duration = time.Since(start)
	if ctx.Err() != nil {
		if s := c.Snapshot(); s != nil {
			return s
		}
	}
	c.events.round(s, ev, res)
	c.snap.Store(s)
	if c.probers != nil {
		c.probers.reconcile(s, c.members)
	}
	return s
}

func anyUp(ms []MemberState) bool {
	for _, m := range ms {
		if m.Up {
			return true
		}
	}
	return false
}

type versionResponse struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
}

// versionRefresh is how often the cluster version is asked for while the
// members' own versions stay the same: it changes only when the last member
// of an upgrade is in, so asking every round would cost a connection per
// round for nothing (and a thousand clusters asking once a minute would
// still be 17 connections a second).
const versionRefresh = 10 * time.Minute

// clusterVersion asks the leader (or any member that is up) for /version,
// every versionRefresh and in every round of the versionRefresh after the
// members' versions changed (the leader decides the new cluster version
// shortly after the last member is upgraded); it keeps the last known value
// when nobody answers.
func (c *Checker) clusterVersion(ctx context.Context, s *Snapshot) string {
	vs := make([]string, 0, len(s.Members))
	for _, m := range s.Members {
		vs = append(vs, m.Version)
	}
	now := time.Now()
	if key := strings.Join(vs, ","); key != c.verKey {
		c.verKey, c.verChanged = key, now
	}
	if c.version != "" && now.Sub(c.verAsked) < versionRefresh && now.Sub(c.verChanged) > versionRefresh {
		return c.version
	}
	var ep string
	if l := s.Leader(); l != nil && l.Up {
		ep = l.Endpoint
	} else {
		for _, m := range s.Members {
			if m.Up {
				ep = m.Endpoint
				break
			}
		}
	}
	if ep == "" {
		return c.version
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/version", nil)
	if err != nil {
		return c.version
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.logger.Debug("cluster version", "endpoint", ep, "err", err)
		return c.version
	}
	defer resp.Body.Close()
	var v versionResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&v); err == nil && v.Cluster != "" {
		c.version, c.verAsked = v.Cluster, now
	}
	return c.version
}

// Checkers is the set of watched clusters, in configuration order.
type Checkers []*Checker

// Snapshots implements SnapshotSource.
func (cs Checkers) Snapshots() []*Snapshot {
	out := make([]*Snapshot, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Snapshot())
	}
	return out
}

// Start starts every checker.
func (cs Checkers) Start() {
	for _, c := range cs {
		c.Start()
	}
}

// Close stops every checker and waits for them.
func (cs Checkers) Close() {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() { defer wg.Done(); c.Close() }()
	}
	wg.Wait()
}
