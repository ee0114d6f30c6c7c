// Package api serves the REST API (/health, /api/v1/…) from the checkers'
// snapshots, and defines the status views that the status page and the
// `check` command render as well, so all three always say the same thing.
package api

import (
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
)

// Overall states of a cluster, shared by the API, the page and `check`.
const (
	StateHealthy     = "healthy"     // quorum, a leader, every member healthy, no alarm
	StateDegraded    = "degraded"    // serving, but something needs attention
	StateUnavailable = "unavailable" // no quorum, or not reachable at all
	StateUnknown     = "unknown"     // no check has finished yet
)

// ClusterStatus is GET /api/v1/cluster/status. The first fields are the
// seed's; the rest are what an operator asks next.
type ClusterStatus struct {
	Healthy          bool       `json:"healthy"`
	LeaderID         uint64     `json:"leader_id"`
	LeaderIDHex      string     `json:"leader_id_hex"`
	MemberCount      int        `json:"member_count"`
	QuorumSize       int        `json:"quorum_size"`
	HasLeader        bool       `json:"has_leader"`
	LeaderChanges    uint64     `json:"leader_changes"`
	LastLeaderChange *time.Time `json:"last_leader_change"`
	NetworkPartition bool       `json:"network_partition"`
	Alarms           []Alarm    `json:"alarms"`
	LastCheck        *time.Time `json:"last_check"`

	Cluster          string         `json:"cluster"`
	State            string         `json:"state"`
	Problems         []string       `json:"problems"`
	ClusterID        string         `json:"cluster_id"`
	Version          string         `json:"version"`
	LeaderName       string         `json:"leader_name"`
	HasQuorum        bool           `json:"has_quorum"`
	HealthyMembers   int            `json:"healthy_members"`
	LearnerCount     int            `json:"learner_count"`
	FailureTolerance int            `json:"failure_tolerance"`
	SplitBrain       bool           `json:"split_brain"`
	RaftTerm         uint64         `json:"raft_term"`
	Revision         int64          `json:"revision"`
	HashKVConsistent *bool          `json:"hashkv_consistent"`
	Members          []MemberStatus `json:"members"`
}

// Alarm is an active etcd alarm.
type Alarm struct {
	Member string `json:"member"`
	Alarm  string `json:"alarm"`
}

