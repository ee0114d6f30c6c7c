package collector

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/etcd-monitor/etcd-monitor/internal/exposition"
)

// The fleet's series are written a family at a time, each family built in
// an arena that the next one reuses: a scrape of 1,000 clusters then holds
// one family's messages (the probe histograms', a few MB) instead of every
// series at once, and leaves almost no garbage. The registry's checks and
// sorting, which were half a scrape's CPU, are not run on them: the
// families below are fixed, and TestScrapeExposition runs them through a
// pedantic registry (ClusterCollector) to check them once.

// snapFamily is one family written from every cluster's snapshot.
type snapFamily struct {
	name, help string
	typ        dto.MetricType
	labels     []string // label names, for the registry's descriptor
	write      func(b *familyBuilder, s *Snapshot, l *snapLabels)
}

// build appends the family's series of every snapshot to ms, built in a;
// labels are the snapshots' label pairs, index for index.
func (f *snapFamily) build(a *exposition.Arena, snaps []*Snapshot, labels []snapLabels, ms []*dto.Metric) []*dto.Metric {
	b := familyBuilder{a: a, counter: f.typ == dto.MetricType_COUNTER, metrics: ms}
	for j, s := range snaps {
		if s != nil {
			f.write(&b, s, &labels[j])
		}
	}
	return b.metrics
}

// snapLabels are one snapshot's label pairs, built once per scrape and
// shared by its series in every family.
type snapLabels struct {
	cluster []*dto.LabelPair   // etcd_cluster
	members [][]*dto.LabelPair // endpoint, etcd_cluster, member (sorted by name)
}

// familyBuilder collects the series of the family being written.
type familyBuilder struct {
	a       *exposition.Arena
	counter bool
	metrics []*dto.Metric
}

func (b *familyBuilder) add(v float64, pairs []*dto.LabelPair) {
	m := b.a.Metric()
	m.Label = pairs
	if b.counter {
		m.Counter = b.a.Counter(v)
	} else {
		m.Gauge = b.a.Gauge(v)
	}
	b.metrics = append(b.metrics, m)
}

// with returns base plus name/value pairs, sorted by name as the registry
// sorts them.
func (b *familyBuilder) with(base []*dto.LabelPair, nameValues ...string) []*dto.LabelPair {
	out := b.a.Pairs(len(base) + len(nameValues)/2)
	n := copy(out, base)
	for i := 0; i < len(nameValues); i += 2 {
		out[n] = b.a.Pair(nameValues[i], nameValues[i+1])
		n++
	}
	slices.SortFunc(out, func(x, y *dto.LabelPair) int { return strings.Compare(x.GetName(), y.GetName()) })
	return out
}

func clusterGauge(name, help string, value func(s *Snapshot) float64) snapFamily {
	return snapFamily{name: name, help: help, typ: dto.MetricType_GAUGE, labels: clusterLabels,
		write: func(b *familyBuilder, s *Snapshot, l *snapLabels) { b.add(value(s), l.cluster) }}
}

func clusterCounter(name, help string, value func(s *Snapshot) float64) snapFamily {
	f := clusterGauge(name, help, value)
	f.typ = dto.MetricType_COUNTER
	return f
}

// memberGauge is a gauge of every member; with upOnly, only of members that
// answered (no stale numbers for a member that did not).
func memberGauge(name, help string, upOnly bool, value func(m *MemberState) float64) snapFamily {
	return snapFamily{name: name, help: help, typ: dto.MetricType_GAUGE, labels: memberLabels,
		write: func(b *familyBuilder, s *Snapshot, l *snapLabels) {
			for i := range s.Members {
				if m := &s.Members[i]; m.Up || !upOnly {
					b.add(value(m), l.members[i])
				}
			}
		}}
}

