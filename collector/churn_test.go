package collector

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/syncbuf"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// The tests of this file each reproduce one way the monitor said something
// false while a real cluster was in trouble (kills, pauses, restarts,
// membership changes, auth), and hold it to the truth.

// processBackend is Debian's etcd as processes, for faults that need an
// operating-system process (SIGSTOP); in CI it is mandatory.
func processBackend(t *testing.T) testetcd.Backend {
	t.Helper()
	bs := testetcd.Backends(t)
	if len(bs) < 2 {
		t.Skip("needs ETCD_BIN (an etcd binary run as processes) for SIGSTOP")
	}
	return bs[len(bs)-1]
}

func passwordFile(t *testing.T, pw string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(f, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func authConn(t *testing.T, c *localetcd.Cluster, user, pw string) *etcdconn.Config {
	t.Helper()
	conn := &etcdconn.Config{Endpoints: c.Endpoints(), RequestTimeout: testRequestTimeout, DialTimeout: testDialTimeout,
		Username: user, PasswordFile: passwordFile(t, pw)}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	return conn
}

func leaderMember(t *testing.T, c *localetcd.Cluster, s *Snapshot) *localetcd.Member {
	t.Helper()
	for _, m := range c.Members() {
		if m.ID() == s.LeaderID {
			return m
		}
	}
	t.Fatalf("no member has the leader's ID %x", s.LeaderID)
	return nil
}

// Point 1: with auth on, a restarted member's simple token is gone; the
// monitor must log in again and see the member healthy, probes included.
func TestAuthTokenRefreshAfterMemberRestart(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		c := startCluster(t, b, localetcd.Options{Members: 3})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := c.EnableAuth(ctx, "root-pw"); err != nil {
			t.Fatal(err)
		}
		ch, _, reg := startProbing(t, authConn(t, c, "root", "root-pw"), testLogger(t), true)
		waitFor(t, ch, 15*time.Second, "healthy with auth", func(s *Snapshot) bool { return s.HealthyVoting == 3 })
		m := c.Member(1)
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ch, 10*time.Second, m.Name+" down", func(s *Snapshot) bool { st := member(s, m.Name); return st != nil && !st.Up })
		if err := m.Restart(); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitHealthy(ctx); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		waitFor(t, ch, 15*time.Second, m.Name+" healthy again after its restart", func(s *Snapshot) bool {
			st := member(s, m.Name)
			return st != nil && st.Up && st.Healthy
		})
		waitfor.Until(t, 15*time.Second, m.Name+"'s probes succeeding again", func() bool {
			v, _ := metricValue(t, reg, "etcd_monitor_probe_success", map[string]string{"member": m.Name})
			return v == 1
		})
		t.Logf("restarted member healthy and probed %s after it served again", time.Since(back).Round(time.Millisecond))
	})
}

// crash ends a member the way a crash looks from outside: SIGKILL for a
// process; for an in-process member its traffic is cut first, so that its
// graceful shutdown cannot hand leadership over.
func crash(t *testing.T, m *localetcd.Member) {
	t.Helper()
	if !m.IsProcess() {
		m.BlackholePeer()
		m.BlackholeClient()
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
}

// Point 2: an election with a quorum of members alive is not a quorum
// loss, and has_quorum never claims more than the healthy members prove.
func TestElectionIsNotQuorumLoss(t *testing.T) {
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		c := startCluster(t, b, localetcd.Options{Members: 3})
		ch := startChecker(t, c, "main")
		var falseLoss, overclaim []string
		elections := 0
		for i := 0; i < 3; i++ {
			s := waitFor(t, ch, 30*time.Second, "a healthy cluster", func(s *Snapshot) bool { return s.HealthyVoting == 3 && s.HasLeader })
			leader := leaderMember(t, c, s)
			crash(t, leader)
			// Two of three members are alive all along: at no time is
			// quorum lost. Watch every snapshot until a new leader serves.
			seen := s
			sawElection := false
			waitFor(t, ch, 15*time.Second, "a new leader", func(s *Snapshot) bool {
				if s != seen {
					seen = s
					if quorumLost(s) {
						falseLoss = append(falseLoss, describe(s))
					}
					if s.HasQuorum && s.HealthyVoting < s.QuorumSize {
						overclaim = append(overclaim, describe(s))
					}
					sawElection = sawElection || s.HealthyVoting < 2
				}
				return s.HasLeader && s.HealthyVoting == 2
			})
			if sawElection {
				elections++
			}
			if err := leader.Restart(); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%d of 3 crashes caught mid-election by a snapshot", elections)
		if len(falseLoss) > 0 {
			t.Errorf("quorum reported lost during an election with 2 of 3 members alive, %d times; first:\n%s", len(falseLoss), falseLoss[0])
		}
		if len(overclaim) > 0 {
			t.Errorf("has_quorum with fewer healthy members than quorum, %d times; first:\n%s", len(overclaim), overclaim[0])
		}
	})
}

