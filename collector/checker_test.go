package collector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

func TestHealthyCluster(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		c := startCluster(t, b, localetcd.Options{Members: 3})
		ch := startChecker(t, c, "main")
		s := waitFor(t, ch, 10*time.Second, "all three members healthy", func(s *Snapshot) bool {
			return s.HealthyVoting == 3 && s.HasLeader
		})
		leader, err := c.Leader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.LeaderID != leader.ID() {
			t.Errorf("leader: monitor says %x, etcd says %s (%x)", s.LeaderID, leader.Name, leader.ID())
		}

		reg := registry(ch)
		want := `
# HELP etcd_monitor_cluster_failure_tolerance Healthy voting members minus quorum size, never below 0: how many more members may fail.
# TYPE etcd_monitor_cluster_failure_tolerance gauge
etcd_monitor_cluster_failure_tolerance{etcd_cluster="main"} 1
# HELP etcd_monitor_cluster_has_leader 1 if the reachable members agree on a leader.
# TYPE etcd_monitor_cluster_has_leader gauge
etcd_monitor_cluster_has_leader{etcd_cluster="main"} 1
# HELP etcd_monitor_cluster_has_quorum 1 if at least a quorum of voting members served a linearizable read in the last check.
# TYPE etcd_monitor_cluster_has_quorum gauge
etcd_monitor_cluster_has_quorum{etcd_cluster="main"} 1
# HELP etcd_monitor_cluster_learners Learners in the member list.
# TYPE etcd_monitor_cluster_learners gauge
etcd_monitor_cluster_learners{etcd_cluster="main"} 0
# HELP etcd_monitor_cluster_leader_changes_total Leader changes observed by the monitor.
# TYPE etcd_monitor_cluster_leader_changes_total counter
etcd_monitor_cluster_leader_changes_total{etcd_cluster="main"} 0
# HELP etcd_monitor_cluster_members Voting members in the member list (unstarted members count, and count as down).
# TYPE etcd_monitor_cluster_members gauge
etcd_monitor_cluster_members{etcd_cluster="main"} 3
# HELP etcd_monitor_cluster_members_healthy Voting members that served a linearizable read in the last check.
# TYPE etcd_monitor_cluster_members_healthy gauge
etcd_monitor_cluster_members_healthy{etcd_cluster="main"} 3
# HELP etcd_monitor_cluster_membership_changes_total Members added or removed since the monitor started.
# TYPE etcd_monitor_cluster_membership_changes_total counter
etcd_monitor_cluster_membership_changes_total{etcd_cluster="main"} 0
# HELP etcd_monitor_cluster_quorum_size Votes needed for quorum: floor(voting members/2)+1.
# TYPE etcd_monitor_cluster_quorum_size gauge
etcd_monitor_cluster_quorum_size{etcd_cluster="main"} 2
# HELP etcd_monitor_cluster_split_brain 1 if reachable members named different leaders in 2 or more consecutive checks.
# TYPE etcd_monitor_cluster_split_brain gauge
etcd_monitor_cluster_split_brain{etcd_cluster="main"} 0
# HELP etcd_monitor_check_success 1 if the last check obtained a member list and reached at least one member.
# TYPE etcd_monitor_check_success gauge
etcd_monitor_check_success{etcd_cluster="main"} 1
`
		names := []string{
			"etcd_monitor_cluster_failure_tolerance", "etcd_monitor_cluster_has_leader", "etcd_monitor_cluster_has_quorum",
			"etcd_monitor_cluster_learners", "etcd_monitor_cluster_leader_changes_total", "etcd_monitor_cluster_members",
			"etcd_monitor_cluster_members_healthy", "etcd_monitor_cluster_membership_changes_total",
			"etcd_monitor_cluster_quorum_size", "etcd_monitor_cluster_split_brain", "etcd_monitor_check_success",
		}
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
			t.Error(err)
		}

		// Per-member series: one leader, everybody up, healthy, voting,
		// not partitioned, no alarm.
		var up, healthy, part, learner, isLeader strings.Builder
		for _, m := range c.Members() {
			l := fmt.Sprintf(`{endpoint=%q,etcd_cluster="main",member=%q}`, m.ClientURL, m.Name)
			fmt.Fprintf(&up, "etcd_monitor_member_up%s 1\n", l)
			fmt.Fprintf(&healthy, "etcd_monitor_member_healthy%s 1\n", l)
			fmt.Fprintf(&part, "etcd_monitor_member_partitioned%s 0\n", l)
			fmt.Fprintf(&learner, "etcd_monitor_member_is_learner%s 0\n", l)
			v := 0
			if m == leader {
				v = 1
			}
			fmt.Fprintf(&isLeader, "etcd_monitor_member_is_leader%s %d\n", l, v)
		}
		memberWant := "# HELP etcd_monitor_member_up 1 if the member answered its Status call in the last check.\n# TYPE etcd_monitor_member_up gauge\n" + up.String() +
			"# HELP etcd_monitor_member_healthy 1 if a linearizable read through this member succeeded (serializable for learners; permission errors and alarms count as served).\n# TYPE etcd_monitor_member_healthy gauge\n" + healthy.String() +
			"# HELP etcd_monitor_member_partitioned 1 if the member is reachable but for 2+ checks had no leader, another term than the majority, or a raft index standing still while the leader's advanced.\n# TYPE etcd_monitor_member_partitioned gauge\n" + part.String() +
			"# HELP etcd_monitor_member_is_learner 1 if the member is a learner.\n# TYPE etcd_monitor_member_is_learner gauge\n" + learner.String() +
			"# HELP etcd_monitor_member_is_leader 1 if the member is the cluster's leader.\n# TYPE etcd_monitor_member_is_leader gauge\n" + isLeader.String()
		if err := testutil.GatherAndCompare(reg, strings.NewReader(memberWant),
			"etcd_monitor_member_up", "etcd_monitor_member_healthy", "etcd_monitor_member_partitioned",
			"etcd_monitor_member_is_learner", "etcd_monitor_member_is_leader", "etcd_monitor_member_alarm"); err != nil {
			t.Error(err)
		}

		// Values that move: present and plausible.
		for _, m := range c.Members() {
			lbl := map[string]string{"member": m.Name}
			for _, name := range []string{"etcd_monitor_member_db_size_bytes", "etcd_monitor_member_db_size_in_use_bytes",
				"etcd_monitor_member_raft_term", "etcd_monitor_member_raft_index", "etcd_monitor_member_raft_applied_index"} {
				if v, ok := metricValue(t, reg, name, lbl); !ok || v <= 0 {
					t.Errorf("%s{member=%q} = %v (present %v), want > 0", name, m.Name, v, ok)
				}
			}
			if v, _ := metricValue(t, reg, "etcd_monitor_member_db_quota_bytes", lbl); v != DefaultQuotaBackendBytes {
				t.Errorf("db quota of %s = %v, want etcd's default %d", m.Name, v, DefaultQuotaBackendBytes)
			}
			info := map[string]string{"member": m.Name, "member_id": m.IDHex(), "peer_urls": m.PeerURL}
			if _, ok := metricValue(t, reg, "etcd_monitor_member_info", info); !ok {
				t.Errorf("no member_info for %s with id %s", m.Name, m.IDHex())
			}
		}
		if v, ok := metricValue(t, reg, "etcd_monitor_cluster_info", map[string]string{"cluster_id": IDHex(s.ClusterID)}); !ok || v != 1 || s.ClusterID == 0 || s.Version == "" {
			t.Errorf("cluster_info: id %x version %q present %v", s.ClusterID, s.Version, ok)
		}
		if v, _ := metricValue(t, reg, "etcd_monitor_cluster_raft_term", nil); v < 1 {
			t.Errorf("cluster raft term %v", v)
		}
		if v, _ := metricValue(t, reg, "etcd_monitor_cluster_revision", nil); v < 1 {
			t.Errorf("cluster revision %v", v)
		}
		if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
			t.Errorf("lint: %v %+v", err, problems)
		}
	})
}

