package collector

import (
	"time"
)

// leaderHistorySize is how many leader changes are kept for the REST API.
const leaderHistorySize = 100

// suspectRounds is how many consecutive rounds a member must look
// partitioned, or members must name different leaders, before we say so:
// Status calls of one round are not atomic, so one round can catch a member
// that simply has not heard of a new leader yet.
const suspectRounds = 2

// history is what a round's analysis needs from the rounds before it. It
// belongs to one checker and is only touched by its loop.
type history struct {
	leaderID   uint64
	leaderTerm uint64
	changes    uint64
	lastChange time.Time
	log        []LeaderChange

	splitRounds     int
	suspect         map[uint64]int
	prevIndex       map[uint64]uint64
	prevLeaderIndex uint64

	memberIDs         map[uint64]string // nil until the first member list
	membershipChanges uint64

	maxTerm  uint64
	revision int64

	electionGrace time.Duration
	noQuorumSince time.Time // start of the current spell without quorum
}

// events are what analyze noticed, for the checker to log.
type events struct {
	leaderChange *LeaderChange
	added        []MemberState
	removed      []string // labels of removed members
}

func newHistory(electionGrace time.Duration) *history {
	return &history{suspect: map[uint64]int{}, prevIndex: map[uint64]uint64{}, electionGrace: electionGrace}
}

// analyze fills the derived fields of s (quorum, leader, split brain,
// partitions, lags, counters) from its members' raw states and from earlier
// rounds.
func (h *history) analyze(s *Snapshot, haveList bool) events {
	var ev events
	if haveList {
		ev.added, ev.removed = h.membership(s)
	}

	// Member counts and quorum arithmetic.
	s.VotingMembers, s.Learners, s.HealthyVoting = 0, 0, 0
	for i := range s.Members {
		m := &s.Members[i]
		if m.Learner {
			s.Learners++
			continue
		}
		s.VotingMembers++
		if m.Healthy {
			s.HealthyVoting++
		}
	}
	s.QuorumSize = s.VotingMembers/2 + 1
	s.FailureTolerance = max(0, s.HealthyVoting-s.QuorumSize)

	h.leader(s, &ev)
	h.quorum(s)
	h.partitions(s)

	for _, m := range s.Members {
		if m.Up {
			h.maxTerm = max(h.maxTerm, m.RaftTerm)
			h.revision = max(h.revision, m.Revision)
		}
	}
	s.RaftTerm, s.Revision = h.maxTerm, h.revision
	s.LeaderChanges, s.LastLeaderChange = h.changes, h.lastChange
	s.MembershipChanges = h.membershipChanges
	s.LeaderHistory = append([]LeaderChange(nil), h.log...)
	return ev
}

// quorum decides between a working quorum, an election and a loss.
// Linearizable reads need a ReadIndex confirmed by a quorum, but one round's
// calls are not atomic: a read served just before the leader went away is
// no proof for the round. So quorum is claimed only when at least a quorum
// of voting members served reads. Without that, while a quorum of voting
// members still answers, the cluster is electing, for up to the election
// grace; past it, or when too few members answer at all, quorum is lost.
func (h *history) quorum(s *Snapshot) {
	answering := 0
	for _, m := range s.Members {
		if m.Up && !m.Learner {
			answering++
		}
	}
	s.HasQuorum = s.HealthyVoting >= s.QuorumSize && s.HealthyVoting > 0
	switch {
	case s.HasQuorum:
		s.Quorum = QuorumOK
		h.noQuorumSince = time.Time{}
		return
	case h.noQuorumSince.IsZero():
		h.noQuorumSince = s.Time
	}
	if answering >= s.QuorumSize && answering > 0 && s.Time.Sub(h.noQuorumSince) < h.electionGrace {
		s.Quorum = QuorumElecting
	} else {
		s.Quorum = QuorumLost
	}
}

func (h *history) membership(s *Snapshot) (added []MemberState, removed []string) {
	now := make(map[uint64]string, len(s.Members))
	for _, m := range s.Members {
		now[m.ID] = m.Label()
	}
	if h.memberIDs != nil {
		for _, m := range s.Members {
			if _, ok := h.memberIDs[m.ID]; !ok {
				added = append(added, m)
			}
		}
		for id, label := range h.memberIDs {
			if _, ok := now[id]; !ok {
				removed = append(removed, label)
			}
		}
		h.membershipChanges += uint64(len(added) + len(removed))
	}
	h.memberIDs = now
	return added, removed
}

