package status_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func TestBuildHealthy(t *testing.T) {
	src := statustest.New("main").Set(statustest.Healthy("main", now)).SetLatency(
		statustest.Latency("m1", collector.OpGet, 60, 1500*time.Microsecond),
		statustest.Latency("m2", collector.OpGetSerializable, 60, 700*time.Microsecond),
		statustest.Latency("m2", collector.OpGet, 60, 2*time.Millisecond),
		statustest.Latency("m3", collector.OpGetSerializable, 60, 900*time.Microsecond),
	)
	cs := status.Build(src)
	if cs.State != status.StateHealthy || !cs.Healthy || len(cs.Problems) != 0 {
		t.Fatalf("healthy cluster: state %s, problems %v", cs.State, cs.Problems)
	}
	if cs.Cluster != "main" || cs.MemberCount != 3 || cs.QuorumSize != 2 || cs.FailureTolerance != 1 || cs.HealthyMembers != 3 ||
		cs.LeaderID != statustest.ID1 || cs.LeaderIDHex != "8e9e05c52164694d" || cs.LeaderName != "m1" ||
		cs.ClusterID != "cdf818194e3a8c32" || cs.Version != "3.5.0" || cs.Revision != 1042 || cs.LastCheck == nil || !cs.LastCheck.Equal(now) {
		t.Errorf("cluster fields: %+v", cs)
	}
	if cs.LastLeaderChange != nil || cs.HashKVConsistent != nil {
		t.Errorf("never-seen facts are not null: %+v %+v", cs.LastLeaderChange, cs.HashKVConsistent)
	}
	// The linearizable read's p99 where there is one, else the
	// serializable one.
	p99 := map[string]float64{}
	for _, m := range cs.Members {
		if m.ProbeP99Ms != nil {
			p99[m.Name] = *m.ProbeP99Ms
		}
	}
	if p99["m1"] != 1.5 || p99["m2"] != 2 || p99["m3"] != 0.9 {
		t.Errorf("probe p99s %v", p99)
	}
	if m := cs.Members[0]; !m.Up || !m.Healthy || !m.Leader || m.IDHex != "8e9e05c52164694d" || m.DBSize != 12<<20 || m.DBQuota != 2<<30 || m.Endpoint != "http://127.0.0.1:2379" {
		t.Errorf("m1: %+v", m)
	}
	// Empty lists are JSON arrays, never null: clients iterate them.
	b, _ := json.Marshal(cs)
	for _, k := range []string{`"alarms":[]`, `"problems":[]`, `"alarms":[],`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("JSON lacks %s", k)
		}
	}
}

func TestBuildBeforeFirstRound(t *testing.T) {
	cs := status.Build(statustest.New("new"))
	if cs.State != status.StateUnknown || cs.Healthy || !slices.Equal(cs.Problems, []string{"no check has finished yet"}) || cs.Members == nil || cs.Alarms == nil {
		t.Errorf("before the first round: %+v", cs)
	}
}