func TestStopLeader(t *testing.T) {
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		c := startCluster(t, b, localetcd.Options{Members: 3})
		ch := startChecker(t, c, "main")
		before := waitFor(t, ch, 10*time.Second, "a healthy cluster", func(s *Snapshot) bool { return s.HealthyVoting == 3 && s.HasLeader })
		old := before.LeaderID
		var leader *localetcd.Member
		for _, m := range c.Members() {
			if m.ID() == old {
				leader = m
			}
		}
		stopped := time.Now()
		if err := leader.Stop(); err != nil {
			t.Fatal(err)
		}
		// Within one check interval plus the dial timeout (and the
		// election itself, which the fast raft timing keeps under a second).
		limit := testInterval + testDialTimeout + time.Second
		s := waitFor(t, ch, limit, "new leader, old one down", func(s *Snapshot) bool {
			m := member(s, leader.Name)
			return s.HasLeader && s.LeaderID != old && m != nil && !m.Up && s.FailureTolerance == 0
		})
		t.Logf("seen after %s", time.Since(stopped).Round(time.Millisecond))
		if s.LeaderChanges != before.LeaderChanges+1 {
			t.Errorf("leader_changes_total went from %d to %d, want +1", before.LeaderChanges, s.LeaderChanges)
		}
		if n := len(s.LeaderHistory); n == 0 || s.LeaderHistory[n-1].From != old || s.LeaderHistory[n-1].To != s.LeaderID {
			t.Errorf("leader history %+v does not end with %x -> %x", s.LeaderHistory, old, s.LeaderID)
		}
		reg := registry(ch)
		if v, _ := metricValue(t, reg, "etcd_monitor_member_up", map[string]string{"member": leader.Name}); v != 0 {
			t.Errorf("member_up of stopped leader = %v", v)
		}
		if v, _ := metricValue(t, reg, "etcd_monitor_cluster_leader_changes_total", nil); v != float64(before.LeaderChanges+1) {
			t.Errorf("leader_changes_total = %v", v)
		}
		if v, ok := metricValue(t, reg, "etcd_monitor_cluster_last_leader_change_timestamp_seconds", nil); !ok || v < float64(stopped.Unix()-1) {
			t.Errorf("last_leader_change_timestamp_seconds = %v (present %v), stopped at %d", v, ok, stopped.Unix())
		}
		// Nothing else counts as a change once things settle.
		time.Sleep(3 * testInterval)
		if got := ch.Snapshot().LeaderChanges; got != s.LeaderChanges {
			t.Errorf("leader changes kept counting: %d then %d", s.LeaderChanges, got)
		}

		// Down for a while, then back: the monitor's connection must not
		// sit in a long reconnect backoff (gRPC's default grows to 120 s).
		time.Sleep(8 * time.Second)
		if err := leader.Restart(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.WaitHealthy(ctx); err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		waitFor(t, ch, testInterval+4*time.Second, leader.Name+" seen up again", func(s *Snapshot) bool {
			m := member(s, leader.Name)
			return m != nil && m.Up && m.Healthy
		})
		t.Logf("restarted member seen up %s after it served again", time.Since(back).Round(time.Millisecond))
	})
}