// Point 3: a paused leader that is continued rejoins as a follower; while
// it serves linearizable reads it is current, not partitioned, and its
// stale claim to lead is no split brain.
func TestResumedLeaderIsNotPartitioned(t *testing.T) {
	b := processBackend(t)
	c := startCluster(t, b, localetcd.Options{Members: 3})
	ch := startChecker(t, c, "main")
	var falses []string
	for i := 0; i < 4; i++ {
		s := waitFor(t, ch, 20*time.Second, "a healthy cluster", func(s *Snapshot) bool { return s.HealthyVoting == 3 && s.HasLeader })
		leader := leaderMember(t, c, s)
		if err := leader.Pause(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ch, 15*time.Second, "a new leader", func(s *Snapshot) bool { return s.HasLeader && s.LeaderID != leader.ID() })
		if err := leader.Resume(); err != nil {
			t.Fatal(err)
		}
		seen := s
		deadline := time.Now().Add(4 * time.Second)
		for time.Now().Before(deadline) {
			if s := ch.Snapshot(); s != seen {
				seen = s
				if m := member(s, leader.Name); m != nil && m.Partitioned && m.Healthy {
					falses = append(falses, "partitioned while serving:\n"+describe(s))
				}
				if s.SplitBrain {
					falses = append(falses, "split brain:\n"+describe(s))
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(falses) > 0 {
		t.Errorf("a resumed leader gave %d false reports; first: %s", len(falses), falses[0])
	}
}

// countDials listens on the host:port of u and counts connections until
// the returned function is called.
func countDials(t *testing.T, u string) (stop func() int64) {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	var l net.Listener
	waitfor.Until(t, 10*time.Second, "the removed member's port free", func() bool {
		l, err = net.Listen("tcp", p.Host)
		return err == nil
	})
	var n atomic.Int64
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			conn.Close()
		}
	}()
	return func() int64 { l.Close(); return n.Load() }
}

// Point 4: once a member is removed (while another one hangs, which keeps
// check rounds long), nothing dials it any more, nor after Close.
func TestRemovedMemberIsNotDialed(t *testing.T) {
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 4})
	ch, _, _ := startProbing(t, connFor(t, c.Endpoints()[:3]), testLogger(t), true)
	waitFor(t, ch, 15*time.Second, "four healthy members", func(s *Snapshot) bool { return s.HealthyVoting == 4 })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c.Member(0).BlackholeClient()
	defer c.Member(0).UnblackholeClient()
	gone := c.Member(3)
	time.Sleep(2 * testInterval)
	if err := c.RemoveMember(ctx, gone); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, 15*time.Second, gone.Name+" out of the member list", func(s *Snapshot) bool { return member(s, gone.Name) == nil && len(s.Members) == 3 })
	time.Sleep(2 * testInterval) // rounds already under way may still end
	stop := countDials(t, gone.ClientURL)
	time.Sleep(5 * time.Second)
	if n := stop(); n > 0 {
		t.Errorf("%d connection attempts to the removed member's URL in 5s", n)
	}
	ch.Close()
	stop = countDials(t, gone.ClientURL)
	time.Sleep(4 * time.Second)
	if n := stop(); n > 0 {
		t.Errorf("%d connection attempts to the removed member's URL in 4s after Close", n)
	}
}

// Point 5: a lease grant that hangs must not make the put probes of
// healthy members time out. The grant is sent to a member that hangs on an
// established connection, as happens when it hangs right after answering a
// check.
func TestHungLeaseGrantDoesNotFailHealthyMembers(t *testing.T) {
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	// A probe timeout of 1 s: a put that takes that long on a loaded
	// machine is rare, a put that waits for a hung grant takes exactly
	// that long.
	pm := NewProbeMetrics()
	ch := NewChecker(ClusterConfig{
		Name: "main", Conn: connFor(t, c.Endpoints()), HealthCheckInterval: testInterval,
		Probe: ProbeConfig{Interval: time.Second, Timeout: time.Second, Write: true},
	}, testLogger(t), WithProbeMetrics(pm))
	ch.Start()
	defer ch.Close()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(pm)
	healthy := c.Members()[:2]
	waitfor.Until(t, 20*time.Second, "puts on every member", func() bool {
		for _, m := range c.Members() {
			if histCount(t, reg, m.Name, OpPut) < 2 {
				return false
			}
		}
		return true
	})
	hung := c.Member(2)
	hung.BlackholeClient()
	defer hung.UnblackholeClient()
	hangGrant(t, ch, hung.ClientURL)
	before := map[string]float64{}
	for _, m := range healthy {
		before[m.Name], _ = metricValue(t, reg, "etcd_monitor_probe_failures_total", map[string]string{"member": m.Name, "operation": OpPut, "reason": "timeout"})
	}
	time.Sleep(4 * time.Second)
	for _, m := range healthy {
		v, _ := metricValue(t, reg, "etcd_monitor_probe_failures_total", map[string]string{"member": m.Name, "operation": OpPut, "reason": "timeout"})
		if v > before[m.Name] {
			t.Errorf("%v put timeouts charged to healthy member %s while the lease grant hung", v-before[m.Name], m.Name)
		}
		if histCount(t, reg, m.Name, OpGet) == 0 {
			t.Errorf("%s not probed at all", m.Name)
		}
	}
}

