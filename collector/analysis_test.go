package collector

import (
	"context"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// realStates captures one Status response per member of a real 3-member
// cluster and turns them into MemberStates the way the checker does. The
// scenarios below then alter what each member reports, as a partition or a
// split brain would, and feed rounds of them to the analysis.
func realStates(t *testing.T) []MemberState {
	t.Helper()
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	ch := NewChecker(ClusterConfig{Name: "unit", Conn: connFor(t, c.Endpoints())}, testLogger(t))
	defer ch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var states []MemberState
	for _, m := range c.Members() {
		// Ask each member itself, as the checker does.
		mcli, err := m.Client()
		if err != nil {
			t.Fatal(err)
		}
		st, err := pb.NewMaintenanceClient(mcli.ActiveConnection()).Status(ctx, &pb.StatusRequest{})
		mcli.Close()
		if err != nil {
			t.Fatal(err)
		}
		ms := MemberState{ID: m.ID(), Name: m.Name, Endpoint: m.ClientURL, Up: true, Healthy: true}
		ch.members.fillStatus(&ms, st)
		states = append(states, ms)
	}
	if states[0].Leader == 0 || states[0].Leader != states[1].Leader || states[1].Leader != states[2].Leader {
		t.Fatalf("real cluster does not agree on a leader: %+v", states)
	}
	return states
}

// round copies the states, lets alter change them and analyzes the result.
func round(h *history, base []MemberState, at time.Time, alter func(ms []MemberState)) *Snapshot {
	ms := append([]MemberState(nil), base...)
	if alter != nil {
		alter(ms)
	}
	s := &Snapshot{Cluster: "unit", Time: at, Members: ms}
	h.analyze(s, true)
	return s
}

func follower(ms []MemberState) int {
	for i := range ms {
		if ms[i].ID != ms[i].Leader {
			return i
		}
	}
	return -1
}

func TestAnalysisOnRealStatus(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	base := realStates(t)
	leaderID := base[0].Leader
	now := time.Now()
	tick := func(i int) time.Time { return now.Add(time.Duration(i) * time.Second) }

	t.Run("healthy", func(t *testing.T) {
		h := newHistory(DefaultElectionGrace)
		s := round(h, base, tick(0), nil)
		if !s.HasLeader || s.LeaderID != leaderID || !s.HasQuorum || s.SplitBrain || s.FailureTolerance != 1 || s.QuorumSize != 2 {
			t.Fatalf("healthy cluster: %s", describe(s))
		}
	})

	t.Run("split brain needs two consecutive rounds", func(t *testing.T) {
		h := newHistory(DefaultElectionGrace)
		round(h, base, tick(0), nil)
		// A follower claims leadership in a higher term: two leaders named.
		rogue := func(ms []MemberState) {
			f := follower(ms)
			ms[f].Leader = ms[f].ID
			ms[f].RaftTerm++
		}
		if s := round(h, base, tick(1), rogue); s.SplitBrain {
			t.Fatalf("split brain after one round: %s", describe(s))
		}
		if s := round(h, base, tick(2), rogue); !s.SplitBrain {
			t.Fatalf("no split brain after two rounds: %s", describe(s))
		}
		if s := round(h, base, tick(3), nil); s.SplitBrain {
			t.Fatalf("split brain after members agree again: %s", describe(s))
		}
		// Disagreement broken by one agreeing round starts counting anew.
		round(h, base, tick(4), rogue)
		round(h, base, tick(5), nil)
		if s := round(h, base, tick(6), rogue); s.SplitBrain {
			t.Fatalf("non-consecutive disagreement counted as split brain: %s", describe(s))
		}
	})

	t.Run("a member without leader is partitioned after two rounds", func(t *testing.T) {
		h := newHistory(DefaultElectionGrace)
		round(h, base, tick(0), nil)
		// Cut off, it cannot serve a linearizable read either.
		lost := func(ms []MemberState) { ms[follower(ms)].Leader = 0; ms[follower(ms)].Healthy = false }
		s := round(h, base, tick(1), lost)
		if s.Partitioned() {
			t.Fatalf("partitioned after one round: %s", describe(s))
		}
		s = round(h, base, tick(2), lost)
		if f := follower(base); !s.Members[f].Partitioned || s.SplitBrain || !s.HasLeader {
			t.Fatalf("want %s partitioned, leader kept, no split brain: %s", base[f].Name, describe(s))
		}
	})

	t.Run("a member in another term is partitioned", func(t *testing.T) {
		h := newHistory(DefaultElectionGrace)
		other := func(ms []MemberState) { ms[follower(ms)].RaftTerm += 5; ms[follower(ms)].Healthy = false }
		round(h, base, tick(0), other)
		s := round(h, base, tick(1), other)
		if !s.Members[follower(base)].Partitioned {
			t.Fatalf("term mismatch not flagged: %s", describe(s))
		}
	})

	t.Run("a raft index standing still while the leader's moves", func(t *testing.T) {
		h := newHistory(DefaultElectionGrace)
		f := follower(base)
		var li int
		for i := range base {
			if base[i].ID == leaderID {
				li = i
			}
		}
		// The members' Status responses were taken one after another: an
		// entry appended in between (a lease renewal, say) leaves one a
		// step behind. Start them level so that the lag is what we add.
		level := append([]MemberState(nil), base...)
		for j := range level {
			level[j].RaftIndex = base[li].RaftIndex
		}
		for i := 0; i < 4; i++ {
			s := round(h, level, tick(i), func(ms []MemberState) {
				for j := range ms {
					if j != f {
						ms[j].RaftIndex += uint64(10 * i)
					}
				}
				ms[f].Healthy = i == 0 // stuck, its reads wait for entries that never come
			})
			if got, want := s.Members[f].RaftIndexLag, uint64(10*i); got != want {
				t.Errorf("round %d: lag %d, want %d", i, got, want)
			}
			if i >= 2 && !s.Members[f].Partitioned {
				t.Errorf("round %d: stuck follower not partitioned: %s", i, describe(s))
			}
			if s.Members[li].Partitioned {
				t.Errorf("leader flagged")
			}
		}
	})

	t.Run("a member serving linearizable reads is current, whatever its Status said", func(t *testing.T) {
		h := newHistory(DefaultElectionGrace)
		// A paused old leader, just continued: its Status still names
		// itself at the old term while it already serves reads.
		stale := func(ms []MemberState) {
			f := follower(ms)
			ms[f].Leader, ms[f].RaftTerm = ms[f].ID, ms[f].RaftTerm-1
		}
		for i := 0; i < 3; i++ {
			if s := round(h, base, tick(i), stale); s.Partitioned() || s.SplitBrain || s.LeaderID != leaderID {
				t.Fatalf("round %d: stale self-claim of a serving member flagged: %s", i, describe(s))
			}
		}
	})

	t.Run("an election is not a quorum loss until the grace has passed", func(t *testing.T) {
		h := newHistory(3 * time.Second)
		electing := func(ms []MemberState) {
			for i := range ms {
				ms[i].Leader, ms[i].Healthy = 0, false
			}
		}
		for i, want := range []QuorumState{QuorumOK, QuorumElecting, QuorumElecting, QuorumElecting, QuorumLost} {
			alter := electing
			if i == 0 {
				alter = nil
			}
			// Ticks are a second apart: the spell starts at tick(1), the
			// grace of 3 s ends at tick(4).
			s := round(h, base, tick(i), alter)
			if s.Quorum != want || s.HasQuorum != (want == QuorumOK) {
				t.Fatalf("round %d: quorum %q (has_quorum %v), want %q: %s", i, s.Quorum, s.HasQuorum, want, describe(s))
			}
		}
		// Too few members answering is a loss at once.
		h = newHistory(time.Hour)
		s := round(h, base, tick(0), func(ms []MemberState) {
			electing(ms)
			ms[0].Up, ms[1].Up = false, false
		})
		if s.Quorum != QuorumLost {
			t.Fatalf("one of three answering: quorum %q, want lost", s.Quorum)
		}
	})

	t.Run("no partition without a leader: that is quorum loss", func(t *testing.T) {
		h := newHistory(DefaultElectionGrace)
		noLeader := func(ms []MemberState) {
			for i := range ms {
				ms[i].Leader = 0
				ms[i].Healthy = false
			}
		}
		round(h, base, tick(0), noLeader)
		s := round(h, base, tick(1), noLeader)
		if s.HasLeader || s.HasQuorum || s.Partitioned() {
			t.Fatalf("no leader anywhere: %s", describe(s))
		}
	})

	t.Run("leader changes count through a leaderless round", func(t *testing.T) {
		h := newHistory(DefaultElectionGrace)
		round(h, base, tick(0), nil)
		f := follower(base)
		newLeader := base[f].ID
		round(h, base, tick(1), func(ms []MemberState) {
			for i := range ms {
				ms[i].Leader = 0
			}
		})
		moved := func(ms []MemberState) {
			for i := range ms {
				ms[i].Leader = newLeader
				ms[i].RaftTerm++
			}
		}
		s := round(h, base, tick(2), moved)
		if s.LeaderChanges != 1 || len(s.LeaderHistory) != 1 || s.LeaderHistory[0].From != leaderID || s.LeaderHistory[0].To != newLeader {
			t.Fatalf("want one change %x -> %x: %+v", leaderID, newLeader, s.LeaderHistory)
		}
		if !s.LastLeaderChange.Equal(tick(2)) {
			t.Errorf("last change at %v", s.LastLeaderChange)
		}
		// Same leader, same term: nothing new.
		if s = round(h, base, tick(3), moved); s.LeaderChanges != 1 {
			t.Fatalf("counted a change without one: %d", s.LeaderChanges)
		}
		// Same leader re-elected in a higher term: a change the poll saw
		// only through the term.
		s = round(h, base, tick(4), func(ms []MemberState) {
			moved(ms)
			for i := range ms {
				ms[i].RaftTerm++
			}
		})
		if s.LeaderChanges != 2 {
			t.Fatalf("re-election in a higher term not counted: %d", s.LeaderChanges)
		}
	})

	t.Run("history keeps the last 100 changes", func(t *testing.T) {
		h := newHistory(DefaultElectionGrace)
		round(h, base, tick(0), nil)
		for i := 1; i <= 150; i++ {
			term := uint64(i)
			s := round(h, base, tick(i), func(ms []MemberState) {
				for j := range ms {
					ms[j].Leader = ms[i%3].ID
					ms[j].RaftTerm = base[j].RaftTerm + term
				}
			})
			if i == 150 {
				if len(s.LeaderHistory) != leaderHistorySize || s.LeaderChanges != 150 {
					t.Fatalf("history %d entries, %d changes", len(s.LeaderHistory), s.LeaderChanges)
				}
				if last := s.LeaderHistory[leaderHistorySize-1]; !last.Time.Equal(tick(150)) {
					t.Fatalf("newest entry %v", last.Time)
				}
			}
		}
	})
}