func TestQuorumLossAndRecovery(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		c := startCluster(t, b, localetcd.Options{Members: 3})
		ch := startChecker(t, c, "main")
		waitFor(t, ch, 10*time.Second, "a healthy cluster", func(s *Snapshot) bool { return s.HealthyVoting == 3 })
		m1, m2 := c.Member(0), c.Member(1)
		for _, m := range []*localetcd.Member{m1, m2} {
			if err := m.Stop(); err != nil {
				t.Fatal(err)
			}
		}
		s := waitFor(t, ch, 15*time.Second, "quorum and leader lost", func(s *Snapshot) bool { return !s.HasQuorum && !s.HasLeader })
		if s.VotingMembers != 3 || s.QuorumSize != 2 || s.FailureTolerance != 0 || s.HealthyVoting != 0 {
			t.Errorf("with two of three down: %s", describe(s))
		}
		reg := registry(ch)
		for name, want := range map[string]float64{"etcd_monitor_cluster_has_quorum": 0, "etcd_monitor_cluster_has_leader": 0} {
			if v, _ := metricValue(t, reg, name, nil); v != want {
				t.Errorf("%s = %v, want %v", name, v, want)
			}
		}
		// The member list is still known (serializable, from the survivor
		// or from the last good list), so members keep their names.
		for _, m := range []*localetcd.Member{m1, m2} {
			if st := member(s, m.Name); st == nil || st.Up {
				t.Errorf("stopped member %s: %+v", m.Name, st)
			}
		}
		for _, m := range []*localetcd.Member{m1, m2} {
			if err := m.Restart(); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, ch, 30*time.Second, "recovery without restarting the monitor", func(s *Snapshot) bool {
			return s.HasQuorum && s.HasLeader && s.HealthyVoting == 3 && s.FailureTolerance == 1
		})
	})
}

