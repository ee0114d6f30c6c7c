package collector

import (
	"strconv"
	"time"
)

// Snapshot is what one check round learned about a cluster. It is immutable
// once published: collectors, the REST API and the status page read it
// without locks, so a scrape never waits for a member.
type Snapshot struct {
	Cluster  string
	Time     time.Time // when the round finished
	Duration time.Duration
	// Success: a member list is known and at least one member answered.
	Success bool

	ClusterID uint64
	Version   string // cluster version from a member's /version

	Members []MemberState // sorted by name, then ID

	VotingMembers    int
	Learners         int
	HealthyVoting    int
	QuorumSize       int
	FailureTolerance int
	// HasQuorum: at least QuorumSize voting members served a linearizable
	// read in this round (never with fewer healthy members than that).
	HasQuorum bool
	// Quorum tells an election from a quorum loss: QuorumElecting while a
	// quorum of voting members answers but no leader serves yet, for less
	// than the election grace; QuorumLost past it, or at once when fewer
	// than a quorum of voting members answer at all.
	Quorum     QuorumState
	HasLeader  bool
	LeaderID   uint64
	RaftTerm   uint64
	Revision   int64
	SplitBrain bool

	LeaderChanges     uint64
	LastLeaderChange  time.Time // zero until a change is observed
	MembershipChanges uint64
	// LeaderHistory holds the most recent changes, oldest first.
	LeaderHistory []LeaderChange

	// Certs are the certificate expiries last read (nil without TLS).
	Certs []CertExpiry
	// HashKV is the last conclusive KV hash comparison (nil: none yet, or
	// the check is off).
	HashKV *HashKVResult
}

// MemberState is one member as seen in one round.
type MemberState struct {
	ID         uint64
	Name       string
	Endpoint   string // client URL checked; empty for unstarted members
	PeerURLs   []string
	ClientURLs []string
	Learner    bool
	Unstarted  bool

	Up      bool   // answered Status
	Healthy bool   // served a read (linearizable; serializable for learners)
	Err     string // why not up or not healthy, for people
	// Contact is set when the member did not answer because it refused
	// the monitor (ContactAuthFailed, ContactTLSMismatch): the member may
	// well be up, the monitor's credentials or TLS settings are wrong.
	// Empty when it answered or could not be reached at all (down).
	Contact string
	// LastSeen is when the member last answered Status (zero if never).
	LastSeen time.Time

	// From the member's Status (valid when Up).
	Version          string
	DBSize           int64
	DBSizeInUse      int64
	DBQuota          int64 // from Status on 3.6+, else the configured quota
	RaftTerm         uint64
	RaftIndex        uint64
	RaftAppliedIndex uint64
	Leader           uint64 // the leader this member follows (0: none)
	Revision         int64
	Alarms           []string // NOSPACE, CORRUPT raised for this member

	IsLeader     bool
	Partitioned  bool
	RaftIndexLag uint64
	RaftApplyLag uint64

	statusErrors []string // Status.Errors: alarms of the whole cluster
	readTimedOut bool     // the health read hit its deadline
}

// QuorumState is the cluster's quorum as the monitor sees it.
type QuorumState string

// Quorum states.
const (
	QuorumOK       QuorumState = "ok"
	QuorumElecting QuorumState = "electing"
	QuorumLost     QuorumState = "lost"
)

// State is what a view shows for the member: "up", "down", or
// "unreachable" when it refused the monitor (see Contact).
func (m *MemberState) State() string {
	switch {
	case m.Up:
		return "up"
	case m.Contact != "":
		return "unreachable"
	}
	return "down"
}

// Label is the member's `member` label: its name, or its hex ID when it has
// none (unstarted members).
func (m *MemberState) Label() string {
	if m.Name != "" {
		return m.Name
	}
	if m.ID != 0 {
		return IDHex(m.ID)
	}
	return m.Endpoint
}

// IDHex formats a member or cluster ID the way etcdctl prints it.
func IDHex(id uint64) string { return strconv.FormatUint(id, 16) }

// LeaderChange is one observed change of leader.
type LeaderChange struct {
	Time     time.Time
	From     uint64 // 0 when there was no leader before
	FromName string
	To       uint64
	ToName   string
	Term     uint64
}

// Leader returns the leading member, nil when there is none.
func (s *Snapshot) Leader() *MemberState {
	if s == nil || !s.HasLeader {
		return nil
	}
	for i := range s.Members {
		if s.Members[i].ID == s.LeaderID {
			return &s.Members[i]
		}
	}
	return nil
}

// Alarms lists the active alarms of the cluster as "member:ALARM".
func (s *Snapshot) Alarms() []string {
	var out []string
	for _, m := range s.Members {
		for _, a := range m.Alarms {
			out = append(out, m.Label()+":"+a)
		}
	}
	return out
}

// Partitioned reports whether any member is partitioned.
func (s *Snapshot) Partitioned() bool {
	for _, m := range s.Members {
		if m.Partitioned {
			return true
		}
	}
	return false
}
