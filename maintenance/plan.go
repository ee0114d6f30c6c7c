package maintenance

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
)

// ErrRefused is wrapped by every error that stops a defragmentation because
// doing it now could hurt the cluster.
var ErrRefused = errors.New("refusing to defragment")

// Rule decides which members are worth defragmenting. A member qualifies
// when both thresholds hold, as in the EtcdDatabaseFragmented alert: a small
// database is never worth blocking a member for, however fragmented.
type Rule struct {
	MinFreeBytes int64
	MinFreeRatio float64
	// All selects every member regardless of the thresholds (--force).
	All bool
	// NoSpace selects members holding a NOSPACE alarm whatever their free
	// space (--disarm-nospace): the alarm stays until they shrink under
	// their quota, a small quota never reaches the thresholds, and under
	// NOSPACE nothing commits that would make etcd count the pages a
	// compaction freed (see settleFreePages).
	NoSpace bool
}

// Needs reports whether the rule selects m, and why in words for the plan.
func (r Rule) Needs(m *collector.MemberState) (bool, string) {
	free := freeBytes(m)
	ratio := 0.0
	if m.DBSize > 0 {
		ratio = float64(free) / float64(m.DBSize)
	}
	desc := fmt.Sprintf("%s free of %s (%.0f%%)", bytesize.Format(free), bytesize.Format(m.DBSize), 100*ratio)
	switch {
	case r.All:
		return true, desc + ", --force"
	case r.NoSpace && slices.Contains(m.Alarms, "NOSPACE"):
		return true, desc + ", NOSPACE alarm"
	case free < r.MinFreeBytes:
		return false, fmt.Sprintf("%s, below --min-free-bytes %s", desc, bytesize.Format(r.MinFreeBytes))
	case ratio < r.MinFreeRatio:
		return false, fmt.Sprintf("%s, below --min-free-ratio %g", desc, r.MinFreeRatio)
	}
	return true, desc
}

// freeBytes is what a defragmentation can give back: pages of the backend
// file that hold no data.
func freeBytes(m *collector.MemberState) int64 {
	return max(0, m.DBSize-m.DBSizeInUse)
}

// order lists members in the order they are defragmented: learners (nobody
// votes on them), then followers, then the leader, because a blocked leader
// stalls every write while a blocked follower stalls only its own clients.
func order(s *collector.Snapshot) []uint64 {
	ms := slices.Clone(s.Members)
	rank := func(m collector.MemberState) int {
		switch {
		case m.Learner:
			return 0
		case m.ID == s.LeaderID && s.HasLeader:
			return 2
		}
		return 1
	}
	slices.SortStableFunc(ms, func(a, b collector.MemberState) int {
		if c := cmp.Compare(rank(a), rank(b)); c != 0 {
			return c
		}
		return strings.Compare(a.Label(), b.Label())
	})
	ids := make([]uint64, 0, len(ms))
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	return ids
}

// next picks the first member of the plan not yet handled that does not
// lead now; the leader only when nothing else is left. Leadership can move
// during a run, so the leader of the moment, not of the plan, goes last.
func next(plan []uint64, done map[uint64]bool, s *collector.Snapshot) (uint64, bool) {
	var leader uint64
	var haveLeader bool
	for _, id := range plan {
		if done[id] {
			continue
		}
		if s.HasLeader && id == s.LeaderID {
			leader, haveLeader = id, true
			continue
		}
		return id, true
	}
	return leader, haveLeader
}

func memberByID(s *collector.Snapshot, id uint64) *collector.MemberState {
	for i := range s.Members {
		if s.Members[i].ID == id {
			return &s.Members[i]
		}
	}
	return nil
}

// checkMember says whether m can be defragmented now. Defragmentation blocks
// the member until it ends, so for a voting member the question is whether
// the cluster keeps quorum without it, counting the failures it already has.
func checkMember(s *collector.Snapshot, m *collector.MemberState) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w %s: %s", ErrRefused, m.Label(), fmt.Sprintf(format, args...))
	}
	if err := checkCluster(s); err != nil {
		return err
	}
	if !m.Up {
		return refuse("it does not answer (%s)", m.Err)
	}
	if !m.Healthy {
		return refuse("it is not healthy (%s)", m.Err)
	}
	if m.Learner {
		return nil
	}
	serving := s.HealthyVoting - 1
	if serving >= s.QuorumSize {
		return nil
	}
	if s.VotingMembers == 1 {
		return refuse("a one-member cluster stops serving while its only member defragments; do it in a maintenance window with etcdctl")
	}
	return refuse("while it defragments only %d of %d voting members would serve, below the quorum of %d (not healthy: %s); the cluster tolerates %d failure(s) and has no room for another",
		max(serving, 0), s.VotingMembers, s.QuorumSize, unhealthy(s, m), s.VotingMembers-s.QuorumSize)
}

// checkCluster refuses any defragmentation, and the compaction before it,
// while the cluster has no quorum or no leader.
func checkCluster(s *collector.Snapshot) error {
	if !s.HasQuorum {
		return fmt.Errorf("%w: the cluster has no quorum (not healthy: %s)", ErrRefused, unhealthy(s, nil))
	}
	if !s.HasLeader {
		return fmt.Errorf("%w: the cluster has no leader", ErrRefused)
	}
	return nil
}

// unhealthy names the voting members that do not serve, with why.
func unhealthy(s *collector.Snapshot, except *collector.MemberState) string {
	var out []string
	for _, m := range s.Members {
		if m.Learner || m.Healthy || (except != nil && m.ID == except.ID) {
			continue
		}
		why := m.Err
		if why == "" {
			why = "no reason given"
		}
		out = append(out, fmt.Sprintf("%s: %s", m.Label(), why))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}