// snapFamilies are the families of the snapshots, sorted by name.
var snapFamilies = func() []snapFamily {
	fs := []snapFamily{
		{name: "cluster_info", help: "Cluster identity: cluster_id (hex) and the cluster version reported by /version.",
			typ: dto.MetricType_GAUGE, labels: []string{LabelCluster, "cluster_id", "version"},
			write: func(b *familyBuilder, s *Snapshot, l *snapLabels) {
				var id string
				if s.ClusterID != 0 {
					id = IDHex(s.ClusterID)
				}
				b.add(1, b.with(l.cluster, "cluster_id", id, "version", s.Version))
			}},
		clusterGauge("cluster_members", "Voting members in the member list (unstarted members count, and count as down).",
			func(s *Snapshot) float64 { return float64(s.VotingMembers) }),
		clusterGauge("cluster_learners", "Learners in the member list.",
			func(s *Snapshot) float64 { return float64(s.Learners) }),
		clusterGauge("cluster_members_healthy", "Voting members that served a linearizable read in the last check.",
			func(s *Snapshot) float64 { return float64(s.HealthyVoting) }),
		clusterGauge("cluster_quorum_size", "Votes needed for quorum: floor(voting members/2)+1.",
			func(s *Snapshot) float64 { return float64(s.QuorumSize) }),
		clusterGauge("cluster_has_quorum", "1 if at least a quorum of voting members served a linearizable read in the last check.",
			func(s *Snapshot) float64 { return b2f(s.HasQuorum) }),
		clusterGauge("cluster_failure_tolerance", "Healthy voting members minus quorum size, never below 0: how many more members may fail.",
			func(s *Snapshot) float64 { return float64(s.FailureTolerance) }),
		clusterGauge("cluster_has_leader", "1 if the reachable members agree on a leader.",
			func(s *Snapshot) float64 { return b2f(s.HasLeader) }),
		clusterGauge("cluster_electing", "1 while a quorum of voting members answers but no leader serves reads yet, for less than the election grace: an election, not (yet) a quorum loss.",
			func(s *Snapshot) float64 { return b2f(s.Quorum == QuorumElecting) }),
		clusterCounter("cluster_leader_changes_total", "Leader changes observed by the monitor.",
			func(s *Snapshot) float64 { return float64(s.LeaderChanges) }),
		clusterGauge("cluster_raft_term", "Highest raft term seen; its increase() counts elections the poll missed.",
			func(s *Snapshot) float64 { return float64(s.RaftTerm) }),
		{name: "cluster_last_leader_change_timestamp_seconds", help: "When the monitor last observed a leader change.",
			typ: dto.MetricType_GAUGE, labels: clusterLabels,
			write: func(b *familyBuilder, s *Snapshot, l *snapLabels) {
				if !s.LastLeaderChange.IsZero() {
					b.add(float64(s.LastLeaderChange.UnixMilli())/1e3, l.cluster)
				}
			}},
		clusterGauge("cluster_split_brain", "1 if reachable members named different leaders in 2 or more consecutive checks.",
			func(s *Snapshot) float64 { return b2f(s.SplitBrain) }),
		clusterCounter("cluster_membership_changes_total", "Members added or removed since the monitor started.",
			func(s *Snapshot) float64 { return float64(s.MembershipChanges) }),
		clusterGauge("cluster_revision", "Newest store revision seen; its rate is the write rate (probe writes included).",
			func(s *Snapshot) float64 { return float64(s.Revision) }),
		clusterGauge("check_duration_seconds", "Duration of the last background check round.",
			func(s *Snapshot) float64 { return s.Duration.Seconds() }),
		clusterGauge("check_success", "1 if the last check obtained a member list and reached at least one member.",
			func(s *Snapshot) float64 { return b2f(s.Success) }),
		{name: "last_check_timestamp_seconds", help: "When the cluster was last checked (member and endpoint empty), and when each member last answered its Status call.",
			typ: dto.MetricType_GAUGE, labels: memberLabels,
			write: func(b *familyBuilder, s *Snapshot, l *snapLabels) {
				b.add(float64(s.Time.UnixMilli())/1e3, b.with(l.cluster, LabelEndpoint, "", LabelMember, ""))
				for i := range s.Members {
					if m := &s.Members[i]; !m.LastSeen.IsZero() {
						b.add(float64(m.LastSeen.UnixMilli())/1e3, l.members[i])
					}
				}
			}},
		{name: "tls_cert_not_after_timestamp_seconds", help: "Expiry of a certificate: role server (member client URL), peer (member peer URL), ca (earliest in the CA bundle), client (the monitor's own).",
			typ: dto.MetricType_GAUGE, labels: []string{LabelCluster, LabelEndpoint, "role"},
			write: func(b *familyBuilder, s *Snapshot, l *snapLabels) {
				for _, ce := range s.Certs {
					b.add(float64(ce.NotAfter.Unix()), b.with(l.cluster, LabelEndpoint, ce.Endpoint, "role", ce.Role))
				}
			}},
		{name: "cluster_hashkv_consistent", help: "1 if the members' KV hashes agreed at the last comparison (members with the same compact revision, at the same revision).",
			typ: dto.MetricType_GAUGE, labels: clusterLabels,
			write: func(b *familyBuilder, s *Snapshot, l *snapLabels) {
				if s.HashKV != nil {
					b.add(b2f(s.HashKV.Consistent), l.cluster)
				}
			}},

		memberGauge("member_up", "1 if the member answered its Status call in the last check.", false,
			func(m *MemberState) float64 { return b2f(m.Up) }),
		memberGauge("member_healthy", "1 if a linearizable read through this member succeeded (serializable for learners; permission errors and alarms count as served).", false,
			func(m *MemberState) float64 { return b2f(m.Healthy) }),
		memberGauge("member_partitioned", "1 if the member is reachable but for 2+ checks had no leader, another term than the majority, or a raft index standing still while the leader's advanced.", false,
			func(m *MemberState) float64 { return b2f(m.Partitioned) }),
		memberGauge("member_is_leader", "1 if the member is the cluster's leader.", false,
			func(m *MemberState) float64 { return b2f(m.IsLeader) }),
		memberGauge("member_is_learner", "1 if the member is a learner.", false,
			func(m *MemberState) float64 { return b2f(m.Learner) }),
		{name: "member_info", help: "Member identity and server version (version skew shows here).",
			typ: dto.MetricType_GAUGE, labels: append(slices.Clone(memberLabels), "member_id", "peer_urls", "version"),
			write: func(b *familyBuilder, s *Snapshot, l *snapLabels) {
				for i := range s.Members {
					m := &s.Members[i]
					var id string
					if m.ID != 0 {
						id = IDHex(m.ID)
					}
					b.add(1, b.with(l.members[i], "member_id", id, "peer_urls", strings.Join(m.PeerURLs, ","), "version", m.Version))
				}
			}},
		{name: "member_contact_error", help: "1 if the member refused the monitor: reason auth_failed (credentials) or tls_mismatch (CA, certificate); the member itself may be up.",
			typ: dto.MetricType_GAUGE, labels: append(slices.Clone(memberLabels), "reason"),
			write: func(b *familyBuilder, s *Snapshot, l *snapLabels) {
				for i := range s.Members {
					if m := &s.Members[i]; m.Contact != "" {
						b.add(1, b.with(l.members[i], "reason", m.Contact))
					}
				}
			}},
		{name: "member_alarm", help: "An active alarm (NOSPACE, CORRUPT) on this member.",
			typ: dto.MetricType_GAUGE, labels: append(slices.Clone(memberLabels), "alarm"),
			write: func(b *familyBuilder, s *Snapshot, l *snapLabels) {
				for i := range s.Members {
					for _, a := range s.Members[i].Alarms {
						b.add(1, b.with(l.members[i], "alarm", a))
					}
				}
			}},
		memberGauge("member_db_size_bytes", "Physical backend size (what the quota and NOSPACE use).", true,
			func(m *MemberState) float64 { return float64(m.DBSize) }),
		memberGauge("member_db_size_in_use_bytes", "Logical backend size in use; the difference to db_size is reclaimable by defragmentation.", true,
			func(m *MemberState) float64 { return float64(m.DBSizeInUse) }),
		memberGauge("member_db_quota_bytes", "Backend quota: from Status on etcd 3.6+, else the configured --etcd.quota-backend-bytes.", true,
			func(m *MemberState) float64 { return float64(m.DBQuota) }),
		memberGauge("member_raft_term", "Raft term of the member.", true,
			func(m *MemberState) float64 { return float64(m.RaftTerm) }),
		memberGauge("member_raft_index", "Raft index of the member.", true,
			func(m *MemberState) float64 { return float64(m.RaftIndex) }),
		memberGauge("member_raft_applied_index", "Raft applied index of the member.", true,
			func(m *MemberState) float64 { return float64(m.RaftAppliedIndex) }),
		memberGauge("member_raft_index_lag", "Leader's raft index minus this member's, never below 0 (polls are not atomic: alert with a for).", true,
			func(m *MemberState) float64 { return float64(m.RaftIndexLag) }),
		memberGauge("member_raft_apply_lag", "Raft index minus applied index (etcd refuses requests past 5000).", true,
			func(m *MemberState) float64 { return float64(m.RaftApplyLag) }),
	}
	for i := range fs {
		fs[i].name = prometheus.BuildFQName(namespace, "", fs[i].name)
	}
	slices.SortFunc(fs, func(a, b snapFamily) int { return strings.Compare(a.name, b.name) })
	return fs
}()

