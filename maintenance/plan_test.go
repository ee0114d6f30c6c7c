package maintenance

import (
	"hash/fnv"
	"strings"
	"testing"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
)

// Snapshots built by hand test the decisions against situations that are
// slow or impossible to stage with real members; the tests with real etcd
// check that the decisions are fed what the checker sees.

type member struct {
	name                   string
	healthy, down, learner bool
	leader                 bool
	size, inUse            int64
	alarms                 []string
}

func idOf(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

// snapshotOf derives the counts the way the collector's analysis does.
func snapshotOf(ms ...member) *collector.Snapshot {
	s := &collector.Snapshot{Success: true}
	for _, m := range ms {
		st := collector.MemberState{
			ID: idOf(m.name), Name: m.name, Endpoint: "http://" + m.name + ":2379",
			Up: !m.down, Healthy: m.healthy && !m.down, Learner: m.learner, IsLeader: m.leader,
			DBSize: m.size, DBSizeInUse: m.inUse, Alarms: m.alarms, DBQuota: 2 << 30,
		}
		if m.down {
			st.Err = "connection refused"
		} else if !m.healthy {
			st.Err = "context deadline exceeded"
		}
		s.Members = append(s.Members, st)
		if m.learner {
			continue
		}
		s.VotingMembers++
		if st.Healthy {
			s.HealthyVoting++
		}
		if m.leader {
			s.HasLeader, s.LeaderID = true, st.ID
		}
	}
	s.QuorumSize = s.VotingMembers/2 + 1
	s.FailureTolerance = max(0, s.HealthyVoting-s.QuorumSize)
	s.HasQuorum = s.HealthyVoting > 0
	return s
}

func labels(s *collector.Snapshot, ids []uint64) string {
	var out []string
	for _, id := range ids {
		out = append(out, memberByID(s, id).Label())
	}
	return strings.Join(out, ",")
}

func TestOrderLearnersFollowersLeader(t *testing.T) {
	s := snapshotOf(
		member{name: "a", healthy: true, leader: true},
		member{name: "c", healthy: true},
		member{name: "b", healthy: true},
		member{name: "l", healthy: true, learner: true},
	)
	if got := labels(s, order(s)); got != "l,b,c,a" {
		t.Errorf("order %s, want l,b,c,a", got)
	}
}

// Leadership can move during a run: whoever leads now goes last.
func TestNextKeepsTheCurrentLeaderLast(t *testing.T) {
	s := snapshotOf(
		member{name: "m1", healthy: true},
		member{name: "m2", healthy: true, leader: true},
		member{name: "m3", healthy: true},
	)
	plan := order(s)
	if got := labels(s, plan); got != "m1,m3,m2" {
		t.Fatalf("plan %s, want m1,m3,m2", got)
	}
	done := map[uint64]bool{}
	var got []string
	for i := 0; ; i++ {
		if i == 1 {
			s.LeaderID = idOf("m3") // m2 lost leadership to m3 after m1
		}
		id, ok := next(plan, done, s)
		if !ok {
			break
		}
		done[id] = true
		got = append(got, memberByID(s, id).Name)
	}
	if strings.Join(got, ",") != "m1,m2,m3" {
		t.Errorf("order after the leader moved: %v, want m1,m2,m3", got)
	}
}

func TestCheckMember(t *testing.T) {
	cases := []struct {
		name    string
		members []member
		target  string
		want    string // "" for allowed, else a part of the refusal
	}{
		{"three healthy", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", healthy: true}, {name: "m3", healthy: true}}, "m2", ""},
		{"three, one down", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", healthy: true}, {name: "m3", down: true}}, "m2",
			"only 1 of 3 voting members would serve, below the quorum of 2 (not healthy: m3: connection refused)"},
		{"three, the target itself down", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", healthy: true}, {name: "m3", down: true}}, "m3",
			"it does not answer"},
		{"three, target up but not serving", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", healthy: true}, {name: "m3"}}, "m3",
			"it is not healthy"},
		{"five, one down", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", healthy: true}, {name: "m3", healthy: true}, {name: "m4", healthy: true}, {name: "m5", down: true}}, "m2", ""},
		{"five, two down", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", healthy: true}, {name: "m3", healthy: true}, {name: "m4", down: true}, {name: "m5", down: true}}, "m2",
			"below the quorum of 3"},
		{"one member", []member{{name: "m1", healthy: true, leader: true}}, "m1", "one-member cluster"},
		{"learner of a cluster with a member down", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", healthy: true}, {name: "m3", down: true}, {name: "l", healthy: true, learner: true}}, "l", ""},
		{"no leader", []member{{name: "m1", healthy: true}, {name: "m2", healthy: true}, {name: "m3", healthy: true}}, "m1", "no leader"},
		{"no quorum", []member{{name: "m1", leader: true}, {name: "m2"}, {name: "m3", down: true}}, "m1", "no quorum"},
	}
	for _, tc := range cases {
		s := snapshotOf(tc.members...)
		err := checkMember(s, memberByID(s, idOf(tc.target)))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: allowed, want a refusal saying %q", tc.name, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: %v\nwant it to say %q", tc.name, err, tc.want)
		}
	}
}

func TestRuleNeeds(t *testing.T) {
	big := member{name: "m", healthy: true, size: 1 << 30, inUse: 300 << 20} // 724 MiB, 71% free
	small := member{name: "m", healthy: true, size: 50 << 20, inUse: 10 << 20}
	full := member{name: "m", healthy: true, size: 8 << 20, inUse: 7 << 20, alarms: []string{"NOSPACE"}}
	cases := []struct {
		rule Rule
		m    member
		want bool
		why  string
	}{
		{Rule{MinFreeBytes: 100 << 20}, big, true, "724.0 MiB free of 1.0 GiB (71%)"},
		{Rule{MinFreeBytes: 100 << 20}, small, false, "below --min-free-bytes 100.0 MiB"},
		{Rule{MinFreeBytes: 100 << 20, MinFreeRatio: 0.8}, big, false, "below --min-free-ratio 0.8"},
		{Rule{MinFreeRatio: 0.5}, small, true, "40.0 MiB free"},
		{Rule{MinFreeBytes: 100 << 20, All: true}, small, true, "--force"},
		{Rule{MinFreeBytes: 100 << 20}, full, false, "below --min-free-bytes"},
		{Rule{MinFreeBytes: 100 << 20, NoSpace: true}, full, true, "NOSPACE alarm"},
	}
	for i, tc := range cases {
		s := snapshotOf(tc.m)
		got, why := tc.rule.Needs(&s.Members[0])
		if got != tc.want || !strings.Contains(why, tc.why) {
			t.Errorf("case %d: %+v on %+v: %v (%s), want %v saying %q", i, tc.rule, tc.m, got, why, tc.want, tc.why)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "100MiB": 100 << 20, "1GiB": 1 << 30, "1.5KiB": 1536, "2MB": 2e6, "4096": 4096, " 10 KiB ": 10240} {
		if got, err := bytesize.Parse(in); err != nil || got != want {
			t.Errorf("bytesize.Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "lots", "10 mb", "1e3"} {
		if _, err := bytesize.Parse(in); err == nil {
			t.Errorf("bytesize.Parse(%q) accepted", in)
		}
	}
}

func TestPickSource(t *testing.T) {
	cases := []struct {
		name    string
		members []member
		want    string // "" for a refusal
	}{
		{"followers first", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", healthy: true}, {name: "m3", healthy: true}}, "m2"},
		{"a healthy follower", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", down: true}, {name: "m3", healthy: true}}, "m3"},
		{"never a learner", []member{{name: "m1", healthy: true, leader: true}, {name: "m2", down: true}, {name: "m3", down: true}, {name: "l", healthy: true, learner: true}}, ""},
		{"the leader when alone", []member{{name: "m1", healthy: true, leader: true}}, "m1"},
		{"not the leader of three", []member{{name: "m1", healthy: true, leader: true}, {name: "m2"}, {name: "m3", down: true}}, ""},
	}
	for _, tc := range cases {
		m, err := pickSource(snapshotOf(tc.members...))
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: picked %s, want a refusal", tc.name, m.Name)
		case tc.want != "" && err != nil:
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		case tc.want != "" && m.Name != tc.want:
			t.Errorf("%s: picked %s, want %s", tc.name, m.Name, tc.want)
		}
	}
}