// hangGrant makes the probe lease due and sends its next grant to the
// member at ep.
func hangGrant(t *testing.T, ch *Checker, ep string) {
	t.Helper()
	k := ch.probers.lease
	k.mu.Lock()
	k.pick = func() *memberConn { return ch.members.acquire(ep) }
	k.granted = time.Now().Add(-k.ttl) // due and unusable: the next get grants
	k.mu.Unlock()
}

// Point 6: a first round without a member list checks the configured
// endpoints in parallel; what they learn (the cluster ID) is gathered
// without a data race. Run with -race; etcd runs as processes here, since
// in-process servers' own locks would hide the race from the detector.
func TestChecksWithoutMemberListRace(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	b := processBackend(t)
	c := startCluster(t, b, localetcd.Options{Members: 3})
	ch := NewChecker(ClusterConfig{Name: "main", Conn: connFor(t, c.Endpoints()), HealthCheckInterval: testInterval}, testLogger(t))
	defer ch.Close()
	var ts []target
	for _, ep := range c.Endpoints() {
		ts = append(ts, target{endpoint: ep})
	}
	for i := 0; i < 5; i++ {
		states, id := ch.members.checkAll(context.Background(), ts)
		if id == 0 || len(states) != 3 || !anyUp(states) {
			t.Fatalf("cluster ID %x from %d states", id, len(states))
		}
	}
}

// Point 7a: a wrong password is not a dead member.
func TestWrongPasswordIsNotDown(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.EnableAuth(ctx, "root-pw"); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	ch := NewChecker(ClusterConfig{Name: "main", Conn: authConn(t, c, "root", "wrong"), HealthCheckInterval: testInterval}, slog.New(slog.NewTextHandler(&logs, nil)))
	ch.Start()
	defer ch.Close()
	s := waitFor(t, ch, 10*time.Second, "members refusing the credentials", func(s *Snapshot) bool { return len(s.Members) == 3 && !anyUp(s.Members) })
	checkUnreachable(t, s, &logs, "authentication failed", ContactAuthFailed)
}

// Point 7d: shutting the monitor down is not members going down.
func TestCloseLogsNoMemberDown(t *testing.T) {
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	var logs syncbuf.Buffer
	ch := NewChecker(ClusterConfig{Name: "main", Conn: connFor(t, c.Endpoints()), HealthCheckInterval: testInterval}, slog.New(slog.NewTextHandler(&logs, nil)))
	ch.Start()
	waitFor(t, ch, 10*time.Second, "healthy", func(s *Snapshot) bool { return s.HealthyVoting == 3 })
	// A hung member keeps a round in flight nearly all the time, so Close
	// cancels one.
	c.Member(2).BlackholeClient()
	defer c.Member(2).UnblackholeClient()
	waitFor(t, ch, 10*time.Second, "hung member down", func(s *Snapshot) bool { return s.HealthyVoting == 2 })
	before := strings.Count(logs.String(), "member is down")
	time.Sleep(testInterval + testRequestTimeout/2)
	ch.Close()
	if after := strings.Count(logs.String(), "member is down"); after != before {
		t.Errorf("Close logged members as down:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "context canceled") {
		t.Errorf("Close logged a canceled context:\n%s", logs.String())
	}
}

// Point 7c: etcd before 3.6 does not report its quota in Status; the
// monitor reads it from the member's own /metrics instead of assuming 2 GiB.
func TestQuotaFromMetricsOnOldEtcd(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	b := processBackend(t)
	const quota = 4 << 20
	c := startCluster(t, b, localetcd.Options{Members: 3, QuotaBackendBytes: quota})
	ch := startChecker(t, c, "main")
	s := waitFor(t, ch, 10*time.Second, "healthy", func(s *Snapshot) bool { return s.HealthyVoting == 3 })
	for _, m := range s.Members {
		if m.DBQuota != quota {
			t.Errorf("%s: quota %d, want the member's own %d", m.Name, m.DBQuota, quota)
		}
	}
}

func quorumLost(s *Snapshot) bool { return s.Quorum == QuorumLost }

func checkUnreachable(t *testing.T, s *Snapshot, logs *syncbuf.Buffer, reason, contact string) {
	t.Helper()
	if strings.Contains(logs.String(), "member is down") {
		t.Errorf("reported as down:\n%s", logs.String())
	}
	for _, m := range s.Members {
		if !strings.Contains(m.Err, reason) {
			t.Errorf("%s: err %q does not say %q", m.Label(), m.Err, reason)
		}
		if m.State() != "unreachable" || m.Contact != contact {
			t.Errorf("%s: state %q contact %q, want unreachable, %s", m.Label(), m.State(), m.Contact, contact)
		}
	}
}
