package faultschedule

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// Environment knobs. FAULT_SEED replays a schedule (the seed is printed at
// the start of every run); FAULT_STEPS sets its length; FAULT_SOAK runs
// steps for that long instead (`make soak`) and samples goroutines, RSS
// and open files; FAULT_REPORT appends the per-fault figures to a file.
const (
	envSeed   = "FAULT_SEED"
	envSteps  = "FAULT_STEPS"
	envSoak   = "FAULT_SOAK"
	envReport = "FAULT_REPORT"
)

// Timing of the monitor under test and the bounds it is held to.
const (
	interval      = 500 * time.Millisecond
	reqTimeout    = time.Second
	probeInterval = 500 * time.Millisecond
	electionGrace = 3 * time.Second
	// converge bounds how long the snapshot may take to show the truth
	// after a fault or a repair: a few check rounds, the request timeout
	// of a hung member, an election (fast raft timing: 500 ms) and the
	// election grace for a quorum loss.
	converge = 15 * time.Second
	// settle is how long a member (or the cluster) must have been left
	// alone before the oracle calls it current and healthy: a round in
	// flight when the fault was repaired may still carry its effects.
	settle = 4 * time.Second
)

// The fault kinds.
const (
	kKill        = "kill"
	kPause       = "pause"
	kClientBH    = "client-blackhole"
	kClientDelay = "client-delay"
	kPeerBH      = "peer-blackhole"
	kPeerDelay   = "peer-delay"
	kReplace     = "remove-add"
	kNoSpace     = "nospace"
	kAuth        = "auth-on"
	kQuorumLoss  = "quorum-loss"
)

// truth is what the test knows about each member.
type memberTruth struct {
	running  bool // process/server up (not killed, not paused)
	reach    bool // client traffic reaches it
	peers    bool // raft traffic reaches it
	calmFrom time.Time
}

type oracle struct {
	t *testing.T

	mu        sync.Mutex
	members   map[string]*memberTruth
	disturbed time.Time // last event that may move the leader or cost a write
	acting    bool      // a disruptive action is under way (it may take a while)
	nospace   bool
	falses    map[string][]string // by fault kind in force
	current   string              // fault kind in force
	lastFail  map[string]float64
}

func (o *oracle) set(name string, f func(m *memberTruth), disturbs bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.members[name]
	if m == nil {
		m = &memberTruth{running: true, reach: true, peers: true}
		o.members[name] = m
	}
	f(m)
	now := time.Now()
	m.calmFrom = now
	if disturbs {
		o.disturbed = now
	}
}

// act runs a disruptive action; the cluster counts as disturbed from its
// start until settle after its end.
func (o *oracle) act(f func()) {
	o.mu.Lock()
	o.acting, o.disturbed = true, time.Now()
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.acting, o.disturbed = false, time.Now()
		o.mu.Unlock()
	}()
	f()
}

func (o *oracle) healthyNow(m *memberTruth) bool { return m.running && m.reach && m.peers }

// check holds one snapshot to the truth: it must never report what is
// false. Only statements about members and clusters left alone for settle
// before the round started are checked.
func (o *oracle) check(s *collector.Snapshot, failures map[string]float64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	roundStart := s.Time.Add(-s.Duration)
	calm := func(m *memberTruth) bool { return o.healthyNow(m) && roundStart.Sub(m.calmFrom) > settle }
	report := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		o.falses[o.current] = append(o.falses[o.current], msg)
		o.t.Errorf("FALSE REPORT during %s: %s\n%s", o.current, msg, describe(s))
	}
	if s.SplitBrain {
		report("split brain")
	}
	calmVoting := 0
	for _, m := range o.members {
		if calm(m) {
			calmVoting++
		}
	}
	quorum := len(o.members)/2 + 1
	clusterCalm := !o.acting && roundStart.Sub(o.disturbed) > settle
	if calmVoting >= quorum && clusterCalm && s.Quorum == collector.QuorumLost {
		report("quorum lost while %d of %d members are up and a leader exists", calmVoting, len(o.members))
	}
	if s.HasQuorum && s.HealthyVoting < s.QuorumSize {
		report("has_quorum with %d healthy of quorum %d", s.HealthyVoting, s.QuorumSize)
	}
	for _, ms := range s.Members {
		m := o.members[ms.Name]
		if m == nil || !calm(m) {
			continue
		}
		if ms.Partitioned && clusterCalm {
			report("%s partitioned while reachable and current", ms.Name)
		}
		if !ms.Up && clusterCalm {
			report("%s not up while running and reachable: %s", ms.Name, ms.Err)
		}
	}
	// Probe failures charged to a member left alone, in a cluster that
	// had its leader and its quorum all along.
	for name, v := range failures {
		prev, seen := o.lastFail[name]
		o.lastFail[name] = v
		m := o.members[name]
		if !seen || m == nil || v <= prev || !calm(m) || !clusterCalm || calmVoting < quorum {
			continue
		}
		report("%v probe failures charged to healthy member %s", v-prev, name)
	}
}

