package status

import (
	"testing"
	"time"
)

func TestTexts(t *testing.T) {
	up := []MemberStatus{{Up: true}}
	for _, tc := range []struct{ got, want string }{
		{QuorumText(ClusterStatus{State: StateHealthy, MemberCount: 3, QuorumSize: 2, HasQuorum: true, FailureTolerance: 1, Members: up}), "quorum 2 of 3, tolerates 1 failure"},
		{QuorumText(ClusterStatus{State: StateDegraded, MemberCount: 5, QuorumSize: 3, HasQuorum: true, FailureTolerance: 0, LearnerCount: 1, Members: up}), "quorum 3 of 5 (+1 learner), tolerates 0 failures"},
		{QuorumText(ClusterStatus{State: StateUnavailable, MemberCount: 3, QuorumSize: 2, HealthyMembers: 1, Members: up}), "NO QUORUM: 1 of 3 members healthy, 2 needed"},
		{QuorumText(ClusterStatus{State: StateUnavailable, MemberCount: 3, QuorumSize: 2, Members: []MemberStatus{{}}}), "quorum unknown: no member reachable"},
		{QuorumText(ClusterStatus{State: StateUnknown}), "quorum unknown"},
		{QuorumText(ClusterStatus{State: StateDegraded, Quorum: "electing", MemberCount: 3, QuorumSize: 2, Members: []MemberStatus{{Up: true}, {Up: true}, {}}}), "ELECTING: 2 of 3 members answer, no leader yet"},
		{MemberStatusText(MemberStatus{Contact: "auth_failed"}), "UNREACHABLE"},
		{DBText(MemberStatus{Up: true, DBSize: 12897485, DBQuota: 2 << 30}), "12.3 MiB of 2.0 GiB (1%)"},
		{DBText(MemberStatus{Up: true, DBSize: 500, DBQuota: 0}), "500 B"},
		{DBText(MemberStatus{Up: false, DBSize: 500, DBQuota: 1000}), ""},
		{Millis(0.4321), "0.43 ms"},
		{Millis(12.345), "12.3 ms"},
		{Millis(1234.5), "1234 ms"},
		{MemberStatusText(MemberStatus{Up: true, Healthy: true}), "UP"},
		{MemberStatusText(MemberStatus{Up: true, Healthy: true, Alarms: []string{"NOSPACE"}}), "UP NOSPACE"},
		{MemberStatusText(MemberStatus{Up: true}), "UNHEALTHY"},
		{MemberStatusText(MemberStatus{Up: true, Healthy: true, Partitioned: true}), "PARTITIONED"},
		{MemberStatusText(MemberStatus{}), "DOWN"},
		{RoleText(MemberStatus{Up: true, Leader: true}), "leader"},
		{RoleText(MemberStatus{Learner: true}), "learner"},
		{RoleText(MemberStatus{}), ""},
		{AlarmsText(ClusterStatus{Alarms: []Alarm{{Member: "m1", Alarm: "NOSPACE"}, {Member: "m2", Alarm: "CORRUPT"}}}), "NOSPACE on m1, CORRUPT on m2"},
		{LeaderText(ClusterStatus{LeaderIDHex: "8e9e05c52164694d"}), "8e9e05c52164694d"},
		{LeaderText(ClusterStatus{}), "none"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestAgo(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		-time.Second:                 "just now",
		5 * time.Second:              "5s ago",
		3*time.Minute + time.Second:  "3m ago",
		2*time.Hour + 10*time.Minute: "2h10m ago",
		5 * time.Hour:                "5h ago",
		100 * time.Hour:              "4d ago",
	} {
		if got := Ago(now, now.Add(-d)); got != want {
			t.Errorf("Ago(%s) = %q, want %q", d, got, want)
		}
	}
}
