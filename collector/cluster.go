package collector

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

const namespace = "etcd_monitor"

// Label names shared by every series (docs/architecture.md, "The metric contract").
const (
	LabelCluster  = "etcd_cluster"
	LabelMember   = "member"
	LabelEndpoint = "endpoint"
)

var (
	clusterLabels = []string{LabelCluster}
	memberLabels  = []string{LabelCluster, LabelMember, LabelEndpoint}
)

func newDesc(name, help string, labels []string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, append(append([]string(nil), labels...), extra...), nil)
}

// SnapshotSource lists the latest snapshot of every watched cluster.
type SnapshotSource interface {
	Snapshots() []*Snapshot
}

// ClusterCollector exposes the checkers' latest snapshots. It only reads
// published snapshots, so a scrape costs microseconds and never waits on a
// member.
type ClusterCollector struct {
	src SnapshotSource

	info, members, learners, healthy, quorumSize, hasQuorum, tolerance, hasLeader *prometheus.Desc
	leaderChanges, raftTerm, lastLeaderChange, splitBrain, membershipChanges      *prometheus.Desc
	revision, electing                                                            *prometheus.Desc

	checkDuration, checkSuccess, lastCheck *prometheus.Desc

	mUp, mHealthy, mPartitioned, mLeader, mLearner, mInfo *prometheus.Desc
	mDBSize, mDBInUse, mDBQuota, mTerm, mIndex, mApplied  *prometheus.Desc
	mIndexLag, mApplyLag, mAlarm, mContact                *prometheus.Desc

	certNotAfter, hashConsistent *prometheus.Desc
}

