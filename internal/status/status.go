// Package status is the one model of a watched cluster's state and the one
// judgement of it (healthy, degraded, unavailable). The REST API, the status
// page and the `check` command all render a ClusterStatus built here, in the
// words of text.go, so a script, a browser and an API client never disagree
// about a cluster.
//
// It reads a cluster through Source, which *collector.Checker satisfies, so
// views can be tested from hand-built snapshots without starting etcd.
package status

import (
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
)

// Source is what the model reads of one watched cluster: its name and
// settings, the latest published snapshot, and the recent probe latencies
// and write rate. *collector.Checker is one; tests build their own.
type Source interface {
	Name() string
	// Config gives the check interval (how fresh a snapshot should be)
	// and the connection (for the benchmark API).
	Config() collector.ClusterConfig
	// Snapshot is nil until the first round has finished.
	Snapshot() *collector.Snapshot
	// RecentLatency summarises successful probes per member and operation
	// over the last window; RecentLatencyByOperation merges the members.
	RecentLatency(window time.Duration) []collector.LatencySummary
	RecentLatencyByOperation(window time.Duration) []collector.LatencySummary
	// WriteRate is revisions per second over about the last window, the
	// monitor's own probe writes excluded; ok is false until it is known.
	WriteRate(window time.Duration) (rate float64, ok bool)
}

// Sources turns the running checkers into the model's sources.
func Sources(cs collector.Checkers) []Source {
	out := make([]Source, len(cs))
	for i, c := range cs {
		out[i] = c
	}
	return out
}

// Overall states of a cluster, shared by the API, the page and `check`.
const (
	StateHealthy     = "healthy"     // quorum, a leader, every member healthy, no alarm
	StateDegraded    = "degraded"    // serving, but something needs attention
	StateUnavailable = "unavailable" // no quorum, or not reachable at all
	StateUnknown     = "unknown"     // no check has finished yet
)

// ClusterStatus is GET /api/v1/cluster/status and `check --output=json`.
// The first fields are those of the original etcd-monitor guide's API; the
// rest are what an operator asks next.
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

	Cluster    string   `json:"cluster"`
	State      string   `json:"state"`
	Problems   []string `json:"problems"`
	ClusterID  string   `json:"cluster_id"`
	Version    string   `json:"version"`
	LeaderName string   `json:"leader_name"`
	HasQuorum  bool     `json:"has_quorum"`
	// Quorum is "ok", "electing" (a quorum of members answers, no leader
	// yet, within a few election timeouts) or "lost"; "" before a check.
	Quorum           string         `json:"quorum"`
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
	Name     string `json:"name"`
	ID       uint64 `json:"id"`
	IDHex    string `json:"id_hex"`
	Endpoint string `json:"endpoint"`
	Up       bool   `json:"up"`
	// State is "up", "down", or "unreachable": the member refused the
	// monitor (Contact says why) and may well be up itself.
	State            string     `json:"state"`
	Contact          string     `json:"contact,omitempty"`
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

// TimePtr is t in UTC, nil when zero: JSON null for "never".
func TimePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// Ms turns a duration into milliseconds with microsecond precision, the
// unit of every latency the API and the page show.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// LatencyWindow is the sliding window of the latency figures: the most
// the checkers keep.
const LatencyWindow = 5 * time.Minute

// Build turns a source's latest snapshot into the status view.
func Build(src Source) ClusterStatus {
	s := src.Snapshot()
	cs := ClusterStatus{Cluster: src.Name(), State: StateUnknown, Alarms: []Alarm{}, Members: []MemberStatus{}, Problems: []string{}}
	if s == nil {
		cs.Problems = append(cs.Problems, "no check has finished yet")
		return cs
	}
	p99 := map[string]float64{}
	for _, l := range src.RecentLatency(LatencyWindow) {
		if l.Operation == collector.OpGet || (l.Operation == collector.OpGetSerializable && p99[l.Member] == 0) {
			p99[l.Member] = Ms(l.P99)
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
	cs.Quorum = string(s.Quorum)
	cs.HasLeader = s.HasLeader
	cs.HealthyMembers = s.HealthyVoting
	cs.FailureTolerance = s.FailureTolerance
	cs.LeaderChanges = s.LeaderChanges
	cs.LastLeaderChange = TimePtr(s.LastLeaderChange)
	cs.NetworkPartition = s.Partitioned()
	cs.SplitBrain = s.SplitBrain
	cs.LastCheck = TimePtr(s.Time)
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
			Version: m.Version, Alarms: append([]string{}, m.Alarms...), LastSeen: TimePtr(m.LastSeen),
			Error: m.Err, State: m.State(), Contact: m.Contact,
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

// rank orders the states from best to worst; an unknown cluster (not
// checked yet) ranks above a healthy one, below one known to be sick.
var rank = map[string]int{StateHealthy: 0, StateUnknown: 1, StateDegraded: 2, StateUnavailable: 3}

// Worse reports whether state a is worse than b.
func Worse(a, b string) bool { return rank[a] > rank[b] }

// The running checker is the source in production.
var _ Source = (*collector.Checker)(nil)