// familyWriter writes the fleet's families. It keeps its arenas between
// scrapes; it is not safe for concurrent use.
type familyWriter struct {
	labels, family exposition.Arena
	snapLabels     []snapLabels
	mf             dto.MetricFamily
	metrics        []*dto.Metric
}

// write calls fn with every family of the snapshots and probe metrics, one
// at a time, snapshots' families first, each sorted by name. A family is
// valid only during its call. Series are in the order of snaps and of each
// snapshot's members. An error of fn ends the writing.
func (w *familyWriter) write(snaps []*Snapshot, probes []*ProbeMetrics, fn func(*dto.MetricFamily) error) error {
	defer w.labels.Reset()
	w.snapLabels = w.snapLabels[:0]
	for _, s := range snaps {
		w.snapLabels = append(w.snapLabels, newSnapLabels(&w.labels, s))
	}
	for i := range snapFamilies {
		f := &snapFamilies[i]
		w.metrics = f.build(&w.family, snaps, w.snapLabels, w.metrics[:0])
		if err := w.emit(f.name, f.help, f.typ, w.metrics, fn); err != nil {
			return err
		}
	}
	return writeProbeFamilies(probes, &w.family, w.metrics[:0], func(name, help string, typ dto.MetricType, ms []*dto.Metric) error {
		w.metrics = ms
		return w.emit(name, help, typ, ms, fn)
	})
}

// emit hands out one family (none without series: the exposition formats
// have no empty families) and takes its messages back.
func (w *familyWriter) emit(name, help string, typ dto.MetricType, ms []*dto.Metric, fn func(*dto.MetricFamily) error) error {
	defer w.family.Reset()
	if len(ms) == 0 {
		return nil
	}
	w.mf.Name, w.mf.Help, w.mf.Type, w.mf.Metric = proto.String(name), proto.String(help), typ.Enum(), ms
	return fn(&w.mf)
}

func newSnapLabels(a *exposition.Arena, s *Snapshot) snapLabels {
	if s == nil {
		return snapLabels{}
	}
	cl := a.Pair(LabelCluster, s.Cluster)
	l := snapLabels{cluster: a.Pairs(1), members: make([][]*dto.LabelPair, len(s.Members))}
	l.cluster[0] = cl
	for i := range s.Members {
		m := &s.Members[i]
		p := a.Pairs(3) // sorted by name: endpoint, etcd_cluster, member
		p[0], p[1], p[2] = a.Pair(LabelEndpoint, m.Endpoint), cl, a.Pair(LabelMember, m.Label())
		l.members[i] = p
	}
	return l
}
