package collector

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
}

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
// Snapshot after every round.
type Checker struct {
	cfg    ClusterConfig
	logger *slog.Logger
	http   *http.Client

	snap atomic.Pointer[Snapshot]

	// Owned by the loop goroutine (or by CheckOnce callers, one at a time).
	mu           sync.Mutex
	hist         *history
	conns        map[string]*memberConn
	members      []*pb.Member // last good member list
	listFrom     string       // endpoint that answered the last member list
	lastSeen     map[uint64]time.Time
	wasUp        map[string]bool
	clusterID    uint64
	version      string
	seedWarned   map[string]bool
	wasSplit     bool
	wasPartition map[uint64]bool

	// Probes.
	probeMetrics *ProbeMetrics
	probers      map[string]*prober // by member ID, endpoint and role
	leaseMu      sync.Mutex
	leaseID      int64
	leaseGranted time.Time
	probeLogMu   sync.Mutex
	probeLogged  map[string]string
	recent       *latencyWindow

	// Revisions over the last minutes, for the write rate.
	revMu   sync.Mutex
	revSeen []revSample

	// Certificates and KV hashes, refreshed by their own loops.
	extraMu sync.Mutex
	certs   []CertExpiry
	hashkv  *HashKVResult

	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
}

// Option configures a Checker.
type Option func(*Checker)

// WithProbeMetrics enables the synthetic probes (when the cluster's probe
// interval is positive), recording into pm.
func WithProbeMetrics(pm *ProbeMetrics) Option {
	return func(c *Checker) { c.probeMetrics = pm }
}

