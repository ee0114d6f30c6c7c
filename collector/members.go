package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// memberSet owns the connections to the members, the member list and the
// per-member checks. Connections are created for the endpoints a round
// needs and retired when a member leaves; a retired connection closes only
// after its last user (a check, a prober, a hash comparison) released it.
type memberSet struct {
	conn   *etcdconn.Config
	quota  int64 // assumed where neither Status nor /metrics says
	logger *slog.Logger
	http   *http.Client

	mu              sync.Mutex
	conns           map[string]*memberConn
	members         []*pb.Member // last good member list
	listFrom        string       // endpoint that answered the last member list
	clusterID       uint64
	unmatchedWarned map[string]bool
	wasUp           map[uint64]bool // per member, for quota refreshes on restart
	closed          bool

	stragglers sync.WaitGroup // member list calls still running after the first answer
}

func newMemberSet(conn *etcdconn.Config, quota int64, logger *slog.Logger, hc *http.Client) *memberSet {
	return &memberSet{conn: conn, quota: quota, logger: logger, http: hc,
		conns: map[string]*memberConn{}, unmatchedWarned: map[string]bool{}, wasUp: map[uint64]bool{}}
}

// acquire returns the connection of an endpoint, creating it, registered
// as used; the caller calls release. nil after close.
func (ms *memberSet) acquire(ep string) *memberConn {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.acquireLocked(ep)
}

func (ms *memberSet) acquireLocked(ep string) *memberConn {
	if ms.closed || ep == "" {
		return nil
	}
	c := ms.conns[ep]
	if c == nil {
		c = newMemberConn(ms.conn, ms.http, ep)
		ms.conns[ep] = c
	}
	if !c.acquire() {
		return nil
	}
	return c
}

// close retires every connection; each closes once its users are done.
func (ms *memberSet) close() {
	ms.mu.Lock()
	ms.closed = true
	conns := ms.conns
	ms.conns = map[string]*memberConn{}
	ms.mu.Unlock()
	ms.stragglers.Wait()
	for _, c := range conns {
		c.retire()
	}
}

// roundResult is what one round of checks found.
type roundResult struct {
	states    []MemberState
	haveList  bool // this round's member list succeeded
	knownList bool // a member list is known (this round's or an earlier one)
	listErr   error
	clusterID uint64
}

// check runs one round: the member list, then every member at once.
func (ms *memberSet) check(ctx context.Context) roundResult {
	var res roundResult
	list, err := ms.memberList(ctx)
	res.haveList, res.listErr = err == nil, err

	ms.mu.Lock()
	if res.haveList {
		ms.members = list.Members
		if list.Header != nil {
			ms.clusterID = list.Header.ClusterId
		}
	}
	res.knownList = ms.members != nil
	targets := ms.targetsLocked()
	ms.reconcileLocked(targets)
	ms.mu.Unlock()
	res.states, res.clusterID = ms.checkAll(ctx, targets)
	return res
}

// checkAll checks the targets at once. The checks share nothing: what they
// learn about the cluster (its ID, for a first round without a member
// list) is taken from their results afterwards, by this goroutine alone.
func (ms *memberSet) checkAll(ctx context.Context, targets []target) ([]MemberState, uint64) {
	ms.mu.Lock()
	conns := make([]*memberConn, len(targets))
	for i, t := range targets {
		conns[i] = ms.acquireLocked(t.endpoint)
	}
	ms.mu.Unlock()

	states := make([]MemberState, len(targets))
	sts := make([]*pb.StatusResponse, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			states[i], sts[i] = ms.checkMember(ctx, t, conns[i])
		}()
	}
	wg.Wait()
	for _, c := range conns {
		if c != nil {
			c.release()
		}
	}

	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.clusterID == 0 {
		for _, st := range sts {
			if st != nil && st.Header != nil && st.Header.ClusterId != 0 {
				ms.clusterID = st.Header.ClusterId
				break
			}
		}
	}
	for _, s := range states {
		if s.ID != 0 {
			ms.wasUp[s.ID] = s.Up
		}
	}
	assignAlarms(states)
	return states, ms.clusterID
}