func describe(s *collector.Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  members=%d healthy=%d quorum=%s leader=%v(%x) split=%v\n", s.VotingMembers, s.HealthyVoting, s.Quorum, s.HasLeader, s.LeaderID, s.SplitBrain)
	for _, m := range s.Members {
		fmt.Fprintf(&b, "    %s %s healthy=%v leader=%x term=%d part=%v alarms=%v err=%s\n", m.Label(), m.State(), m.Healthy, m.Leader, m.RaftTerm, m.Partitioned, m.Alarms, m.Err)
	}
	return b.String()
}

// probeFailures sums the probe failures per member, leaving out reasons
// the cluster as a whole causes (NOSPACE refuses every write).
func probeFailures(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "etcd_monitor_probe_failures_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var member, reason string
			for _, lp := range m.GetLabel() {
				switch lp.GetName() {
				case "member":
					member = lp.GetValue()
				case "reason":
					reason = lp.GetValue()
				}
			}
			if reason == "no_space" {
				continue
			}
			out[member] += m.GetCounter().GetValue()
		}
	}
	return out
}

type run struct {
	t      *testing.T
	b      testetcd.Backend
	rng    *rand.Rand
	c      *localetcd.Cluster
	ch     *collector.Checker
	reg    *prometheus.Registry
	o      *oracle
	ctx    context.Context
	detect map[string][]time.Duration
	auth   bool
}

// TestFaultSchedule runs a short schedule on each backend (in-process etcd
// of go.mod's release, and etcd processes of ETCD_BIN where SIGSTOP applies).
func TestFaultSchedule(t *testing.T) {
	if os.Getenv(envSoak) != "" {
		t.Skip("FAULT_SOAK set: TestFaultSoak runs instead")
	}
	steps := 10
	if v, err := strconv.Atoi(os.Getenv(envSteps)); err == nil && v > 0 {
		steps = v
	}
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		r := start(t, b)
		for i := 0; i < steps; i++ {
			r.step(i)
		}
		r.summary()
	})
}

// TestFaultSoak runs steps for FAULT_SOAK (e.g. 60m) on etcd processes
// (the monitor alone in this process, so its goroutines, memory and files
// are what is measured) and fails when they grow.
func TestFaultSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv(envSoak))
	if err != nil || d <= 0 {
		t.Skip("set FAULT_SOAK=60m (and ETCD_BIN) for the long run: make soak")
	}
	bs := testetcd.Backends(t)
	r := start(t, bs[len(bs)-1])
	var samples []resources
	end := time.Now().Add(d)
	next := time.Now()
	for i := 0; time.Now().Before(end); i++ {
		r.step(i)
		if time.Now().After(next) {
			runtime.GC()
			rs := sample()
			samples = append(samples, rs)
			t.Logf("after %d steps: %s", i+1, rs)
			next = time.Now().Add(d / 12)
		}
	}
	r.summary()
	runtime.GC()
	last := sample()
	samples = append(samples, last)
	t.Logf("resources: %v", samples)
	// The first sample is taken after one step, with every connection made.
	first := samples[0]
	if last.goroutines > first.goroutines*3/2+20 {
		t.Errorf("goroutines grew from %d to %d", first.goroutines, last.goroutines)
	}
	if last.fds > first.fds*3/2+10 {
		t.Errorf("open files grew from %d to %d", first.fds, last.fds)
	}
	if last.rssKiB > first.rssKiB*2+20<<10 {
		t.Errorf("RSS grew from %d KiB to %d KiB", first.rssKiB, last.rssKiB)
	}
}

type resources struct {
	goroutines, fds int
	rssKiB          int64
}

func (r resources) String() string {
	return fmt.Sprintf("goroutines=%d fds=%d rss=%dKiB", r.goroutines, r.fds, r.rssKiB)
}