func TestPartitionedMember(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		c := startCluster(t, b, localetcd.Options{Members: 3})
		ch := startChecker(t, c, "main")
		s := waitFor(t, ch, 10*time.Second, "a healthy cluster", func(s *Snapshot) bool { return s.HealthyVoting == 3 && s.HasLeader })
		var victim *localetcd.Member
		for _, m := range c.Members() {
			if m.ID() != s.LeaderID {
				victim = m
				break
			}
		}
		victim.BlackholePeer()
		s = waitFor(t, ch, 15*time.Second, victim.Name+" partitioned", func(s *Snapshot) bool {
			m := member(s, victim.Name)
			return m != nil && m.Partitioned
		})
		if !s.HasQuorum || !s.HasLeader || s.SplitBrain {
			t.Errorf("the two others must keep quorum and a leader, without split brain: %s", describe(s))
		}
		for _, m := range s.Members {
			if m.Name != victim.Name && m.Partitioned {
				t.Errorf("%s marked partitioned too", m.Name)
			}
		}
		reg := registry(ch)
		if v, _ := metricValue(t, reg, "etcd_monitor_member_partitioned", map[string]string{"member": victim.Name}); v != 1 {
			t.Errorf("member_partitioned of %s = %v", victim.Name, v)
		}
		if v, _ := metricValue(t, reg, "etcd_monitor_cluster_split_brain", nil); v != 0 {
			t.Errorf("split_brain = %v", v)
		}
		victim.UnblackholePeer()
		waitFor(t, ch, 30*time.Second, victim.Name+" back", func(s *Snapshot) bool {
			m := member(s, victim.Name)
			return m != nil && !m.Partitioned && m.Healthy
		})
	})
}