// target is a member to check: from the member list, or a configured
// endpoint while no member list has ever been obtained.
type target struct {
	member   *pb.Member
	endpoint string
	wasUp    bool
}

func (ms *memberSet) targetsLocked() []target {
	if ms.members == nil {
		ts := make([]target, 0, len(ms.conn.Endpoints))
		for _, ep := range ms.conn.Endpoints {
			ts = append(ts, target{endpoint: ep})
		}
		return ts
	}
	ts := make([]target, 0, len(ms.members))
	matched := map[string]bool{}
	for _, m := range ms.members {
		ep := ms.endpointFor(m)
		matched[ep] = true
		ts = append(ts, target{member: m, endpoint: ep, wasUp: ms.wasUp[m.ID]})
	}
	for _, ep := range ms.conn.Endpoints {
		if !matched[ep] && !ms.unmatchedWarned[ep] {
			ms.unmatchedWarned[ep] = true
			ms.logger.Info("configured endpoint is no member's advertised client URL; members are checked through their advertised URLs, this endpoint only serves the member list", "endpoint", ep)
		}
	}
	return ts
}

// reconcileLocked retires the connections no target and no configured
// endpoint needs any more.
func (ms *memberSet) reconcileLocked(targets []target) {
	want := map[string]bool{}
	for _, ep := range ms.conn.Endpoints {
		want[ep] = true
	}
	for _, t := range targets {
		want[t.endpoint] = true
	}
	for ep, c := range ms.conns {
		if !want[ep] {
			c.retire()
			delete(ms.conns, ep)
		}
	}
	ids := map[uint64]bool{}
	for _, t := range targets {
		if t.member != nil {
			ids[t.member.ID] = true
		}
	}
	for id := range ms.wasUp {
		if !ids[id] {
			delete(ms.wasUp, id)
		}
	}
}