// The judgement, case by case: the state and the problems in the words
// the API, the page and `check` print.
func TestJudge(t *testing.T) {
	healthy := func() *collector.Snapshot { return statustest.Healthy("main", now) }
	for _, tc := range []struct {
		name     string
		snap     *collector.Snapshot
		state    string
		problems []string
	}{
		{"healthy", healthy(), status.StateHealthy, nil},
		{"follower down", statustest.Down(healthy(), "m3", "connection refused"), status.StateDegraded,
			[]string{"member m3 is down", "no failure tolerance: one more member lost ends quorum"}},
		{"leader down, new leader", statustest.Down(statustest.NewLeader(healthy(), "m2", 3, now), "m1", "connection refused"), status.StateDegraded,
			[]string{"member m1 is down", "no failure tolerance: one more member lost ends quorum"}},
		{"leader down, no leader yet", statustest.Down(healthy(), "m1", "connection refused"), status.StateDegraded,
			[]string{"no leader", "member m1 is down", "no failure tolerance: one more member lost ends quorum"}},
		{"quorum lost", func() *collector.Snapshot {
			s := statustest.Down(statustest.Down(healthy(), "m2", "refused"), "m3", "refused")
			// The lone member steps down once it misses its followers.
			s.HasLeader, s.LeaderID, s.Members[0].IsLeader, s.Members[0].Healthy, s.HealthyVoting = false, 0, false, false, 0
			return s
		}(), status.StateUnavailable,
			[]string{"quorum lost: fewer than a quorum of members can serve a linearizable read", "no leader", "member m1 cannot serve reads", "member m2 is down", "member m3 is down"}},
		// An election is not a quorum loss (it was reported as one for up
		// to 5 s in a soak): two of three answer, no leader yet.
		{"electing", func() *collector.Snapshot {
			s := statustest.Down(healthy(), "m1", "connection refused")
			s.HasQuorum, s.Quorum = false, collector.QuorumElecting
			return s
		}(), status.StateDegraded,
			[]string{"electing a leader: a quorum of members answers, no leader yet", "member m1 is down"}},
		// A wrong password is not a member down: the member is up, the
		// monitor cannot get in.
		{"member refuses the monitor", func() *collector.Snapshot {
			s := statustest.Down(healthy(), "m2", "authentication failed")
			s.Members[1].Contact = collector.ContactAuthFailed
			return s
		}(), status.StateDegraded,
			[]string{"member m2 refuses the monitor: authentication failed (check --etcd.username and the password file)", "no failure tolerance: one more member lost ends quorum"}},
		{"every member refuses the monitor", func() *collector.Snapshot {
			s := statustest.Down(statustest.Down(statustest.Down(healthy(), "m1", "x"), "m2", "x"), "m3", "x")
			s.Success, s.HasLeader, s.HasQuorum, s.Quorum = false, false, false, collector.QuorumLost
			for i := range s.Members {
				s.Members[i].Contact = collector.ContactTLSMismatch
			}
			return s
		}(), status.StateUnavailable,
			[]string{"no member lets the monitor in: TLS mismatch (check the CA bundle and the client certificate)",
				"member m1 refuses the monitor: TLS mismatch (check the CA bundle and the client certificate)",
				"member m2 refuses the monitor: TLS mismatch (check the CA bundle and the client certificate)",
				"member m3 refuses the monitor: TLS mismatch (check the CA bundle and the client certificate)"}},
		{"nobody answers", func() *collector.Snapshot {
			s := statustest.Down(statustest.Down(statustest.Down(healthy(), "m1", "x"), "m2", "x"), "m3", "x")
			s.Success = false
			return s
		}(), status.StateUnavailable,
			[]string{"no member could be reached", "member m1 is down", "member m2 is down", "member m3 is down"}},
		{"unhealthy member", func() *collector.Snapshot {
			s := healthy()
			s.Members[1].Healthy, s.HealthyVoting, s.FailureTolerance = false, 2, 0
			return s
		}(), status.StateDegraded,
			[]string{"member m2 cannot serve reads", "no failure tolerance: one more member lost ends quorum"}},
		{"partitioned", func() *collector.Snapshot {
			s := healthy()
			s.Members[2].Partitioned = true
			return s
		}(), status.StateDegraded, []string{"member m3 is partitioned"}},
		{"alarm", func() *collector.Snapshot {
			s := healthy()
			s.Members[0].Alarms = []string{"NOSPACE"}
			return s
		}(), status.StateDegraded, []string{"alarm NOSPACE on member m1"}},
		{"split brain", func() *collector.Snapshot {
			s := healthy()
			s.SplitBrain = true
			return s
		}(), status.StateDegraded, []string{"split brain: members name different leaders"}},
		{"hashes differ", func() *collector.Snapshot {
			s := healthy()
			s.HashKV = &collector.HashKVResult{Consistent: false}
			return s
		}(), status.StateDegraded, []string{"members' KV hashes differ"}},
		{"one member alone tolerates nothing and is healthy", func() *collector.Snapshot {
			s := healthy()
			s.Members = s.Members[:1]
			s.VotingMembers, s.HealthyVoting, s.QuorumSize, s.FailureTolerance = 1, 1, 1, 0
			return s
		}(), status.StateHealthy, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := status.Build(statustest.New("main").Set(tc.snap))
			if cs.State != tc.state || !slices.Equal(cs.Problems, append([]string{}, tc.problems...)) {
				t.Errorf("state %s, problems %q; want %s, %q", cs.State, cs.Problems, tc.state, tc.problems)
			}
			if cs.Healthy != (tc.state == status.StateHealthy) {
				t.Errorf("healthy %v with state %s", cs.Healthy, cs.State)
			}
		})
	}
}

// A down member shows no figures from before it went down: no DB size, no
// raft index, no latency, but when it was last seen and why.
func TestBuildDownMember(t *testing.T) {
	s := statustest.Down(statustest.Healthy("main", now), "m3", "dial tcp 127.0.0.1:2399: connection refused")
	src := statustest.New("main").Set(s).SetLatency(statustest.Latency("m3", collector.OpGet, 10, time.Millisecond))
	m := status.Build(src).Members[2]
	if m.Up || m.Healthy || m.DBSize != 0 || m.RaftIndex != 0 || m.ProbeP99Ms != nil || m.LastSeen == nil || !strings.Contains(m.Error, "connection refused") {
		t.Errorf("down member: %+v", m)
	}
}

func TestWorse(t *testing.T) {
	order := []string{status.StateHealthy, status.StateUnknown, status.StateDegraded, status.StateUnavailable}
	for i := range order {
		for j := range order {
			if got := status.Worse(order[i], order[j]); got != (i > j) {
				t.Errorf("Worse(%s, %s) = %v", order[i], order[j], got)
			}
		}
	}
}