func sample() resources {
	r := resources{goroutines: runtime.NumGoroutine()}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		r.fds = len(ents)
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				r.rssKiB, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return r
}

func start(t *testing.T, b testetcd.Backend) *run {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envSeed); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", envSeed, v, err)
		}
	}
	t.Logf("fault schedule on %s: %s=%d replays it", b.Name, envSeed, seed)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := testetcd.StartWithin(t, 2*time.Minute, localetcd.Options{Members: 5, Binary: b.Binary, FastElections: true})
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("root-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Credentials from the start: auth is off until the auth-on fault,
	// and the monitor must follow when it is turned on.
	conn := &etcdconn.Config{Endpoints: c.Endpoints()[:3], RequestTimeout: reqTimeout, DialTimeout: time.Second, Username: "root", PasswordFile: pw}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	pm := collector.NewProbeMetrics()
	logger := slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ch := collector.NewChecker(collector.ClusterConfig{
		Name: "faults", Conn: conn, HealthCheckInterval: interval, ElectionGrace: electionGrace,
		Probe: collector.ProbeConfig{Interval: probeInterval, Write: true},
	}, logger, collector.WithProbeMetrics(pm))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(pm)
	o := &oracle{t: t, members: map[string]*memberTruth{}, falses: map[string][]string{}, lastFail: map[string]float64{}, current: "start"}
	for _, m := range c.Members() {
		o.set(m.Name, func(*memberTruth) {}, true)
	}
	r := &run{t: t, b: b, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), c: c, ch: ch, reg: reg, o: o, ctx: ctx, detect: map[string][]time.Duration{}}
	ch.Start()
	// The oracle looks at every snapshot, from a goroutine of its own.
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var seen *collector.Snapshot
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if s := ch.Snapshot(); s != nil && s != seen {
				seen = s
				o.check(s, probeFailures(t, reg))
			}
		}
	}()
	t.Cleanup(func() { close(done); wg.Wait(); ch.Close() })
	r.waitAll("the cluster healthy at start")
	return r
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// wait polls snapshots until cond holds, within converge of start (when
// the fault or repair began); it returns how long that took.
func (r *run) waitSince(start time.Time, what string, cond func(s *collector.Snapshot) bool) time.Duration {
	r.t.Helper()
	var last *collector.Snapshot
	for time.Since(start) < converge {
		if s := r.ch.Snapshot(); s != nil {
			last = s
			if cond(s) {
				return time.Since(start)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if last != nil {
		r.t.Fatalf("after %s: %s did not show; last snapshot:\n%s", converge, what, describe(last))
	}
	r.t.Fatalf("after %s: no snapshot", converge)
	return 0
}

func member(s *collector.Snapshot, name string) *collector.MemberState {
	for i := range s.Members {
		if s.Members[i].Name == name {
			return &s.Members[i]
		}
	}
	return nil
}

// waitAll waits for every member of the cluster healthy, a leader and no
// alarm; the cluster itself is asked first, so the wait measures the
// monitor only.
func (r *run) waitAll(what string) time.Duration {
	r.t.Helper()
	start := time.Now()
	if err := r.c.WaitHealthy(r.ctx); err != nil {
		r.t.Fatalf("%s: %v", what, err)
	}
	n := len(r.c.Members())
	return r.waitSince(start, what, func(s *collector.Snapshot) bool {
		return s.HealthyVoting == n && s.VotingMembers == n && s.Quorum == collector.QuorumOK && s.HasLeader && len(s.Alarms()) == 0
	})
}

func (r *run) leader() *localetcd.Member {
	r.t.Helper()
	for i := 0; i < 50; i++ {
		if l, err := r.c.Leader(r.ctx); err == nil {
			return l
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatal("the cluster names no leader")
	return nil
}

func (r *run) record(kind string, d time.Duration) {
	r.detect[kind] = append(r.detect[kind], d)
}

// step applies one fault to the leader or a follower, waits for the
// monitor to show it, repairs it, and waits for the monitor to show the
// cluster whole again.
func (r *run) step(i int) {
	t := r.t
	kinds := []string{kKill, kClientBH, kClientDelay, kPeerBH, kPeerDelay, kReplace, kNoSpace, kQuorumLoss}
	if r.c.Member(0).IsProcess() {
		kinds = append(kinds, kPause, kPause)
	}
	if !r.auth {
		kinds = append(kinds, kAuth)
	}
	kind := kinds[r.rng.IntN(len(kinds))]
	leader := r.leader()
	victim := leader
	if r.rng.IntN(2) == 0 {
		ms := slices.DeleteFunc(r.c.Members(), func(m *localetcd.Member) bool { return m == leader })
		victim = ms[r.rng.IntN(len(ms))]
	}
	role := "follower"
	if victim == leader {
		role = "leader"
	}
	t.Logf("step %d: %s on %s (%s)", i, kind, victim.Name, role)
	r.o.mu.Lock()
	r.o.current = kind
	r.o.mu.Unlock()
	name := victim.Name
	t0 := time.Now()
	wait := func(what string, cond func(s *collector.Snapshot) bool) time.Duration {
		t.Helper()
		return r.waitSince(t0, what, cond)
	}
	down := func(s *collector.Snapshot) bool {
		m := member(s, name)
		return m != nil && !m.Up && s.HasLeader && s.LeaderID != victim.ID() && s.Quorum == collector.QuorumOK
	}
	isLeader := victim == leader
	switch kind {
	case kKill:
		r.o.set(name, func(m *memberTruth) { m.running = false }, isLeader)
		r.o.act(func() { must(t, victim.Kill()) })
		r.record(kind, wait(name+" down", down))
		// Running again once it serves: a restarted member opens its
		// listener before it has rejoined, and is down until then.
		r.o.act(func() { must(t, victim.Restart()); must(t, r.c.WaitHealthy(r.ctx)) })
		r.o.set(name, func(m *memberTruth) { m.running = true }, isLeader)
	case kPause:
		r.o.set(name, func(m *memberTruth) { m.running = false }, isLeader)
		must(t, victim.Pause())
		t0 = time.Now()
		r.record(kind, wait(name+" down", down))
		r.o.act(func() { must(t, victim.Resume()); must(t, r.c.WaitHealthy(r.ctx)) })
		r.o.set(name, func(m *memberTruth) { m.running = true }, isLeader)
	case kClientBH:
		r.o.set(name, func(m *memberTruth) { m.reach = false }, false)
		victim.BlackholeClient()
		r.record(kind, wait(name+" unreachable", func(s *collector.Snapshot) bool {
			m := member(s, name)
			return m != nil && !m.Up && s.Quorum == collector.QuorumOK
		}))
		victim.UnblackholeClient()
		r.o.set(name, func(m *memberTruth) { m.reach = true }, false)
	case kClientDelay:
		// Slower than a probe may take, faster than a check may: the
		// member is up and serves, its probes time out.
		r.o.set(name, func(m *memberTruth) { m.reach = false }, false)
		before := probeFailures(t, r.reg)[name]
		victim.DelayClient(probeInterval)
		r.record(kind, wait(name+"'s probes failing, the member up", func(s *collector.Snapshot) bool {
			m := member(s, name)
			return m != nil && m.Up && probeFailures(t, r.reg)[name] > before
		}))
		victim.DelayClient(0)
		r.o.set(name, func(m *memberTruth) { m.reach = true }, false)
	case kPeerBH:
		r.o.set(name, func(m *memberTruth) { m.peers = false }, true)
		r.o.act(victim.BlackholePeer)
		r.record(kind, wait(name+" cut off, a leader elsewhere", func(s *collector.Snapshot) bool {
			m := member(s, name)
			return m != nil && !m.Healthy && s.HasLeader && s.LeaderID != victim.ID() && s.Quorum == collector.QuorumOK
		}))
		r.o.act(victim.UnblackholePeer)
		r.o.set(name, func(m *memberTruth) { m.peers = true }, true)
	case kPeerDelay:
		// A slow network that raft copes with: nothing must be reported.
		r.o.set(name, func(*memberTruth) {}, false)
		victim.DelayPeer(20 * time.Millisecond)
		time.Sleep(3 * time.Second)
		victim.DelayPeer(0)
	case kReplace:
		r.o.set(name, func(m *memberTruth) { m.running = false }, true)
		r.o.act(func() { must(t, r.c.RemoveMember(r.ctx, victim)) })
		t0 = time.Now()
		r.o.mu.Lock()
		delete(r.o.members, name)
		r.o.disturbed = time.Now() // the removal itself may have waited
		r.o.mu.Unlock()
		r.record(kind, wait(name+" gone from the member list", func(s *collector.Snapshot) bool {
			return member(s, name) == nil && s.VotingMembers == 4 && s.Quorum == collector.QuorumOK
		}))
		// The new member counts as up once it serves: joining takes a
		// while (a snapshot from the leader), and until then it is down.
		var nm *localetcd.Member
		r.o.act(func() {
			var err error
			nm, err = r.c.AddMember(r.ctx)
			must(t, err)
			must(t, r.c.WaitHealthy(r.ctx))
		})
		r.o.set(nm.Name, func(*memberTruth) {}, true)
	case kNoSpace:
		t0 = time.Now()
		cli, err := r.c.Client()
		must(t, err)
		defer cli.Close()
		mc := pb.NewMaintenanceClient(cli.ActiveConnection())
		r.o.set(name, func(*memberTruth) {}, false)
		_, err = mc.Alarm(r.ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: victim.ID(), Alarm: pb.AlarmType_NOSPACE})
		must(t, err)
		r.record(kind, wait("NOSPACE on "+name, func(s *collector.Snapshot) bool {
			m := member(s, name)
			return m != nil && slices.Contains(m.Alarms, "NOSPACE") && s.Quorum == collector.QuorumOK
		}))
		_, err = mc.Alarm(r.ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: victim.ID(), Alarm: pb.AlarmType_NOSPACE})
		must(t, err)
	case kAuth:
		r.o.set(name, func(*memberTruth) {}, true)
		r.o.act(func() { must(t, r.c.EnableAuth(r.ctx, "root-pw")) })
		r.o.set(name, func(*memberTruth) {}, true)
		r.auth = true
		// Auth on is no fault: the monitor, with credentials, must
		// stay whole (its tokens are fetched when first refused).
	case kQuorumLoss:
		// Three of five stopped, the victim among them: no quorum.
		others := slices.DeleteFunc(r.c.Members(), func(m *localetcd.Member) bool { return m == victim })
		stopped := append([]*localetcd.Member{victim}, others[:2]...)
		for i, m := range stopped {
			r.o.set(m.Name, func(m *memberTruth) { m.running = false }, true)
			if i == len(stopped)-1 {
				t0 = time.Now() // this one takes the quorum away
			}
			r.o.act(func() { must(t, m.Kill()) })
		}
		r.record(kind, wait("quorum lost", func(s *collector.Snapshot) bool { return s.Quorum == collector.QuorumLost && !s.HasQuorum }))
		r.o.act(func() {
			for _, m := range stopped {
				must(t, m.Restart())
			}
			must(t, r.c.WaitHealthy(r.ctx))
		})
		for _, m := range stopped {
			r.o.set(m.Name, func(m *memberTruth) { m.running = true }, true)
		}
	}
	// A repair disturbs as much as the fault did (a member rejoining, a
	// cut-off member's higher term).
	r.o.mu.Lock()
	r.o.disturbed = time.Now()
	r.o.mu.Unlock()
	r.record("repair of "+kind, r.waitAll("the cluster whole after "+kind))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// summary prints detection times per fault kind and the false reports;
// with FAULT_REPORT set, it appends them to that file as a Markdown table.
func (r *run) summary() {
	var kinds []string
	for k := range r.detect {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	fmt.Fprintf(&b, "| backend | fault | count | detection median | detection max | false reports |\n|---|---|---|---|---|---|\n")
	r.o.mu.Lock()
	for _, k := range kinds {
		ds := append([]time.Duration(nil), r.detect[k]...)
		slices.Sort(ds)
		fk := strings.TrimPrefix(k, "repair of ")
		falses := 0
		if !strings.HasPrefix(k, "repair of ") {
			falses = len(r.o.falses[fk])
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %d |\n", r.b.Name, k, len(ds), ds[(len(ds)-1)/2].Round(10*time.Millisecond), ds[len(ds)-1].Round(10*time.Millisecond), falses)
	}
	total := 0
	for _, f := range r.o.falses {
		total += len(f)
	}
	r.o.mu.Unlock()
	fmt.Fprintf(&b, "false reports in all: %d\n", total)
	r.t.Logf("fault schedule on %s:\n%s", r.b.Name, b.String())
	if f := os.Getenv(envReport); f != "" {
		fh, err := os.OpenFile(f, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			_, _ = fh.WriteString(b.String())
			fh.Close()
		}
	}
}