// endpointFor picks the URL a member is checked through: a configured
// endpoint that is one of its advertised client URLs, else the first
// advertised one. Unstarted members have none.
func (ms *memberSet) endpointFor(m *pb.Member) string {
	for _, u := range m.ClientURLs {
		for _, configured := range ms.conn.Endpoints {
			if sameHostPort(u, configured) {
				return configured
			}
		}
	}
	if len(m.ClientURLs) > 0 {
		ep, err := etcdconn.NormalizeEndpoint(m.ClientURLs[0], ms.conn.TLS() != nil)
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

// memberList asks the member that answered last time first; if it fails,
// all other known endpoints at once, taking the first answer. Each call
// holds its connection until it ends, even one still running after the
// first answer came.
func (ms *memberSet) memberList(ctx context.Context) (*pb.MemberListResponse, error) {
	ask := func(ctx context.Context, ep string) (*pb.MemberListResponse, error) {
		c := ms.acquire(ep)
		if c == nil {
			return nil, errConnRetired
		}
		defer c.release()
		rctx, cancel := context.WithTimeout(ctx, ms.conn.RequestTimeout)
		defer cancel()
		return c.memberList(rctx)
	}
	ms.mu.Lock()
	from := ms.listFrom
	eps := ms.knownEndpointsLocked()
	ms.mu.Unlock()
	if from != "" {
		if resp, err := ask(ctx, from); err == nil {
			return resp, nil
		}
		eps = slices.DeleteFunc(eps, func(e string) bool { return e == from })
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
		ms.stragglers.Add(1)
		go func() {
			defer ms.stragglers.Done()
			resp, err := ask(lctx, ep)
			results <- result{ep, resp, err}
		}()
	}
	var errs []error
	for range eps {
		r := <-results
		if r.err == nil {
			ms.mu.Lock()
			ms.listFrom = r.ep
			ms.mu.Unlock()
			return r.resp, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", r.ep, r.err))
	}
	return nil, errors.Join(errs...)
}

func (ms *memberSet) knownEndpointsLocked() []string {
	seen := map[string]bool{}
	var eps []string
	add := func(ep string) {
		if ep != "" && !seen[ep] {
			seen[ep] = true
			eps = append(eps, ep)
		}
	}
	for _, ep := range ms.conn.Endpoints {
		add(ep)
	}
	for _, m := range ms.members {
		if !m.IsLearner {
			add(ms.endpointFor(m))
		}
	}
	return eps
}

// checkMember asks one member for its Status and serves it a read, both at
// once and each under the request timeout. It touches no shared state.
func (ms *memberSet) checkMember(ctx context.Context, t target, conn *memberConn) (MemberState, *pb.StatusResponse) {
	m := MemberState{Endpoint: t.endpoint}
	if pm := t.member; pm != nil {
		m.ID, m.Name, m.Learner = pm.ID, pm.Name, pm.IsLearner
		m.PeerURLs, m.ClientURLs = pm.PeerURLs, pm.ClientURLs
		m.Unstarted = pm.Name == "" && len(pm.ClientURLs) == 0
	}
	if m.Unstarted {
		m.Err = "member has not started (added, never joined)"
		return m, nil
	}
	if t.endpoint == "" {
		m.Err = "member advertises no usable client URL"
		return m, nil
	}
	if conn == nil {
		m.Err = errConnRetired.Error()
		return m, nil
	}
	rctx, cancel := context.WithTimeout(ctx, ms.conn.RequestTimeout)
	defer cancel()

	var st *pb.StatusResponse
	var stErr, readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); readErr = conn.read(rctx, m.Learner) }()
	st, stErr = conn.status(rctx) // in this goroutine: one fewer to start per member and round
	wg.Wait()

	if stErr == nil {
		m.Up = true
		if t.member == nil && st.Header != nil {
			m.ID = st.Header.MemberId
		}
		if t.member != nil && st.Header != nil && st.Header.MemberId != m.ID {
			// The URL answers for another member (a VIP or a stale
			// advertisement): its Status says nothing about this one.
			m.Up = false
			stErr = fmt.Errorf("endpoint answers as member %s", IDHex(st.Header.MemberId))
			st = nil
		} else {
			ms.fillStatus(&m, st)
			if m.DBQuota == 0 {
				m.DBQuota = conn.quotaFromMetrics(rctx, !t.wasUp)
			}
			if m.DBQuota == 0 {
				m.DBQuota = ms.quota
			}
		}
	}
	// A member that restarted is seen as soon as it serves, at one
	// connection attempt per round; a broken connection is replaced.
	conn.recover(stErr)
	m.Healthy = m.Up && servedRead(readErr)
	m.readTimedOut = status.Code(errors.Unwrap(readErr)) == codes.DeadlineExceeded || errors.Is(readErr, context.DeadlineExceeded)
	switch {
	case stErr != nil:
		m.Err = stErr.Error()
		m.Contact = contactError(stErr)
		if m.Contact == "" {
			m.Contact = contactError(readErr)
		}
	case readErr != nil && !m.Healthy:
		m.Err = readErr.Error()
	}
	return m, st
}

// servedRead: a permission error or an alarm still means the member
// answered through raft; alarms have their own metric.
func servedRead(err error) bool {
	if err == nil {
		return true
	}
	s, ok := status.FromError(errors.Unwrap(err))
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.PermissionDenied:
		return true
	case codes.DataLoss: // "etcdserver: corrupt cluster": the CORRUPT alarm
		return true
	}
	return false
}

func (ms *memberSet) fillStatus(m *MemberState, st *pb.StatusResponse) {
	m.Version = st.Version
	m.DBSize = st.DbSize
	m.DBSizeInUse = st.DbSizeInUse
	m.DBQuota = st.DbSizeQuota
	m.RaftTerm = st.RaftTerm
	m.RaftIndex = st.RaftIndex
	m.RaftAppliedIndex = st.RaftAppliedIndex
	m.Leader = st.Leader
	m.statusErrors = st.Errors
	m.Learner = m.Learner || st.IsLearner
	if st.Header != nil {
		m.Revision = st.Header.Revision
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