// NewClusterCollector returns a collector over src.
func NewClusterCollector(src SnapshotSource) *ClusterCollector {
	return &ClusterCollector{
		src:               src,
		info:              newDesc("cluster_info", "Cluster identity: cluster_id (hex) and the cluster version reported by /version.", clusterLabels, "cluster_id", "version"),
		members:           newDesc("cluster_members", "Voting members in the member list (unstarted members count, and count as down).", clusterLabels),
		learners:          newDesc("cluster_learners", "Learners in the member list.", clusterLabels),
		healthy:           newDesc("cluster_members_healthy", "Voting members that served a linearizable read in the last check.", clusterLabels),
		quorumSize:        newDesc("cluster_quorum_size", "Votes needed for quorum: floor(voting members/2)+1.", clusterLabels),
		hasQuorum:         newDesc("cluster_has_quorum", "1 if at least a quorum of voting members served a linearizable read in the last check.", clusterLabels),
		tolerance:         newDesc("cluster_failure_tolerance", "Healthy voting members minus quorum size, never below 0: how many more members may fail.", clusterLabels),
		hasLeader:         newDesc("cluster_has_leader", "1 if the reachable members agree on a leader.", clusterLabels),
		leaderChanges:     newDesc("cluster_leader_changes_total", "Leader changes observed by the monitor.", clusterLabels),
		raftTerm:          newDesc("cluster_raft_term", "Highest raft term seen; its increase() counts elections the poll missed.", clusterLabels),
		lastLeaderChange:  newDesc("cluster_last_leader_change_timestamp_seconds", "When the monitor last observed a leader change.", clusterLabels),
		splitBrain:        newDesc("cluster_split_brain", "1 if reachable members named different leaders in 2 or more consecutive checks.", clusterLabels),
		membershipChanges: newDesc("cluster_membership_changes_total", "Members added or removed since the monitor started.", clusterLabels),
		electing:          newDesc("cluster_electing", "1 while a quorum of voting members answers but no leader serves reads yet, for less than the election grace: an election, not (yet) a quorum loss.", clusterLabels),
		revision:          newDesc("cluster_revision", "Newest store revision seen; its rate is the write rate (probe writes included).", clusterLabels),

		checkDuration: newDesc("check_duration_seconds", "Duration of the last background check round.", clusterLabels),
		checkSuccess:  newDesc("check_success", "1 if the last check obtained a member list and reached at least one member.", clusterLabels),
		lastCheck:     newDesc("last_check_timestamp_seconds", "When the cluster was last checked (member and endpoint empty), and when each member last answered its Status call.", memberLabels),

		mUp:          newDesc("member_up", "1 if the member answered its Status call in the last check.", memberLabels),
		mHealthy:     newDesc("member_healthy", "1 if a linearizable read through this member succeeded (serializable for learners; permission errors and alarms count as served).", memberLabels),
		mPartitioned: newDesc("member_partitioned", "1 if the member is reachable but for 2+ checks had no leader, another term than the majority, or a raft index standing still while the leader's advanced.", memberLabels),
		mLeader:      newDesc("member_is_leader", "1 if the member is the cluster's leader.", memberLabels),
		mLearner:     newDesc("member_is_learner", "1 if the member is a learner.", memberLabels),
		mInfo:        newDesc("member_info", "Member identity and server version (version skew shows here).", memberLabels, "member_id", "peer_urls", "version"),
		mDBSize:      newDesc("member_db_size_bytes", "Physical backend size (what the quota and NOSPACE use).", memberLabels),
		mDBInUse:     newDesc("member_db_size_in_use_bytes", "Logical backend size in use; the difference to db_size is reclaimable by defragmentation.", memberLabels),
		mDBQuota:     newDesc("member_db_quota_bytes", "Backend quota: from Status on etcd 3.6+, else the configured --etcd.quota-backend-bytes.", memberLabels),
		mTerm:        newDesc("member_raft_term", "Raft term of the member.", memberLabels),
		mIndex:       newDesc("member_raft_index", "Raft index of the member.", memberLabels),
		mApplied:     newDesc("member_raft_applied_index", "Raft applied index of the member.", memberLabels),
		mIndexLag:    newDesc("member_raft_index_lag", "Leader's raft index minus this member's, never below 0 (polls are not atomic: alert with a for).", memberLabels),
		mApplyLag:    newDesc("member_raft_apply_lag", "Raft index minus applied index (etcd refuses requests past 5000).", memberLabels),
		mContact:     newDesc("member_contact_error", "1 if the member refused the monitor: reason auth_failed (credentials) or tls_mismatch (CA, certificate); the member itself may be up.", memberLabels, "reason"),
		mAlarm:       newDesc("member_alarm", "An active alarm (NOSPACE, CORRUPT) on this member.", memberLabels, "alarm"),

		certNotAfter:   newDesc("tls_cert_not_after_timestamp_seconds", "Expiry of a certificate: role server (member client URL), peer (member peer URL), ca (earliest in the CA bundle), client (the monitor's own).", clusterLabels, LabelEndpoint, "role"),
		hashConsistent: newDesc("cluster_hashkv_consistent", "1 if the members' KV hashes agreed at the last comparison (members with the same compact revision, at the same revision).", clusterLabels),
	}
}

// Describe implements prometheus.Collector.
func (c *ClusterCollector) Describe(ch chan<- *prometheus.Desc) {
	prometheus.DescribeByCollect(c, ch)
}