// leader decides who leads. A leader is accepted when it is reachable and
// says so itself (etcd's CheckQuorum makes a cut-off leader step down within
// an election timeout), or when more than half of the reachable members
// follow it.
func (h *history) leader(s *Snapshot, ev *events) {
	// A member that names itself leader at a lower term than others name
	// a leader has not heard of the newer election yet (a paused old leader
	// just continued): a stale claim, not a second leader.
	var current uint64
	for _, m := range s.Members {
		if m.Up && m.Leader != 0 {
			current = max(current, m.RaftTerm)
		}
	}
	votes := map[uint64]int{}
	reachable := 0
	var self uint64
	var selfTerm uint64
	for _, m := range s.Members {
		if !m.Up {
			continue
		}
		reachable++
		if m.Leader != 0 && !(m.Leader == m.ID && m.RaftTerm < current) {
			votes[m.Leader]++
		}
		if m.Leader == m.ID && m.ID != 0 && m.RaftTerm >= selfTerm {
			self, selfTerm = m.ID, m.RaftTerm
		}
	}
	var best uint64
	for id, n := range votes {
		if n > votes[best] || (n == votes[best] && id > best) {
			best = id
		}
	}
	switch {
	case self != 0:
		s.LeaderID = self
	case best != 0 && votes[best]*2 > reachable:
		s.LeaderID = best
	default:
		s.LeaderID = 0
	}
	s.HasLeader = s.LeaderID != 0

	// Two or more different leaders named in one round, repeatedly.
	if len(votes) > 1 {
		h.splitRounds++
	} else {
		h.splitRounds = 0
	}
	s.SplitBrain = h.splitRounds >= suspectRounds

	var term uint64
	for i := range s.Members {
		m := &s.Members[i]
		m.IsLeader = s.HasLeader && m.ID == s.LeaderID
		if m.IsLeader {
			term = m.RaftTerm
		}
	}
	if !s.HasLeader {
		return
	}
	if term == 0 { // leader itself not reachable: take the followers' term
		for _, m := range s.Members {
			if m.Up && m.Leader == s.LeaderID {
				term = max(term, m.RaftTerm)
			}
		}
	}
	// The first leader seen is not a change. A new leader, or the same one
	// re-elected in a higher term, is.
	if h.leaderID != 0 && (s.LeaderID != h.leaderID || term > h.leaderTerm) {
		c := LeaderChange{
			Time: s.Time, From: h.leaderID, FromName: h.nameOf(h.leaderID),
			To: s.LeaderID, ToName: h.nameOf(s.LeaderID), Term: term,
		}
		h.changes++
		h.lastChange = s.Time
		h.log = append(h.log, c)
		if len(h.log) > leaderHistorySize {
			h.log = h.log[len(h.log)-leaderHistorySize:]
		}
		ev.leaderChange = &c
	}
	if s.LeaderID != h.leaderID {
		h.leaderTerm = term
	} else {
		h.leaderTerm = max(h.leaderTerm, term)
	}
	h.leaderID = s.LeaderID
}

func (h *history) nameOf(id uint64) string {
	if n, ok := h.memberIDs[id]; ok {
		return n
	}
	return IDHex(id)
}

// partitions marks members that are reachable but cut off from the raft
// group: no leader, a term other than the majority's, a raft index that
// stands still while the leader's moves on, or linearizable reads that time
// out on this member while other members serve them. Only meaningful while the
// cluster has a leader; without one, the cluster has lost quorum, which has
// its own signal.
func (h *history) partitions(s *Snapshot) {
	leader := s.Leader()
	var leaderIndex uint64
	if leader != nil && leader.Up {
		leaderIndex = leader.RaftIndex
	}
	terms := map[uint64]int{}
	for _, m := range s.Members {
		if m.Up {
			terms[m.RaftTerm]++
		}
	}
	var majorityTerm uint64
	for t, n := range terms {
		if n > terms[majorityTerm] || (n == terms[majorityTerm] && t > majorityTerm) {
			majorityTerm = t
		}
	}
	leaderAdvanced := leaderIndex > h.prevLeaderIndex && h.prevLeaderIndex != 0

	for i := range s.Members {
		m := &s.Members[i]
		if m.Up {
			m.RaftApplyLag = sub(m.RaftIndex, m.RaftAppliedIndex)
			if leaderIndex != 0 {
				m.RaftIndexLag = sub(leaderIndex, m.RaftIndex)
			}
		}
		if !m.Up || !s.HasLeader {
			h.suspect[m.ID] = 0
			continue
		}
		prev, seen := h.prevIndex[m.ID]
		stuck := seen && leaderAdvanced && m.RaftIndex == prev && m.RaftIndex < leaderIndex
		// A member whose inbound peer traffic is cut keeps receiving the
		// leader's appends over the streams it dialled itself, so its index
		// and term look fine; but its ReadIndex requests never reach the
		// leader, so its linearizable reads fail while other members serve
		// them. That is the partition clients feel.
		cutOff := !m.Healthy && !m.Learner && s.HealthyVoting > 0 && m.readTimedOut
		// A voting member that served a linearizable read this round got a
		// ReadIndex from the leader and applied up to it: it is current,
		// whatever its Status (taken at another instant) said.
		current := m.Healthy && !m.Learner
		if !current && (m.Leader == 0 || m.RaftTerm != majorityTerm || stuck || cutOff) {
			h.suspect[m.ID]++
		} else {
			h.suspect[m.ID] = 0
		}
		m.Partitioned = h.suspect[m.ID] >= suspectRounds
	}
	h.prevIndex = map[uint64]uint64{}
	for _, m := range s.Members {
		if m.Up {
			h.prevIndex[m.ID] = m.RaftIndex
		}
	}
	if leaderIndex != 0 {
		h.prevLeaderIndex = leaderIndex
	}
}

func sub(a, b uint64) uint64 {
	if a > b {
		return a - b
	}
	return 0
}