// MemberStatus is one member in ClusterStatus.
type MemberStatus struct {
	Name             string     `json:"name"`
	ID               uint64     `json:"id"`
	IDHex            string     `json:"id_hex"`
	Endpoint         string     `json:"endpoint"`
	Up               bool       `json:"up"`
	Healthy          bool       `json:"healthy"`
	Leader           bool       `json:"leader"`
	Learner          bool       `json:"learner"`
	Partitioned      bool       `json:"partitioned"`
	DBSize           int64      `json:"db_size"`
	DBSizeInUse      int64      `json:"db_size_in_use"`
	DBQuota          int64      `json:"db_quota"`
	RaftTerm         uint64     `json:"raft_term"`
	RaftIndex        uint64     `json:"raft_index"`
	RaftAppliedIndex uint64     `json:"raft_applied_index"`
	RaftIndexLag     uint64     `json:"raft_index_lag"`
	RaftApplyLag     uint64     `json:"raft_apply_lag"`
	Version          string     `json:"version"`
	Alarms           []string   `json:"alarms"`
	ProbeP99Ms       *float64   `json:"probe_p99_ms"`
	LastSeen         *time.Time `json:"last_seen"`
	Error            string     `json:"error,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// ms turns a duration into milliseconds with microsecond precision.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// latencyWindow is the sliding window the API's latency figures cover.
const latencyWindow = 5 * time.Minute

// BuildStatus turns a checker's latest snapshot into the status view.
func BuildStatus(ch *collector.Checker) ClusterStatus {
	s := ch.Snapshot()
	cs := ClusterStatus{Cluster: ch.Name(), State: StateUnknown, Alarms: []Alarm{}, Members: []MemberStatus{}, Problems: []string{}}
	if s == nil {
		cs.Problems = append(cs.Problems, "no check has finished yet")
		return cs
	}
	p99 := map[string]float64{}
	for _, l := range ch.RecentLatency(latencyWindow) {
		if l.Operation == collector.OpGet || (l.Operation == collector.OpGetSerializable && p99[l.Member] == 0) {
			p99[l.Member] = ms(l.P99)
		}
	}
	cs.LeaderID = s.LeaderID
	if s.LeaderID != 0 {
		cs.LeaderIDHex = collector.IDHex(s.LeaderID)
	}
	if l := s.Leader(); l != nil {
		cs.LeaderName = l.Label()
	}
	cs.MemberCount = s.VotingMembers
	cs.LearnerCount = s.Learners
	cs.QuorumSize = s.QuorumSize
	cs.HasQuorum = s.HasQuorum
	cs.HasLeader = s.HasLeader
	cs.HealthyMembers = s.HealthyVoting
	cs.FailureTolerance = s.FailureTolerance
	cs.LeaderChanges = s.LeaderChanges
	cs.LastLeaderChange = timePtr(s.LastLeaderChange)
	cs.NetworkPartition = s.Partitioned()
	cs.SplitBrain = s.SplitBrain
	cs.LastCheck = timePtr(s.Time)
	cs.Version = s.Version
	cs.RaftTerm = s.RaftTerm
	cs.Revision = s.Revision
	if s.ClusterID != 0 {
		cs.ClusterID = collector.IDHex(s.ClusterID)
	}
	if s.HashKV != nil {
		v := s.HashKV.Consistent
		cs.HashKVConsistent = &v
	}
	for _, m := range s.Members {
		ms := MemberStatus{
			Name: m.Label(), ID: m.ID, Endpoint: m.Endpoint, Up: m.Up, Healthy: m.Healthy,
			Leader: m.IsLeader, Learner: m.Learner, Partitioned: m.Partitioned,
			Version: m.Version, Alarms: append([]string{}, m.Alarms...), LastSeen: timePtr(m.LastSeen),
			Error: m.Err,
		}
		if m.ID != 0 {
			ms.IDHex = collector.IDHex(m.ID)
		}
		if m.Up {
			ms.DBSize, ms.DBSizeInUse, ms.DBQuota = m.DBSize, m.DBSizeInUse, m.DBQuota
			ms.RaftTerm, ms.RaftIndex, ms.RaftAppliedIndex = m.RaftTerm, m.RaftIndex, m.RaftAppliedIndex
			ms.RaftIndexLag, ms.RaftApplyLag = m.RaftIndexLag, m.RaftApplyLag
		}
		// A member that is down has no current latency, whatever it had
		// in the last minutes.
		if v, ok := p99[m.Label()]; ok && m.Up {
			ms.ProbeP99Ms = &v
		}
		for _, a := range m.Alarms {
			cs.Alarms = append(cs.Alarms, Alarm{Member: m.Label(), Alarm: a})
		}
		cs.Members = append(cs.Members, ms)
	}
	cs.State, cs.Problems = judge(s)
	cs.Healthy = cs.State == StateHealthy
	return cs
}

// judge decides the overall state and lists what is wrong, worst first.
func judge(s *collector.Snapshot) (string, []string) {
	problems := []string{}
	state := StateHealthy
	worse := func(st, p string) {
		problems = append(problems, p)
		if st == StateUnavailable || state == StateHealthy {
			state = st
		}
	}
	if !s.Success {
		worse(StateUnavailable, "no member could be reached")
	} else if !s.HasQuorum {
		worse(StateUnavailable, "quorum lost: no member can serve a linearizable read")
	}
	if s.Success && !s.HasLeader {
		worse(StateDegraded, "no leader")
	}
	if s.SplitBrain {
		worse(StateDegraded, "split brain: members name different leaders")
	}
	for _, m := range s.Members {
		switch {
		case !m.Up:
			worse(StateDegraded, "member "+m.Label()+" is down")
		case !m.Healthy:
			worse(StateDegraded, "member "+m.Label()+" cannot serve reads")
		case m.Partitioned:
			worse(StateDegraded, "member "+m.Label()+" is partitioned")
		}
		for _, a := range m.Alarms {
			worse(StateDegraded, "alarm "+a+" on member "+m.Label())
		}
	}
	if s.HasQuorum && s.FailureTolerance == 0 && s.VotingMembers > 1 {
		problems = append(problems, "no failure tolerance: one more member lost ends quorum")
		if state == StateHealthy {
			state = StateDegraded
		}
	}
	if s.HashKV != nil && !s.HashKV.Consistent {
		worse(StateDegraded, "members' KV hashes differ")
	}
	return state, problems
}