// Collect implements prometheus.Collector.
func (c *ClusterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src.Snapshots() {
		if s != nil {
			for _, m := range c.snapshotMetrics(s) {
				ch <- m
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// seriesSample is one series of a snapshot. A monitor of a thousand clusters
// writes some 60,000 of them per scrape: prometheus.MustNewConstMetric
// would build and sort a fresh set of label pairs for each, so the pairs
// are built once per cluster and member and shared by their samples
// (Write hands out the same pairs: a gathered dto.Metric is read-only).
type seriesSample struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair // sorted by name, as prometheus.MakeLabelPairs sorts them
	gauge   *dto.Gauge       // one of gauge and counter is set
	counter *dto.Counter
}

func (s *seriesSample) Desc() *prometheus.Desc { return s.desc }

func (s *seriesSample) Write(out *dto.Metric) error {
	out.Label, out.Gauge, out.Counter = s.labels, s.gauge, s.counter
	return nil
}

// snapshotMetrics returns the series of one snapshot.
func (c *ClusterCollector) snapshotMetrics(s *Snapshot) []prometheus.Metric {
	out := make([]prometheus.Metric, 0, 20+16*len(s.Members))
	g := func(d *prometheus.Desc, v float64, labels []*dto.LabelPair) {
		out = append(out, &seriesSample{desc: d, labels: labels, gauge: &dto.Gauge{Value: &v}})
	}
	cnt := func(d *prometheus.Desc, v float64, labels []*dto.LabelPair) {
		out = append(out, &seriesSample{desc: d, labels: labels, counter: &dto.Counter{Value: &v}})
	}
	pairs := prometheus.MakeLabelPairs
	cl := s.Cluster
	clp := pairs(c.members, []string{cl}) // every desc with clusterLabels only
	var clusterID string
	if s.ClusterID != 0 {
		clusterID = IDHex(s.ClusterID)
	}
	g(c.info, 1, pairs(c.info, []string{cl, clusterID, s.Version}))
	g(c.members, float64(s.VotingMembers), clp)
	g(c.learners, float64(s.Learners), clp)
	g(c.healthy, float64(s.HealthyVoting), clp)
	g(c.quorumSize, float64(s.QuorumSize), clp)
	g(c.hasQuorum, b2f(s.HasQuorum), clp)
	g(c.tolerance, float64(s.FailureTolerance), clp)
	g(c.hasLeader, b2f(s.HasLeader), clp)
	g(c.electing, b2f(s.Quorum == QuorumElecting), clp)
	cnt(c.leaderChanges, float64(s.LeaderChanges), clp)
	g(c.raftTerm, float64(s.RaftTerm), clp)
	if !s.LastLeaderChange.IsZero() {
		g(c.lastLeaderChange, float64(s.LastLeaderChange.UnixMilli())/1e3, clp)
	}
	g(c.splitBrain, b2f(s.SplitBrain), clp)
	cnt(c.membershipChanges, float64(s.MembershipChanges), clp)
	g(c.revision, float64(s.Revision), clp)
	g(c.checkDuration, s.Duration.Seconds(), clp)
	g(c.checkSuccess, b2f(s.Success), clp)
	g(c.lastCheck, float64(s.Time.UnixMilli())/1e3, pairs(c.lastCheck, []string{cl, "", ""}))
	for _, ce := range s.Certs {
		g(c.certNotAfter, float64(ce.NotAfter.Unix()), pairs(c.certNotAfter, []string{cl, ce.Endpoint, ce.Role}))
	}
	if s.HashKV != nil {
		g(c.hashConsistent, b2f(s.HashKV.Consistent), clp)
	}

	for i := range s.Members {
		m := &s.Members[i]
		lv := []string{cl, m.Label(), m.Endpoint}
		mlp := pairs(c.mUp, lv) // every desc with memberLabels only
		g(c.mUp, b2f(m.Up), mlp)
		g(c.mHealthy, b2f(m.Healthy), mlp)
		g(c.mPartitioned, b2f(m.Partitioned), mlp)
		g(c.mLeader, b2f(m.IsLeader), mlp)
		g(c.mLearner, b2f(m.Learner), mlp)
		var id string
		if m.ID != 0 {
			id = IDHex(m.ID)
		}
		g(c.mInfo, 1, pairs(c.mInfo, append(lv, id, strings.Join(m.PeerURLs, ","), m.Version)))
		if !m.LastSeen.IsZero() {
			g(c.lastCheck, float64(m.LastSeen.UnixMilli())/1e3, mlp)
		}
		if m.Contact != "" {
			g(c.mContact, 1, pairs(c.mContact, append(lv, m.Contact)))
		}
		for _, a := range m.Alarms {
			g(c.mAlarm, 1, pairs(c.mAlarm, append(lv, a)))
		}
		if !m.Up {
			continue // no stale numbers for a member that did not answer
		}
		g(c.mDBSize, float64(m.DBSize), mlp)
		g(c.mDBInUse, float64(m.DBSizeInUse), mlp)
		g(c.mDBQuota, float64(m.DBQuota), mlp)
		g(c.mTerm, float64(m.RaftTerm), mlp)
		g(c.mIndex, float64(m.RaftIndex), mlp)
		g(c.mApplied, float64(m.RaftAppliedIndex), mlp)
		g(c.mIndexLag, float64(m.RaftIndexLag), mlp)
		g(c.mApplyLag, float64(m.RaftApplyLag), mlp)
	}
	return out
}