// NewChecker prepares a checker; Start begins polling.
func NewChecker(cfg ClusterConfig, logger *slog.Logger, opts ...Option) *Checker {
	if cfg.QuotaBackendBytes == 0 {
		cfg.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if cfg.Probe.KeyPrefix == "" {
		cfg.Probe.KeyPrefix = DefaultProbeKeyPrefix
	}
	if cfg.Probe.Interval > 0 && (cfg.Probe.Timeout <= 0 || cfg.Probe.Timeout > cfg.Probe.Interval) {
		cfg.Probe.Timeout = min(cfg.Conn.RequestTimeout, cfg.Probe.Interval)
	}
	tr := &http.Transport{
		TLSClientConfig:     cfg.Conn.TLS(),
		MaxIdleConnsPerHost: 1,
		IdleConnTimeout:     2 * cfg.HealthCheckInterval,
		DialContext:         (&net.Dialer{Timeout: cfg.Conn.DialTimeout}).DialContext,
	}
	c := &Checker{
		cfg:          cfg,
		logger:       logger.With("etcd_cluster", cfg.Name),
		http:         &http.Client{Transport: tr, Timeout: cfg.Conn.RequestTimeout},
		hist:         newHistory(),
		conns:        map[string]*memberConn{},
		lastSeen:     map[uint64]time.Time{},
		wasUp:        map[string]bool{},
		seedWarned:   map[string]bool{},
		wasPartition: map[uint64]bool{},
		probers:      map[string]*prober{},
		probeLogged:  map[string]string{},
		recent:       newLatencyWindow(5 * time.Minute),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Name is the cluster's configured name (the etcd_cluster label).
func (c *Checker) Name() string { return c.cfg.Name }

// Config returns the cluster's configuration.
func (c *Checker) Config() ClusterConfig { return c.cfg }

// Snapshot returns the latest published snapshot, nil before the first
// round has finished.
func (c *Checker) Snapshot() *Snapshot { return c.snap.Load() }

// Start polls every HealthCheckInterval until Close. The first round starts
// at once but does not block Start: a cluster that is down at start must not
// keep the exporter from serving.
func (c *Checker) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.done = make(chan struct{})
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.certLoop(ctx) }()
	go func() { defer c.wg.Done(); c.hashKVLoop(ctx) }()
	go func() {
		defer close(c.done)
		for {
			start := time.Now()
			c.CheckOnce(ctx)
			wait := time.Until(start.Add(c.cfg.HealthCheckInterval))
			select {
			case <-ctx.Done():
				return
			case <-time.After(max(wait, 0)):
			}
		}
	}()
}

// Close stops polling and closes every connection.
func (c *Checker) Close() {
	if c.cancel != nil {
		c.cancel()
		<-c.done
		c.wg.Wait()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopProbers()
	for ep, conn := range c.conns {
		_ = conn.close()
		delete(c.conns, ep)
	}
	c.http.CloseIdleConnections()
}

// CheckOnce runs one round, publishes and returns its snapshot.
func (c *Checker) CheckOnce(ctx context.Context) *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()

	list, err := c.memberList(ctx)
	haveList := err == nil
	if haveList {
		c.members = list.Members
		if list.Header != nil {
			c.clusterID = list.Header.ClusterId
		}
	} else if ctx.Err() == nil {
		c.logOnce("memberlist", false, "no member answered the member list", "err", err)
	}
	if haveList {
		c.logOnce("memberlist", true, "member list available again")
	}

	targets := c.targets()
	c.reconcileConns(targets)

	states := make([]MemberState, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			states[i] = c.checkMember(ctx, t)
		}()
	}
	wg.Wait()
	assignAlarms(states)

	s := &Snapshot{Cluster: c.cfg.Name, Members: states}
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
	s.Time = now
	ev := c.hist.analyze(s, haveList)
	s.ClusterID = c.clusterID
	s.Version = c.clusterVersion(ctx, s)
	s.Success = (haveList || c.members != nil) && anyUp(states)
	c.extraMu.Lock()
	s.Certs, s.HashKV = c.certs, c.hashkv
	c.extraMu.Unlock()
	if s.Revision > 0 {
		c.recordRevision(s.Time, s.Revision)
	}
	s.Duration = time.Since(start)
	c.logEvents(s, ev)
	c.snap.Store(s)
	if ctx.Err() == nil {
		c.reconcileProbers(s)
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

// target is a member to check: from the member list, or a configured
// endpoint while no member list has ever been obtained.
type target struct {
	member   *pb.Member
	endpoint string
}

func (c *Checker) targets() []target {
	if c.members == nil {
		ts := make([]target, 0, len(c.cfg.Conn.Endpoints))
		for _, ep := range c.cfg.Conn.Endpoints {
			ts = append(ts, target{endpoint: ep})
		}
		return ts
	}
	ts := make([]target, 0, len(c.members))
	matched := map[string]bool{}
	for _, m := range c.members {
		ep := c.endpointFor(m)
		matched[ep] = true
		ts = append(ts, target{member: m, endpoint: ep})
	}
	for _, seed := range c.cfg.Conn.Endpoints {
		if !matched[seed] && !c.seedWarned[seed] {
			c.seedWarned[seed] = true
			c.logger.Info("configured endpoint is no member's advertised client URL; members are checked through their advertised URLs, this endpoint only serves the member list", "endpoint", seed)
		}
	}
	return ts
}

// endpointFor picks the URL a member is checked through: a configured
// endpoint that is one of its advertised client URLs, else the first
// advertised one. Unstarted members have none.
func (c *Checker) endpointFor(m *pb.Member) string {
	for _, u := range m.ClientURLs {
		for _, seed := range c.cfg.Conn.Endpoints {
			if sameHostPort(u, seed) {
				return seed
			}
		}
	}
	if len(m.ClientURLs) > 0 {
		ep, err := etcdconn.NormalizeEndpoint(m.ClientURLs[0], c.cfg.Conn.TLS() != nil)
		if err == nil {
			return ep
		}
	}
	return ""
}

func sameHostPort(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	norm := func(h string) string {
		host, port, err := net.SplitHostPort(h)
		if err != nil {
			return h
		}
		if host == "localhost" {
			host = "127.0.0.1"
		}
		return net.JoinHostPort(host, port)
	}
	return norm(ua.Host) == norm(ub.Host)
}

func (c *Checker) reconcileConns(targets []target) {
	want := map[string]bool{}
	for _, ep := range c.cfg.Conn.Endpoints {
		want[ep] = true
	}
	for _, t := range targets {
		if t.endpoint != "" {
			want[t.endpoint] = true
		}
	}
	for ep := range want {
		if c.conns[ep] == nil {
			c.conns[ep] = newMemberConn(c.cfg.Conn, ep)
		}
	}
	for ep, conn := range c.conns {
		if !want[ep] {
			_ = conn.close()
			delete(c.conns, ep)
		}
	}
}

// memberList asks the member that answered last time first; if it fails,
// all other known endpoints at once, taking the first answer.
func (c *Checker) memberList(ctx context.Context) (*pb.MemberListResponse, error) {
	eps := c.knownEndpoints()
	if c.listFrom != "" {
		if resp, err := c.memberListFrom(ctx, c.listFrom); err == nil {
			return resp, nil
		}
		eps = slices.DeleteFunc(eps, func(e string) bool { return e == c.listFrom })
	}
	if len(eps) == 0 {
		return nil, errors.New("no endpoints")
	}
	type result struct {
		ep   string
		resp *pb.MemberListResponse
		err  error
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan result, len(eps))
	for _, ep := range eps {
		go func() {
			resp, err := c.memberListFrom(lctx, ep)
			results <- result{ep, resp, err}
		}()
	}
	var errs []error
	for range eps {
		r := <-results
		if r.err == nil {
			c.listFrom = r.ep
			return r.resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", r.ep, r.err))
	}
	return nil, errors.Join(errs...)
}

func (c *Checker) memberListFrom(ctx context.Context, ep string) (*pb.MemberListResponse, error) {
	conn := c.conns[ep]
	if conn == nil {
		conn = newMemberConn(c.cfg.Conn, ep)
		c.conns[ep] = conn
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Conn.RequestTimeout)
	defer cancel()
	return conn.memberList(rctx)
}

func (c *Checker) knownEndpoints() []string {
	seen := map[string]bool{}
	var eps []string
	add := func(ep string) {
		if ep != "" && !seen[ep] {
			seen[ep] = true
			eps = append(eps, ep)
		}
	}
	for _, ep := range c.cfg.Conn.Endpoints {
		add(ep)
	}
	for _, m := range c.members {
		if !m.IsLearner {
			add(c.endpointFor(m))
		}
	}
	// Create connections up front so the concurrent calls only read the map.
	for _, ep := range eps {
		if c.conns[ep] == nil {
			c.conns[ep] = newMemberConn(c.cfg.Conn, ep)
		}
	}
	return eps
}

// checkMember asks one member for its Status and serves it a read, both at
// once and each under the request timeout.
func (c *Checker) checkMember(ctx context.Context, t target) MemberState {
	ms := MemberState{Endpoint: t.endpoint}
	if m := t.member; m != nil {
		ms.ID, ms.Name, ms.Learner = m.ID, m.Name, m.IsLearner
		ms.PeerURLs, ms.ClientURLs = m.PeerURLs, m.ClientURLs
		ms.Unstarted = m.Name == "" && len(m.ClientURLs) == 0
	}
	if ms.Unstarted {
		ms.Err = "member has not started (added, never joined)"
		return ms
	}
	if t.endpoint == "" {
		ms.Err = "member advertises no usable client URL"
		return ms
	}
	conn := c.conns[t.endpoint]
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Conn.RequestTimeout)
	defer cancel()

	var st *pb.StatusResponse
	var stErr, readErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); st, stErr = conn.status(rctx) }()
	go func() { defer wg.Done(); readErr = conn.read(rctx, ms.Learner) }()
	wg.Wait()

	if stErr == nil {
		ms.Up = true
		if t.member == nil && st.Header != nil {
			ms.ID = st.Header.MemberId
		}
		if t.member != nil && st.Header != nil && st.Header.MemberId != ms.ID {
			// The URL answers for another member (a VIP or a stale
			// advertisement): its Status says nothing about this one.
			ms.Up = false
			stErr = fmt.Errorf("endpoint answers as member %s", IDHex(st.Header.MemberId))
		} else {
			c.fillStatus(&ms, st)
		}
	}
	ms.Healthy = ms.Up && servedRead(readErr)
	ms.readTimedOut = status.Code(readErr) == codes.DeadlineExceeded || errors.Is(readErr, context.DeadlineExceeded)
	switch {
	case stErr != nil:
		ms.Err = stErr.Error()
	case readErr != nil && !ms.Healthy:
		ms.Err = readErr.Error()
	}
	return ms
}