func TestHungMemberDoesNotStallOthers(t *testing.T) {
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	ch := startChecker(t, c, "main")
	waitFor(t, ch, 10*time.Second, "a healthy cluster", func(s *Snapshot) bool { return s.HealthyVoting == 3 })
	hung := c.Member(2)
	hung.BlackholeClient()
	s := waitFor(t, ch, 10*time.Second, hung.Name+" down", func(s *Snapshot) bool {
		m := member(s, hung.Name)
		return m != nil && !m.Up
	})
	reg := registry(ch)
	healthy := c.Member(0).Name
	first, _ := metricValue(t, reg, "etcd_monitor_last_check_timestamp_seconds", map[string]string{"member": healthy})
	var slowest time.Duration
	deadline := time.Now().Add(4 * testRequestTimeout)
	for time.Now().Before(deadline) {
		start := time.Now()
		if _, err := reg.Gather(); err != nil {
			t.Fatal(err)
		}
		slowest = max(slowest, time.Since(start))
		time.Sleep(20 * time.Millisecond)
	}
	last, _ := metricValue(t, reg, "etcd_monitor_last_check_timestamp_seconds", map[string]string{"member": healthy})
	t.Logf("slowest scrape while %s hangs: %s; %s last checked %.1fs later than at the start", hung.Name, slowest, healthy, last-first)
	// A scrape only reads the snapshot: it must not wait for the request
	// timeout of the hung member.
	if slowest > testRequestTimeout/2 {
		t.Errorf("a scrape took %s while a member hangs", slowest)
	}
	if last-first < 2*testRequestTimeout.Seconds() {
		t.Errorf("healthy member's last check advanced only %.2fs in %s", last-first, 4*testRequestTimeout)
	}
	if hm, _ := metricValue(t, reg, "etcd_monitor_member_up", map[string]string{"member": hung.Name}); hm != 0 {
		t.Errorf("hung member up = %v", hm)
	}
	if !s.HasQuorum || s.HealthyVoting != 2 {
		t.Errorf("cluster with one hung member: %s", describe(s))
	}
	hung.UnblackholeClient()
	waitFor(t, ch, 20*time.Second, hung.Name+" back", func(s *Snapshot) bool { return s.HealthyVoting == 3 })
}

func TestAlarms(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		c := startCluster(t, b, localetcd.Options{Members: 3})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// One member with a tiny quota: it alone raises NOSPACE.
		small := c.Member(0)
		if err := small.RestartWithQuota(1 << 20); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitHealthy(ctx); err != nil {
			t.Fatal(err)
		}
		ch := startChecker(t, c, "main")
		cli, err := c.Client()
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		val := strings.Repeat("x", 64<<10)
		var putErr error
		for i := 0; i < 200 && putErr == nil; i++ {
			_, putErr = cli.Put(ctx, fmt.Sprintf("/fill/%d", i), val)
		}
		if putErr == nil || !strings.Contains(putErr.Error(), "database space exceeded") {
			t.Fatalf("filling the small member did not raise NOSPACE: %v", putErr)
		}
		s := waitFor(t, ch, 10*time.Second, "NOSPACE on "+small.Name, func(s *Snapshot) bool {
			m := member(s, small.Name)
			return m != nil && len(m.Alarms) == 1 && m.Alarms[0] == "NOSPACE"
		})
		if m := member(s, small.Name); !m.Healthy || !m.Up {
			t.Errorf("an alarm must not make the member unhealthy: %s", describe(s))
		}
		for _, m := range s.Members {
			if m.Name != small.Name && len(m.Alarms) > 0 {
				t.Errorf("alarm attributed to %s too: %v", m.Name, m.Alarms)
			}
		}
		reg := registry(ch)
		lbl := map[string]string{"member": small.Name, "alarm": "NOSPACE"}
		if v, ok := metricValue(t, reg, "etcd_monitor_member_alarm", lbl); !ok || v != 1 {
			t.Errorf("member_alarm{NOSPACE} = %v (present %v)", v, ok)
		}
		if v, _ := metricValue(t, reg, "etcd_monitor_member_healthy", map[string]string{"member": small.Name}); v != 1 {
			t.Errorf("member_healthy of the alarmed member = %v", v)
		}
		if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: small.ID(), Alarm: pb.AlarmType_NOSPACE}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, ch, 10*time.Second, "NOSPACE gone", func(s *Snapshot) bool { return len(s.Alarms()) == 0 })
		if _, ok := metricValue(t, reg, "etcd_monitor_member_alarm", nil); ok {
			t.Error("member_alarm still exposed after disarm")
		}

		// CORRUPT, raised the way etcd's corruption check does: an alarm
		// ACTIVATE request through the Maintenance API.
		victim := c.Member(1)
		mc := pb.NewMaintenanceClient(cli.ActiveConnection())
		if _, err := mc.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: victim.ID(), Alarm: pb.AlarmType_CORRUPT}); err != nil {
			t.Fatalf("activating CORRUPT: %v", err)
		}
		s = waitFor(t, ch, 10*time.Second, "CORRUPT on "+victim.Name, func(s *Snapshot) bool {
			m := member(s, victim.Name)
			return m != nil && len(m.Alarms) == 1 && m.Alarms[0] == "CORRUPT"
		})
		if v, ok := metricValue(t, reg, "etcd_monitor_member_alarm", map[string]string{"member": victim.Name, "alarm": "CORRUPT"}); !ok || v != 1 {
			t.Errorf("member_alarm{CORRUPT} = %v (present %v): %s", v, ok, describe(s))
		}
		if _, err := mc.Alarm(ctx, &pb.AlarmRequest{Action: pb.AlarmRequest_DEACTIVATE, MemberID: victim.ID(), Alarm: pb.AlarmType_CORRUPT}); err != nil {
			t.Fatalf("disarming CORRUPT: %v", err)
		}
		waitFor(t, ch, 10*time.Second, "CORRUPT gone", func(s *Snapshot) bool { return len(s.Alarms()) == 0 })
	})
}