// servedRead: a permission error or an alarm still means the member
// answered through raft; alarms have their own metric.
func servedRead(err error) bool {
	if err == nil {
		return true
	}
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.PermissionDenied, codes.Unauthenticated:
		return true
	case codes.DataLoss: // "etcdserver: corrupt cluster": the CORRUPT alarm
		return true
	}
	return false
}

func (c *Checker) fillStatus(ms *MemberState, st *pb.StatusResponse) {
	ms.Version = st.Version
	ms.DBSize = st.DbSize
	ms.DBSizeInUse = st.DbSizeInUse
	ms.DBQuota = st.DbSizeQuota
	if ms.DBQuota == 0 {
		ms.DBQuota = c.cfg.QuotaBackendBytes
	}
	ms.RaftTerm = st.RaftTerm
	ms.RaftIndex = st.RaftIndex
	ms.RaftAppliedIndex = st.RaftAppliedIndex
	ms.Leader = st.Leader
	ms.statusErrors = st.Errors
	ms.Learner = ms.Learner || st.IsLearner
	if st.Header != nil {
		ms.Revision = st.Header.Revision
		if c.clusterID == 0 {
			c.clusterID = st.Header.ClusterId
		}
	}
}

// alarmRE matches an alarm as Status reports it, e.g.
// "memberID:10276657743932975437 alarm:NOSPACE" (spacing varies between
// protobuf text encoders, hence \s*).
var alarmRE = regexp.MustCompile(`memberID:\s*(\d+)\s+alarm:\s*([A-Z]+)`)

// assignAlarms attributes alarms to the member they name. Every member
// reports the whole cluster's alarms in its Status, so one reachable member
// is enough to see the alarm of an unreachable one.
func assignAlarms(states []MemberState) {
	byMember := map[uint64]map[string]bool{}
	for i := range states {
		if !states[i].Up {
			continue
		}
		for _, e := range states[i].statusErrors {
			for _, m := range alarmRE.FindAllStringSubmatch(e, -1) {
				id, err := strconv.ParseUint(m[1], 10, 64)
				if err != nil || m[2] == "NONE" {
					continue
				}
				if byMember[id] == nil {
					byMember[id] = map[string]bool{}
				}
				byMember[id][m[2]] = true
			}
		}
	}
	for i := range states {
		for a := range byMember[states[i].ID] {
			states[i].Alarms = append(states[i].Alarms, a)
		}
		slices.Sort(states[i].Alarms)
	}
}

type versionResponse struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
}

// clusterVersion asks the leader (or any member that is up) for /version;
// it keeps the last known value when nobody answers.
func (c *Checker) clusterVersion(ctx context.Context, s *Snapshot) string {
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
		c.version = v.Cluster
	}
	return c.version
}

// logOnce logs msg when a condition identified by key changes state, so a
// dead member produces one line, not one per round.
func (c *Checker) logOnce(key string, ok bool, msg string, args ...any) {
	prev, seen := c.wasUp[key]
	c.wasUp[key] = ok
	if seen && prev == ok || !seen && ok {
		return
	}
	if ok {
		c.logger.Info(msg, args...)
	} else {
		c.logger.Warn(msg, args...)
	}
}

func (c *Checker) logEvents(s *Snapshot, ev events) {
	for _, m := range s.Members {
		key := "member/" + m.Label()
		if m.Up {
			c.logOnce(key, true, "member is up", "member", m.Label(), "endpoint", m.Endpoint)
		} else {
			c.logOnce(key, false, "member is down", "member", m.Label(), "endpoint", m.Endpoint, "err", m.Err)
		}
		if m.Up {
			hkey := "healthy/" + m.Label()
			if m.Healthy {
				c.logOnce(hkey, true, "member serves reads again", "member", m.Label())
			} else {
				c.logOnce(hkey, false, "member is up but cannot serve a read", "member", m.Label(), "err", m.Err)
			}
		}
		if m.Partitioned != c.wasPartition[m.ID] {
			c.wasPartition[m.ID] = m.Partitioned
			if m.Partitioned {
				c.logger.Warn("member looks partitioned from the raft group", "member", m.Label(), "leader", m.Leader, "raft_term", m.RaftTerm, "raft_index_lag", m.RaftIndexLag)
			} else {
				c.logger.Info("member rejoined the raft group", "member", m.Label())
			}
		}
	}
	if ev.leaderChange != nil {
		lc := ev.leaderChange
		c.logger.Warn("leader changed", "from", lc.FromName, "to", lc.ToName, "raft_term", lc.Term)
	}
	for _, m := range ev.added {
		c.logger.Warn("member added", "member", m.Label(), "member_id", IDHex(m.ID), "peer_urls", strings.Join(m.PeerURLs, ","), "learner", m.Learner)
	}
	for _, label := range ev.removed {
		c.logger.Warn("member removed", "member", label)
	}
	if s.SplitBrain != c.wasSplit {
		c.wasSplit = s.SplitBrain
		if s.SplitBrain {
			c.logger.Error("split brain: reachable members name different leaders")
		} else {
			c.logger.Info("members agree on the leader again")
		}
	}
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