func TestLearnerAndUnstartedMember(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		c := startCluster(t, b, localetcd.Options{Members: 3})
		ch := startChecker(t, c, "main")
		waitFor(t, ch, 10*time.Second, "a healthy cluster", func(s *Snapshot) bool { return s.HealthyVoting == 3 })
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		l, err := c.AddLearner(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s := waitFor(t, ch, 15*time.Second, "learner seen", func(s *Snapshot) bool {
			m := member(s, l.Name)
			return s.Learners == 1 && m != nil && m.Up && m.Healthy
		})
		if s.VotingMembers != 3 || s.QuorumSize != 2 || s.FailureTolerance != 1 || s.HealthyVoting != 3 {
			t.Errorf("a learner must not count in quorum: %s", describe(s))
		}
		if s.MembershipChanges != 1 {
			t.Errorf("membership changes = %d, want 1", s.MembershipChanges)
		}
		reg := registry(ch)
		if v, _ := metricValue(t, reg, "etcd_monitor_member_is_learner", map[string]string{"member": l.Name}); v != 1 {
			t.Errorf("is_learner = %v", v)
		}
		if v, _ := metricValue(t, reg, "etcd_monitor_member_up", map[string]string{"member": l.Name}); v != 1 {
			t.Errorf("learner marked down")
		}

		// A member added but never started: a voting member that is down,
		// named by its hex ID.
		cli, err := c.Client()
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		var added *clientv3.MemberAddResponse
		for i := 0; i < 50; i++ { // strict reconfig check: the leader must have seen its peers a while
			if added, err = cli.MemberAdd(ctx, []string{"http://127.0.0.1:1"}); err == nil {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		id := IDHex(added.Member.ID)
		s = waitFor(t, ch, 15*time.Second, "unstarted member seen", func(s *Snapshot) bool { return s.VotingMembers == 4 })
		var un *MemberState
		for i := range s.Members {
			if s.Members[i].Label() == id {
				un = &s.Members[i]
			}
		}
		if un == nil || un.Up || un.Healthy || !un.Unstarted {
			t.Fatalf("unstarted member %s: %+v", id, un)
		}
		if s.QuorumSize != 3 || s.FailureTolerance != 0 || s.MembershipChanges != 2 {
			t.Errorf("4 voting members, one never started: %s", describe(s))
		}
		if v, ok := metricValue(t, reg, "etcd_monitor_member_up", map[string]string{"member": id, "endpoint": ""}); !ok || v != 0 {
			t.Errorf("member_up{member=%q} = %v (present %v)", id, v, ok)
		}
		if _, err := cli.MemberRemove(ctx, added.Member.ID); err != nil {
			t.Fatal(err)
		}
		s = waitFor(t, ch, 15*time.Second, "unstarted member removed", func(s *Snapshot) bool { return s.VotingMembers == 3 })
		if s.MembershipChanges != 3 {
			t.Errorf("membership changes = %d, want 3", s.MembershipChanges)
		}
	})
}
