package rules

import "strings"

// The rule definitions. Expressions and annotations are written once with
// ${...} placeholders that render fills from the Config:
//
//	${C}                    the cluster label name
//	${mon METRIC matchers}  METRIC{<monitor selector>,matchers}
//	${etcd METRIC ...}      the same with etcd's own job
//	${node METRIC}          node_exporter series on etcd hosts (cluster label set)
//	${fs METRIC}            the same, restricted to etcd's data filesystem
//	${snap METRIC}          series pushed by `etcd-monitor snapshot save`
//	${t.NAME}               a threshold as a PromQL number (durations in seconds)
//	${h.NAME}               the same threshold for people (50ms, 75%, 6GiB)
//	${w.NAME}               a window as a PromQL duration; ${ws.NAME} in seconds
//	${for}                  the alert's `for` (people's form)
//	${value}                the alert's value formatted for people
//
// {{ ... }} is Prometheus' own template language, evaluated when the alert fires.

const (
	groupMonitorRecording = "etcd-monitor.recording"
	groupEtcdRecording    = "etcd.recording"
	groupMonitor          = "etcd-monitor.monitor"
	groupAvailability     = "etcd-monitor.availability"
	groupProbes           = "etcd-monitor.probes"
	groupCapacity         = "etcd-monitor.capacity"
	groupConsistency      = "etcd-monitor.consistency"
	groupPerformance      = "etcd-monitor.performance"
	groupHosts            = "etcd-monitor.hosts"
	groupBackup           = "etcd-monitor.backup"
)

var groupOrder = []string{
	groupMonitorRecording, groupEtcdRecording,
	groupMonitor, groupAvailability, groupProbes, groupCapacity,
	groupConsistency, groupPerformance, groupHosts, groupBackup,
}

type recordDef struct {
	group  string
	record string
	expr   string
}

type alertDef struct {
	group    string
	name     string
	forKey   string // yaml name in For
	severity string
	expr     string
	summary  string
	desc     string
	value    string // Prometheus template printing $value
	node     bool   // needs node_exporter
	// labels beyond severity, to tell apart rules of one name and
	// severity (their alerts must not share a label set).
	labels map[string]string
}

// Probe outcome rates. The histogram observes successful probes only (a
// failed probe's duration is its timeout, which would drown the latency), so
// attempts are failures plus histogram count. Either side may have no series
// yet (counters with labels appear on their first increment): `or 0 * other`
// keeps the ratio defined.
func probeFailureRatio(by string) string {
	f := "sum by (" + by + ") (rate(${mon etcd_monitor_probe_failures_total}[${w.rate}]))"
	s := "(" + probeSuccesses(by) + ")"
	f0 := "(" + f + " or 0 * " + s + ")"
	s0 := "(" + s + " or 0 * " + f + ")"
	return f0 + "\n/\n(" + f0 + "\n  + " + s0 + " > 0)"
}

// gRPC codes that mean the server failed the request. Canceled (the client
// went away, e.g. every watch that ends), and client mistakes (InvalidArgument,
// NotFound, OutOfRange for a compacted revision, PermissionDenied,
// FailedPrecondition) are not failures of etcd.
const grpcFailureCodes = `grpc_code=~"Unknown|DeadlineExceeded|ResourceExhausted|Internal|Unavailable|DataLoss"`

// Watch and LeaseKeepAlive are long-lived streams: they end when a client,
// a member or a connection goes away, which is not a failed request.
const grpcNotStreams = `grpc_method!~"Watch|LeaseKeepAlive"`

func grpcFailureRatio(by string) string {
	f := "sum by (" + by + ") (rate(${etcd grpc_server_handled_total " + grpcNotStreams + "," + grpcFailureCodes + "}[${w.rate}]))"
	t := "sum by (" + by + ") (rate(${etcd grpc_server_handled_total " + grpcNotStreams + "}[${w.rate}]))"
	return "(" + f + " or 0 * " + t + ")\n/\n(" + t + " >= ${t.grpc_min_request_rate})"
}

// The probe histogram reaches Prometheus in either form or both: classic
// buckets (probeHist_bucket with le, _count, _sum) from the text format or
// with always_scrape_classic_histograms, and the native histogram (one
// series named probeHist) once Prometheus scrapes native histograms
// (scrape_native_histograms, announced as the default from Prometheus 4), which then keeps no
// classic series at all. An expression on one form alone would silently
// have no data (a quantile) or a wrong one (a failure ratio with no
// successes) on the other, so each takes the native form `or` the classic
// one. Both are aggregated to the same labels, so where both exist `or`
// keeps the native one, the finer (schema 3: 8 buckets per doubling, against
// the classic bounds of --probe.buckets, none at all with `none`).
const probeHist = "etcd_monitor_probe_duration_seconds"

// probeQuantile is the q-quantile of the probe latency by the labels by,
// over the range rng ("[5m]", or "[1h] offset 1w"). Unparenthesized: `or`
// binds loosest, so callers combining it with other operators wrap it.
func probeQuantile(q, by, rng string) string {
	return "histogram_quantile(" + q + ", sum by (" + by + ") (rate(${mon " + probeHist + "}" + rng + ")))\nor\n" +
		"histogram_quantile(" + q + ", sum by (" + by + ", le) (rate(${mon " + probeHist + "_bucket}" + rng + ")))"
}

// probeSuccesses is the rate of successful probes (the histogram's count)
// by the labels by, from either form of the histogram. Unparenthesized.
func probeSuccesses(by string) string {
	return "sum by (" + by + ") (histogram_count(rate(${mon " + probeHist + "}[${w.rate}]))) or " +
		"sum by (" + by + ") (rate(${mon " + probeHist + "_count}[${w.rate}]))"
}

// quantile is the q-quantile of one of etcd's own histograms, which etcd
// exposes as classic buckets only.
func quantile(q, by, metric, sel string) string {
	return "histogram_quantile(" + q + ", sum by (" + by + ", le) (rate(${" + sel + " " + metric + "_bucket}[${w.rate}])))"
}

// Voting members that refuse the monitor (its password or client
// certificate is wrong): etcd_monitor_member_up is 0 for them as for a member
// that is down, but they may well serve. The quorum rules count them as
// neither down nor surely healthy: they are left out of the members counted
// down, and EtcdMonitorAccessDenied says what the monitor cannot see. 0 when
// none refuses (contact_error only exists while a member refuses).
const refusedVotingExpr = `count by (${C}) (
  max by (${C}, member, endpoint) (${mon etcd_monitor_member_contact_error}) == 1
  unless on (${C}, member, endpoint) max by (${C}, member, endpoint) (${mon etcd_monitor_member_is_learner}) == 1
)
or
max by (${C}) (${mon etcd_monitor_cluster_members}) * 0`

// The probe rounds due of each cluster, for the probe latency alerts' test
// of a cluster whose rounds start late (probeRoundsStartedLate).
// etcd_monitor_rounds_total counts the rounds a replica ran but has no
// cluster label, so a cluster's rounds are counted from its probes: every
// probe round of a member sends one serializable get, learner or not,
// whatever else fails, so its attempts (the histogram's successes plus
// failures) count the rounds run; a round is due at every slot, so the
// rounds due are those run plus those skipped. The three series have
// different labels, so `or` keeps them all (and defines the sum where any
// of them exists). The histogram's count is taken from either of its forms
// (see probeHist).
func probeRoundsDue(w string) string {
	return `sum by (${C}) (
    histogram_count(rate(${mon ` + probeHist + ` operation="get_serializable"}[` + w + `]))
  or
    rate(${mon ` + probeHist + `_count operation="get_serializable"}[` + w + `])
  or
    rate(${mon etcd_monitor_probe_failures_total operation="get_serializable"}[` + w + `])
  or
    rate(${mon etcd_monitor_rounds_skipped_total kind="probe"}[` + w + `])
)`
}

// probeRoundsStartedLate is the share of a cluster's probe rounds that
// started late, over w, when it is above the threshold. Only the monitor
// starts a round late (its CPU, or no round slot free), whereas a member
// slow enough to hold its round past the next slot gets that slot skipped:
// counting skipped rounds here would hide that member's own latency. A p99
// is made by the slowest 1% of probes, so once that share of rounds ran
// late the p99 may be the monitor's queueing.
func probeRoundsStartedLate(w string) string {
	return "sum by (${C}) (rate(${mon etcd_monitor_rounds_late_total kind=\"probe\"}[" + w + "]))\n/\n" +
		probeRoundsDue(w) + "\n> ${t.monitor_rounds_behind_ratio}"
}

// Recording rules are named level:metric:operation, the level being the
// labels kept; it starts with the cluster label, so names follow the config.
func recordDefs() []recordDef {
	return []recordDef{
		{groupMonitorRecording, "${C}_operation:etcd_monitor_probe_duration_seconds:p50", probeQuantile("0.5", "${C}, operation", "[${w.rate}]")},
		{groupMonitorRecording, "${C}_operation:etcd_monitor_probe_duration_seconds:p95", probeQuantile("0.95", "${C}, operation", "[${w.rate}]")},
		{groupMonitorRecording, "${C}_operation:etcd_monitor_probe_duration_seconds:p99", probeQuantile("0.99", "${C}, operation", "[${w.rate}]")},
		{groupMonitorRecording, "${C}_member_operation:etcd_monitor_probe_duration_seconds:p99", probeQuantile("0.99", "${C}, member, endpoint, operation", "[${w.rate}]")},
		{groupMonitorRecording, "${C}_operation:etcd_monitor_probe_failures:ratio", probeFailureRatio("${C}, operation")},
		{groupMonitorRecording, "${C}_member:etcd_monitor_probe_failures:ratio", probeFailureRatio("${C}, member, endpoint")},
		{groupMonitorRecording, "${C}:etcd_monitor_probe_failures:ratio", probeFailureRatio("${C}")},
		{groupMonitorRecording, "${C}_member:etcd_monitor_member_db_size_bytes:quota_ratio",
			"max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_size_bytes})\n/\n(max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_quota_bytes}) > 0)"},
		{groupMonitorRecording, "${C}_member:etcd_monitor_member_db_size_bytes:fragmentation_ratio",
			"1 - max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_size_in_use_bytes})\n/\n(max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_size_bytes}) > 0)"},
		// The revision only grows (a restore from snapshot starts a new
		// history, which rate() takes for a reset), so its rate is the write
		// rate, probe writes included.
		{groupMonitorRecording, "${C}:etcd_monitor_member_contact_error:voting_count", refusedVotingExpr},
		{groupMonitorRecording, "${C}:etcd_monitor_cluster_revision:rate",
			"max by (${C}) (rate(${mon etcd_monitor_cluster_revision}[${w.rate}]))"},

		{groupEtcdRecording, "${C}_instance:etcd_disk_wal_fsync_duration_seconds:p99", quantile("0.99", "${C}, instance", "etcd_disk_wal_fsync_duration_seconds", "etcd")},
		{groupEtcdRecording, "${C}_instance:etcd_disk_backend_commit_duration_seconds:p99", quantile("0.99", "${C}, instance", "etcd_disk_backend_commit_duration_seconds", "etcd")},
		{groupEtcdRecording, "${C}_instance_to:etcd_network_peer_round_trip_time_seconds:p99", quantile("0.99", "${C}, instance, To", "etcd_network_peer_round_trip_time_seconds", "etcd")},
		{groupEtcdRecording, "${C}_instance:grpc_server_handled:failure_ratio", grpcFailureRatio("${C}, instance")},
		{groupEtcdRecording, "${C}:grpc_server_handled:failure_ratio", grpcFailureRatio("${C}")},
	}
}

// Label-set conventions of the alerts: monitor-derived alerts are aggregated
// to the cluster label (plus member/endpoint or operation), which drops the
// monitor's own job/instance so nobody mistakes the monitor for the sick host,
// and collapses duplicates from monitor replicas. Alerts over etcd's metrics
// keep etcd's `instance`.
func alertDefs() []alertDef {
	const (
		member   = "etcd cluster {{ $labels.${C} }}: member {{ $labels.member }} ({{ $labels.endpoint }})"
		cluster  = "etcd cluster {{ $labels.${C} }}"
		instance = "etcd cluster {{ $labels.${C} }}: member {{ $labels.instance }}"
		// The same in the middle and at the start of a sentence.
		ofMember   = "member {{ $labels.member }} ({{ $labels.endpoint }}) of etcd cluster {{ $labels.${C} }}"
		OfMember   = "Member {{ $labels.member }} ({{ $labels.endpoint }}) of etcd cluster {{ $labels.${C} }}"
		ofInstance = "member {{ $labels.instance }} of etcd cluster {{ $labels.${C} }}"
		OfInstance = "Member {{ $labels.instance }} of etcd cluster {{ $labels.${C} }}"
		seconds    = "{{ $value | humanizeDuration }}"
		percent    = "{{ $value | humanizePercentage }}"
		bytes      = "{{ $value | humanize1024 }}B"
		number     = "{{ $value | humanize }}"
	)
	// Voting members that refuse the monitor, recorded (refusedVotingExpr).
	refusedVoting := "${C}:etcd_monitor_member_contact_error:voting_count"
	// The failure tolerance with refusing members taken for healthy; the
	// monitor's own (min over its replicas, the pessimistic one knows
	// more) while none refuses.
	tolerance := `(
    min by (${C}) (${mon etcd_monitor_cluster_failure_tolerance})
    unless on (${C}) ` + refusedVoting + ` > 0
  or
    clamp_min(
        min by (${C}) (${mon etcd_monitor_cluster_members_healthy})
      + on (${C}) ` + refusedVoting + `
      - on (${C}) max by (${C}) (${mon etcd_monitor_cluster_quorum_size}),
      0
    )
)`
	quorumAtRisk := `(
    ` + tolerance + ` <= ${t.quorum_failure_tolerance}
  or
    ` + tolerance + `
    and on (${C})
    max by (${C}) (${mon etcd_monitor_cluster_members_healthy}) + on (${C}) ` + refusedVoting + ` < ${t.min_healthy_members}
)
and on (${C}) max by (${C}) (${mon etcd_monitor_cluster_members}) > 1`
	// Quorum lost, in two rules of one name. When fewer voting members than
	// the quorum answer at all and no read succeeds, one check is evidence
	// enough (a rolling restart has a single member away), and the page goes
	// out at the first evaluation: within 90s at a 30s scrape interval.
	// Reads failing while a majority answers can also be a check caught in
	// an election: the monitor says so (electing, within its grace of a few
	// election timeouts), and those checks do not count; the rest waits for
	// a second evaluation. A member refusing the monitor answers, if not
	// what the monitor wants: it counts as answering, and refusals that
	// alone keep the healthy members below the quorum are no quorum loss
	// (EtcdMonitorAccessDenied reports that the monitor cannot tell).
	membersDown := `(
    count by (${C}) (
      (
          max by (${C}, member, endpoint) (${mon etcd_monitor_member_up}) == 1
        or
          max by (${C}, member, endpoint) (${mon etcd_monitor_member_contact_error}) == 1
      )
      unless on (${C}, member, endpoint) max by (${C}, member, endpoint) (${mon etcd_monitor_member_is_learner}) == 1
    )
  or
    max by (${C}) (${mon etcd_monitor_cluster_members}) * 0
)
< on (${C}) max by (${C}) (${mon etcd_monitor_cluster_quorum_size})
and on (${C}) max by (${C}) (${mon etcd_monitor_cluster_has_quorum}) == 0`
	quorumLost := `max by (${C}) (${mon etcd_monitor_cluster_members_healthy})
and on (${C}) (
    max by (${C}) (${mon etcd_monitor_cluster_has_quorum}) == 0
  or
    max by (${C}) (${mon etcd_monitor_cluster_members_healthy}) < max by (${C}) (${mon etcd_monitor_cluster_quorum_size})
)
unless on (${C}) (
` + membersDown + `
)
unless on (${C}) max by (${C}) (${mon etcd_monitor_cluster_electing}) == 1
unless on (${C}) (
    max by (${C}) (${mon etcd_monitor_cluster_members_healthy}) + on (${C}) ` + refusedVoting + `
  >= on (${C}) max by (${C}) (${mon etcd_monitor_cluster_quorum_size})
  and on (${C}) ` + refusedVoting + ` > 0
)`
	// Elections are counted from the raft term, which every election bumps
	// and which the poll cannot miss, as max-min over the window: exact,
	// where increase() would extrapolate 3 elections to 3.01 and page. etcd's
	// own counter is the fallback for clusters the monitor does not watch.
	//
	// The threshold is per three voting members: a rolling restart causes
	// up to one election per member (the leader's restart, or a restarted
	// member that campaigns), so a fixed number pages for every rolling
	// restart of a larger cluster (etcd-io/etcd#12080). The member count is
	// the largest the window saw; etcd's scrape targets stand in for it where
	// the monitor does not watch the cluster.
	leaderChanges := func(th string) string {
		return `(
    max by (${C}) (max_over_time(${mon etcd_monitor_cluster_raft_term}[${w.leader_changes}]) - min_over_time(${mon etcd_monitor_cluster_raft_term}[${w.leader_changes}]))
  or
    max by (${C}) (floor(increase(${etcd etcd_server_leader_changes_seen_total}[${w.leader_changes}])))
)
> on (${C})
` + th + ` * (
    max by (${C}) (max_over_time(${mon etcd_monitor_cluster_members}[${w.leader_changes}]))
  or
    count by (${C}) (max by (${C}, instance) (max_over_time(${etcd etcd_server_has_leader}[${w.leader_changes}])))
) / 3`
	}
	// Each side takes whichever form of the histogram it finds (see
	// probeHist), so the comparison holds across the week after native
	// histograms are turned on (native now, classic then).
	p99 := func(rng, pad string) string {
		q := probeQuantile("0.99", "${C}, operation", rng)
		return "(\n" + pad + "  " + strings.ReplaceAll(q, "\n", "\n"+pad+"  ") + "\n" + pad + ")"
	}
	p99Now, p99Then := p99("[${w.baseline_window}]", "  "), p99("[${w.baseline_window}] offset ${w.baseline_offset}", "  ")
	diskFree := func(th string) string {
		return `min by (${C}, instance, mountpoint) (${fs node_filesystem_avail_bytes} / ${fs node_filesystem_size_bytes}) < ` + th + `
unless on (${C}, instance, mountpoint)
max by (${C}, instance, mountpoint) (${fs node_filesystem_readonly}) == 1`
	}
	// Time until the quota at the recent growth (deriv: the least-squares
	// slope, as predict_linear uses), with no floor on current usage: a
	// database filling its quota within the hour must warn while there is
	// still room to act.
	quotaFill := func(th string) string {
		return `clamp_min(
  max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_quota_bytes})
  - max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_size_bytes}),
  0
)
/
(max by (${C}, member, endpoint) (deriv(${mon etcd_monitor_member_db_size_bytes}[${w.quota_growth_lookback}])) > 0)
< ` + th
	}
	caExpiry := func(th string) string {
		return `min by (${C}, role) (${mon etcd_monitor_tls_cert_not_after_timestamp_seconds role="ca"}) - time() < ` + th
	}
	accessDenied := "max by (${C}, member, endpoint, reason) (${mon etcd_monitor_member_contact_error}) == 1"
	accessDeniedWhy := `{{ if eq $labels.reason "auth_failed" }}its user name or password is refused (a rotated password, a removed user){{ else }}the TLS handshake fails (the monitor's client certificate or the member's server certificate expired or replaced, a CA that does not match, or TLS on one side only){{ end }}.`
	// A replica's check and probe rounds that started late (or overran) or
	// were skipped, over those due: the rounds it ran
	// (etcd_monitor_rounds_total, one series per kind and replica) plus
	// those it skipped. Per job and instance: one alert for a monitor behind
	// on a thousand clusters. Late and skipped series of one cluster and
	// kind have the same labels once rate() drops their names, so the late
	// ones are marked to keep `or` from dropping the skipped; rounds_total
	// has no cluster label, so `or` keeps it beside the skipped.
	//
	// A member that does not answer within the timeout holds its probe round
	// past the next slot, which is skipped, and a check round that waits out
	// timeouts overruns its interval, which counts it late and skips the
	// slots it ran into: that is etcd (EtcdProbeErrorsHigh), so for clusters
	// whose probes time out the skipped rounds and the late check rounds are
	// left out of the share (they stay among the rounds due). Late probe
	// rounds only ever start late, the monitor's own doing, and always count.
	fallingBehind := `sum by (job, instance) (
    label_replace(rate(${mon etcd_monitor_rounds_late_total kind="probe"}[${w.rate}]), "counter", "late", "", "")
  or
    (
      (
          label_replace(rate(${mon etcd_monitor_rounds_late_total kind="check"}[${w.rate}]), "counter", "late", "", "")
        or
          rate(${mon etcd_monitor_rounds_skipped_total}[${w.rate}])
      )
      unless on (${C})
      sum by (${C}) (rate(${mon etcd_monitor_probe_failures_total reason="timeout"}[${w.rate}])) > 0
    )
)
/
sum by (job, instance) (
    rate(${mon etcd_monitor_rounds_total}[${w.rate}])
  or
    rate(${mon etcd_monitor_rounds_skipped_total}[${w.rate}])
)
> ${t.monitor_rounds_behind_ratio}`
	// How many of the replica's clusters had rounds late or skipped,
	// and how many it watches: a Prometheus template query, run when the
	// alert fires.
	replicaQuery := func(promql string) string {
		return "{{ with printf `" + promql + "` $labels.job $labels.instance | query }}{{ . | first | value | printf \"%.0f\" }}{{ else }}?{{ end }}"
	}
	behindClusters := replicaQuery(`count(sum by (${C}) (rate(${mon etcd_monitor_rounds_late_total job=%[1]q,instance=%[2]q}[${w.rate}])) > 0 or ` +
		`sum by (${C}) (rate(${mon etcd_monitor_rounds_skipped_total job=%[1]q,instance=%[2]q}[${w.rate}])) > 0)`)
	watchedClusters := replicaQuery(`${mon etcd_monitor_clusters_watched job=%[1]q,instance=%[2]q}`)
	// Probe latency of a cluster whose rounds start late includes the
	// monitor's queueing: EtcdMonitorFallingBehind tells the monitor's
	// owner, and the etcd on-call is not paged for it. This is done here,
	// not by an Alertmanager inhibition: the monitor's alert carries job and
	// instance, the probe alerts the cluster, and no label ties one to the
	// other.
	notLate := func(w string) string {
		return "\nunless on (${C})\n" + probeRoundsStartedLate(w)
	}
	alarm := func(name string) string {
		return `count by (${C}) (max by (${C}, member) (${mon etcd_monitor_member_alarm alarm="` + name + `"}) > 0)`
	}

	return []alertDef{
		// Monitor.
		{
			group: groupMonitor, name: "EtcdMonitorDown", forKey: "monitor_down", severity: "warning",
			// absent() catches a target that service discovery dropped; *0 so
			// the value reads as up=0 either way.
			expr:    "${mon up} == 0\nor\nabsent(${mon up}) * 0",
			summary: "etcd-monitor is down: the etcd clusters it watches are unobserved",
			desc:    "Prometheus has not scraped etcd-monitor{{ with $labels.instance }} {{ . }}{{ else }}: no target is left{{ end }} (up = ${value}) for ${for}. Quorum, leader, probe and capacity alerts of every cluster it watches cannot fire.",
			value:   number,
		},
		{
			group: groupMonitor, name: "EtcdMonitorStale", forKey: "monitor_stale", severity: "warning",
			expr:    "time() - max by (${C}) (${mon etcd_monitor_last_check_timestamp_seconds}) > ${t.monitor_stale_after}",
			summary: cluster + ": etcd-monitor's checks are stale",
			desc:    "etcd-monitor is scraped but its last completed check of " + cluster + " was ${value} ago (more than ${h.monitor_stale_after}). The checker is stuck or every call times out; the cluster metrics are old.",
			value:   seconds,
		},
		{
			group: groupMonitor, name: "EtcdMonitorConfigReloadFailed", forKey: "monitor_config_reload_failed", severity: "warning",
			// The value is the age of the configuration still in use: the
			// longer, the more edits are waiting.
			expr: "time() - ${mon etcd_monitor_config_last_reload_success_timestamp_seconds}\n" +
				"and\n${mon etcd_monitor_config_last_reload_successful} == 0",
			summary: "etcd-monitor {{ $labels.instance }} cannot reload its configuration",
			desc:    "The configuration reloads of etcd-monitor {{ $labels.instance }} have failed for ${for}: it still runs the configuration it loaded ${value} ago, so clusters added, changed or removed since are not applied, and a restart would stop at the same error.",
			value:   seconds,
		},
		// Shards: every cluster of the configuration is watched by exactly
		// one replica. etcd_monitor_config_clusters counts all shards, so
		// every replica reports the same number (max); each watches its
		// own part (sum). Replicas of one deployment share a scrape job.
		{
			group: groupMonitor, name: "EtcdMonitorShardsIncomplete", forKey: "monitor_shards_incomplete", severity: "warning",
			labels: map[string]string{"cause": "clusters_unwatched"},
			expr: "max by (job) (${mon etcd_monitor_config_clusters})\n-\n" +
				"sum by (job) (${mon etcd_monitor_clusters_watched})\n> 0",
			summary: "etcd clusters are watched by no etcd-monitor replica of {{ $labels.job }}",
			desc:    "The replicas of etcd-monitor in job {{ $labels.job }} watch ${value} cluster(s) fewer than their configuration lists, for ${for}: a replica is down, fewer replicas run than --shard.count, or replicas run different configurations. Those clusters' alerts cannot fire.",
			value:   number,
		},
		{
			// A duplicated --shard.index can keep the sum above: the
			// duplicate's clusters are counted twice, the missing index's
			// not at all. Replicas with --shard.count=1 are independent
			// monitors (or an HA pair) and may share index 0.
			group: groupMonitor, name: "EtcdMonitorShardsIncomplete", forKey: "monitor_shards_incomplete", severity: "warning",
			labels: map[string]string{"cause": "shards_conflict"},
			expr: "count by (job, shard_index) (${mon etcd_monitor_shard_info shard_count!=\"1\"}) > 1\n" +
				"or\ncount by (job) (count by (job, shard_count) (${mon etcd_monitor_shard_info})) > 1",
			summary: "etcd-monitor replicas of {{ $labels.job }} do not split the clusters between them",
			desc:    "{{ with $labels.shard_index }}${value} replicas of etcd-monitor in job {{ $labels.job }} run as shard {{ . }}{{ else }}The replicas of etcd-monitor in job {{ $labels.job }} run with ${value} different --shard.count values{{ end }}, for ${for}: some clusters are watched twice and others by no replica, whose alerts cannot fire.",
			value:   number,
		},

		{
			group: groupMonitor, name: "EtcdMonitorFallingBehind", forKey: "monitor_falling_behind", severity: "warning",
			expr:    fallingBehind,
			summary: "etcd-monitor {{ $labels.instance }} is falling behind its rounds",
			desc:    "etcd-monitor {{ $labels.instance }} started ${value} of its check and probe rounds late or skipped them over the last ${w.rate} (above ${h.monitor_rounds_behind_ratio}), for ${for}, in " + behindClusters + " of the " + watchedClusters + " clusters it watches. It is short of CPU or of round slots (--rounds.max-in-flight), so its probe latencies include its own queueing; the probe latency alerts of clusters whose rounds start late are held back. Shard the clusters over more replicas (--shard.count, --shard.index: docs/sharding.md) or give the monitor more CPU.",
			value:   percent,
		},

		// A member refusing the monitor: its password or client
		// certificate is wrong, not the member. Critical once the refusals
		// hide whether the cluster has quorum (fewer than a quorum of
		// voting members serve the monitor, counting those that refuse):
		// a quorum loss would not page then.
		{
			group: groupMonitor, name: "EtcdMonitorAccessDenied", forKey: "monitor_access_denied", severity: "warning",
			expr:    accessDenied,
			summary: member + " refuses etcd-monitor ({{ $labels.reason }})",
			desc:    OfMember + " has refused etcd-monitor for ${for} (contact_error = ${value}): " + accessDeniedWhy + " The member may well be up; the monitor sees none of its state, so it is counted neither as down nor as healthy.",
			value:   number,
		},
		{
			group: groupMonitor, name: "EtcdMonitorAccessDenied", forKey: "monitor_access_denied", severity: "critical",
			expr:    accessDenied + "\nand on (${C})\nmax by (${C}) (${mon etcd_monitor_cluster_has_quorum}) == 0",
			summary: cluster + ": etcd-monitor cannot tell whether the cluster has quorum",
			desc:    OfMember + " has refused etcd-monitor for ${for} (contact_error = ${value}): " + accessDeniedWhy + " Too few voting members let the monitor in to see a quorum, so a quorum loss of " + cluster + " would not page.",
			value:   number,
		},

		// Availability.
		{
			group: groupAvailability, name: "EtcdMemberUnreachable", forKey: "member_unreachable", severity: "warning",
			// The `for` outlasts a member restart or a quick host reboot.
			// A member refusing the monitor is not down:
			// EtcdMonitorAccessDenied.
			expr:    "max by (${C}, member, endpoint) (${mon etcd_monitor_member_up}) == 0\nunless on (${C}, member, endpoint)\nmax by (${C}, member, endpoint) (${mon etcd_monitor_member_contact_error}) == 1",
			summary: member + " is unreachable",
			desc:    OfMember + " has not answered the monitor's Status call for ${for} (up = ${value}). The cluster tolerates one failure fewer.",
			value:   number,
		},
		{
			group: groupAvailability, name: "EtcdMemberPartitioned", forKey: "member_partitioned", severity: "warning",
			expr:    "max by (${C}, member, endpoint) (${mon etcd_monitor_member_partitioned}) == 1",
			summary: member + " is partitioned from the cluster",
			desc:    OfMember + " answers but, for ${for}, has seen no leader, a term other than the majority's, or its raft index stalled while the leader's advanced (partitioned = ${value}).",
			value:   number,
		},
		{
			group: groupAvailability, name: "EtcdQuorumAtRisk", forKey: "quorum_at_risk", severity: "critical",
			// The `for` outlasts a planned reboot of one member (bare-metal
			// reboots take 10-15 minutes, etcd-io/etcd#19300), which
			// EtcdMemberUnreachable already reports without paging; a
			// second failure meanwhile is EtcdQuorumLost, which pages fast.
			expr:    quorumAtRisk,
			summary: cluster + " is one failure away from losing quorum",
			desc:    cluster + " can lose ${value} more voting member(s) before it loses quorum (alerting at ${h.quorum_failure_tolerance} or below, or with fewer than ${h.min_healthy_members} healthy members), for ${for}: longer than a planned reboot of one member.",
			value:   number,
		},
		{
			group: groupAvailability, name: "EtcdQuorumLost", forKey: "quorum_lost_members_down", severity: "critical",
			labels:  map[string]string{"cause": "members_down"},
			expr:    membersDown,
			summary: cluster + " has lost quorum",
			desc:    "Only ${value} voting member(s) of " + cluster + " answer the monitor, fewer than its quorum, and none could serve a linearizable read. Writes and linearizable reads fail.",
			value:   number,
		},
		{
			group: groupAvailability, name: "EtcdQuorumLost", forKey: "quorum_lost", severity: "critical",
			labels:  map[string]string{"cause": "reads_fail"},
			expr:    quorumLost,
			summary: cluster + " has lost quorum",
			desc:    cluster + " has ${value} healthy voting member(s), fewer than its quorum, or no member could serve a linearizable read, for ${for}. Writes and linearizable reads fail.",
			value:   number,
		},
		{
			group: groupAvailability, name: "EtcdNoLeader", forKey: "no_leader", severity: "critical",
			// With no member answering and some refusing the monitor, the
			// leader is unknown, not absent: EtcdMonitorAccessDenied.
			expr:    "max by (${C}) (${mon etcd_monitor_cluster_has_leader}) == 0\nunless on (${C}) (\n  max by (${C}) (${mon etcd_monitor_member_up}) == 0\n  and on (${C}) max by (${C}) (${mon etcd_monitor_member_contact_error}) == 1\n)",
			summary: cluster + " has no leader",
			desc:    "The reachable members of " + cluster + " have not agreed on a leader for ${for} (has_leader = ${value}). The cluster cannot commit writes.",
			value:   number,
		},
		{
			group: groupAvailability, name: "EtcdSplitBrain", forKey: "split_brain", severity: "critical",
			expr:    "max by (${C}) (${mon etcd_monitor_cluster_split_brain}) == 1",
			summary: cluster + ": members name different leaders",
			desc:    "Reachable members of " + cluster + " have named different leaders in consecutive checks for ${for} (split_brain = ${value}).",
			value:   number,
		},
		{
			group: groupAvailability, name: "EtcdFrequentLeaderChanges", forKey: "frequent_leader_changes", severity: "warning",
			expr:    leaderChanges("${t.leader_changes_warning}"),
			summary: cluster + " changes leader often",
			desc:    cluster + " held ${value} leader elections in the last ${w.leader_changes} (warning above ${h.leader_changes_warning} per 3 voting members; a rolling restart causes at most one per member). Each election stalls writes.",
			value:   number,
		},
		{
			group: groupAvailability, name: "EtcdFrequentLeaderChanges", forKey: "frequent_leader_changes", severity: "critical",
			expr:    leaderChanges("${t.leader_changes_critical}"),
			summary: cluster + " changes leader too often",
			desc:    cluster + " held ${value} leader elections in the last ${w.leader_changes} (critical above ${h.leader_changes_critical} per 3 voting members: more than a rolling restart explains). Each election stalls writes.",
			value:   number,
		},

		// Probes.
		{
			group: groupProbes, name: "EtcdProbeLatencyHigh", forKey: "probe_latency_high", severity: "warning",
			expr:    "${C}_member_operation:etcd_monitor_probe_duration_seconds:p99 > ${t.probe_latency_p99_warning}" + notLate("${w.rate}"),
			summary: member + ": slow {{ $labels.operation }} probes",
			desc:    "The p99 latency of the monitor's {{ $labels.operation }} probes through " + ofMember + " has been ${value} (above ${h.probe_latency_p99_warning}) for ${for}.",
			value:   seconds,
		},
		{
			group: groupProbes, name: "EtcdProbeLatencyHigh", forKey: "probe_latency_high", severity: "critical",
			expr:    "${C}_member_operation:etcd_monitor_probe_duration_seconds:p99 > ${t.probe_latency_p99_critical}" + notLate("${w.rate}"),
			summary: member + ": very slow {{ $labels.operation }} probes",
			desc:    "The p99 latency of the monitor's {{ $labels.operation }} probes through " + ofMember + " has been ${value} (above ${h.probe_latency_p99_critical}) for ${for}.",
			value:   seconds,
		},
		{
			group: groupProbes, name: "EtcdProbeErrorsHigh", forKey: "probe_errors_high", severity: "warning",
			expr:    "${C}_member:etcd_monitor_probe_failures:ratio > ${t.probe_error_ratio}",
			summary: member + ": probes are failing",
			desc:    "${value} of the monitor's probes through " + ofMember + " failed over the last ${w.rate} (above ${h.probe_error_ratio}), for ${for}. etcd_monitor_probe_failures_total{reason} says why.",
			value:   percent,
		},
		{
			group: groupProbes, name: "EtcdProbeLatencyRegressed", forKey: "probe_latency_regressed", severity: "info",
			expr:    "(\n  " + p99Now + "\n/\n  " + p99Then + "\n) > ${t.probe_latency_regression_factor}\nand on (${C}, operation)\n" + p99("[${w.baseline_window}]", "") + " > ${t.probe_latency_regression_floor}" + notLate("${w.baseline_window}"),
			summary: cluster + ": {{ $labels.operation }} probes slower than a week ago",
			desc:    "The p99 of {{ $labels.operation }} probes on " + cluster + " over the last ${w.baseline_window} is {{ printf \"%.1f\" $value }} times what it was ${w.baseline_offset} earlier (alerting at ${h.probe_latency_regression_factor} times, above ${h.probe_latency_regression_floor}), for ${for}.",
			value:   `{{ printf "%.2f" $value }}x`,
		},

		// Capacity.
		{
			group: groupCapacity, name: "EtcdDatabaseQuotaUsageHigh", forKey: "database_quota_usage_high", severity: "warning",
			expr:    "${C}_member:etcd_monitor_member_db_size_bytes:quota_ratio > ${t.db_quota_usage_warning}",
			summary: member + ": database at {{ $value | humanizePercentage }} of its quota",
			desc:    "The backend file of " + ofMember + " uses ${value} of its quota (above ${h.db_quota_usage_warning}) for ${for}. At 100% etcd raises NOSPACE and refuses writes.",
			value:   percent,
		},
		{
			group: groupCapacity, name: "EtcdDatabaseQuotaUsageHigh", forKey: "database_quota_usage_high", severity: "critical",
			expr:    "${C}_member:etcd_monitor_member_db_size_bytes:quota_ratio > ${t.db_quota_usage_critical}",
			summary: member + ": database at {{ $value | humanizePercentage }} of its quota",
			desc:    "The backend file of " + ofMember + " uses ${value} of its quota (above ${h.db_quota_usage_critical}) for ${for}. At 100% etcd raises NOSPACE and refuses writes.",
			value:   percent,
		},
		{
			group: groupCapacity, name: "EtcdDatabaseSizeHigh", forKey: "database_size_high", severity: "warning",
			expr:    "max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_size_bytes}) > ${t.db_size_warning}",
			summary: member + ": database is {{ $value | humanize1024 }}B",
			desc:    "The backend file of " + ofMember + " is ${value} (above ${h.db_size_warning}) for ${for}. Large databases slow snapshots, defragmentation and member recovery.",
			value:   bytes,
		},
		{
			group: groupCapacity, name: "EtcdDatabaseSizeHigh", forKey: "database_size_high", severity: "critical",
			expr:    "max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_size_bytes}) > ${t.db_size_critical}",
			summary: member + ": database is {{ $value | humanize1024 }}B",
			desc:    "The backend file of " + ofMember + " is ${value} (above ${h.db_size_critical}, etcd's suggested maximum quota) for ${for}.",
			value:   bytes,
		},
		{
			group: groupCapacity, name: "EtcdDatabaseQuotaExhaustionPredicted", forKey: "database_quota_exhaustion_predicted", severity: "warning",
			expr: `max by (${C}, member, endpoint) (predict_linear(${mon etcd_monitor_member_db_size_bytes}[${w.quota_prediction_lookback}], ${ws.quota_prediction_horizon}))
  >= max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_quota_bytes})
and
${C}_member:etcd_monitor_member_db_size_bytes:quota_ratio > ${t.db_quota_prediction_min_usage}`,
			summary: member + ": database predicted to reach its quota within ${w.quota_prediction_horizon}",
			desc:    "At the growth of the last ${w.quota_prediction_lookback}, the backend file of " + ofMember + " reaches ${value} within ${w.quota_prediction_horizon}, at or above its quota (it is above ${h.db_quota_prediction_min_usage} of it now).",
			value:   bytes,
		},
		{
			group: groupCapacity, name: "EtcdDatabaseQuotaFillingUp", forKey: "database_quota_filling_up", severity: "warning",
			expr:    quotaFill("${t.db_quota_fill_warning}"),
			summary: member + ": database reaches its quota in {{ $value | humanizeDuration }} at the current growth",
			desc:    "At the growth of the last ${w.quota_growth_lookback}, the backend file of " + ofMember + " reaches its quota in ${value} (less than ${h.db_quota_fill_warning}), for ${for}. Then etcd raises NOSPACE and refuses writes.",
			value:   seconds,
		},
		{
			group: groupCapacity, name: "EtcdDatabaseQuotaFillingUp", forKey: "database_quota_filling_up", severity: "critical",
			expr:    quotaFill("${t.db_quota_fill_critical}"),
			summary: member + ": database reaches its quota in {{ $value | humanizeDuration }} at the current growth",
			desc:    "At the growth of the last ${w.quota_growth_lookback}, the backend file of " + ofMember + " reaches its quota in ${value} (less than ${h.db_quota_fill_critical}), for ${for}. Then etcd raises NOSPACE and refuses writes: stop the writer or make room now.",
			value:   seconds,
		},
		{
			group: groupCapacity, name: "EtcdDatabaseFragmented", forKey: "database_fragmented", severity: "info",
			// Both an absolute floor and a ratio: a small database is never
			// worth a defragmentation (which blocks the member) however
			// fragmented it is.
			expr: `(
  max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_size_bytes})
  - max by (${C}, member, endpoint) (${mon etcd_monitor_member_db_size_in_use_bytes})
) > ${t.fragmentation_free_bytes}
and
${C}_member:etcd_monitor_member_db_size_bytes:fragmentation_ratio > ${t.fragmentation_ratio}`,
			summary: member + ": defragmentation would reclaim {{ $value | humanize1024 }}B",
			desc:    "${value} of the backend file of " + ofMember + " is free pages (more than ${h.fragmentation_free_bytes} and more than ${h.fragmentation_ratio} of the file) for ${for}. Defragmenting reclaims it.",
			value:   bytes,
		},
		{
			group: groupCapacity, name: "EtcdNoCompaction", forKey: "no_compaction", severity: "warning",
			// Revisions since the last compaction, and no compaction seen in
			// the window: a periodic compactor keeping hours of history on a
			// busy cluster has many pending revisions but compacts.
			expr: `max by (${C}) (${etcd etcd_debugging_mvcc_current_revision} - ${etcd etcd_debugging_mvcc_compact_revision}) > ${t.compaction_pending_revisions}
and on (${C})
max by (${C}) (changes(${etcd etcd_debugging_mvcc_compact_revision}[${w.compaction}])) == 0`,
			summary: cluster + " is not being compacted",
			desc:    cluster + " holds ${value} revisions since its last compaction (above ${h.compaction_pending_revisions}) and has not compacted in ${w.compaction}. Without compaction the database grows until NOSPACE.",
			value:   number,
		},
		{
			group: groupCapacity, name: "EtcdNoSpaceAlarm", forKey: "nospace_alarm", severity: "critical",
			expr:    alarm("NOSPACE"),
			summary: cluster + ": NOSPACE alarm, writes are refused",
			desc:    "${value} member(s) of " + cluster + " report an active NOSPACE alarm: the database reached its quota and the cluster only serves reads and deletes until it is compacted, defragmented and the alarm disarmed.",
			value:   number,
		},

		// Consistency.
		{
			group: groupConsistency, name: "EtcdCorruptAlarm", forKey: "corrupt_alarm", severity: "critical",
			expr:    alarm("CORRUPT"),
			summary: cluster + ": CORRUPT alarm",
			desc:    "${value} member(s) of " + cluster + " report an active CORRUPT alarm: etcd's corruption check found members whose data differs. The cluster refuses writes.",
			value:   number,
		},
		{
			group: groupConsistency, name: "EtcdKVHashMismatch", forKey: "kv_hash_mismatch", severity: "critical",
			expr:    "min by (${C}) (${mon etcd_monitor_cluster_hashkv_consistent}) == 0",
			summary: cluster + ": members' KV hashes differ",
			desc:    "Members of " + cluster + " at the same revision and compaction returned different KV hashes for ${for} (hashkv_consistent = ${value}): their data has diverged.",
			value:   number,
		},
		{
			group: groupConsistency, name: "EtcdRaftIndexLag", forKey: "raft_index_lag", severity: "warning",
			expr:    "min by (${C}, member, endpoint) (${mon etcd_monitor_member_raft_index_lag}) > ${t.raft_index_lag}",
			summary: member + " is behind the leader",
			desc:    OfMember + " is ${value} raft entries behind the leader (above ${h.raft_index_lag}) for ${for}.",
			value:   number,
		},
		{
			group: groupConsistency, name: "EtcdRaftApplyLag", forKey: "raft_apply_lag", severity: "warning",
			expr:    "min by (${C}, member, endpoint) (${mon etcd_monitor_member_raft_apply_lag}) > ${t.raft_apply_lag_warning}",
			summary: member + " applies committed entries slowly",
			desc:    OfMember + " has ${value} committed but unapplied entries (above ${h.raft_apply_lag_warning}) for ${for}. etcd refuses requests beyond 5000.",
			value:   number,
		},
		{
			group: groupConsistency, name: "EtcdRaftApplyLag", forKey: "raft_apply_lag", severity: "critical",
			expr:    "min by (${C}, member, endpoint) (${mon etcd_monitor_member_raft_apply_lag}) > ${t.raft_apply_lag_critical}",
			summary: member + " is close to refusing requests",
			desc:    OfMember + " has ${value} committed but unapplied entries (above ${h.raft_apply_lag_critical}) for ${for}. etcd refuses requests beyond 5000.",
			value:   number,
		},
		{
			group: groupConsistency, name: "EtcdVersionSkew", forKey: "version_skew", severity: "warning",
			expr:    `count by (${C}) (count by (${C}, version) (${mon etcd_monitor_member_info version!=""})) > 1`,
			summary: cluster + " runs mixed etcd versions",
			desc:    "Members of " + cluster + " have run ${value} different server versions for ${for}: an upgrade or rollback was left half done.",
			value:   number,
		},
		{
			group: groupConsistency, name: "EtcdCertificateExpiring", forKey: "certificate_expiring", severity: "warning",
			// The CA has its own alert, months ahead: rotating it is planned
			// work that days' notice cannot cover.
			expr:    "min by (${C}, endpoint, role) (${mon etcd_monitor_tls_cert_not_after_timestamp_seconds role!=\"ca\"}) - time() < ${t.tls_expiry_warning}",
			summary: cluster + ": {{ $labels.role }} certificate of {{ $labels.endpoint }} expires soon",
			desc:    "The {{ $labels.role }} certificate seen at {{ $labels.endpoint }} (" + cluster + ") expires in ${value} (less than ${h.tls_expiry_warning}).",
			value:   seconds,
		},
		{
			group: groupConsistency, name: "EtcdCertificateExpiring", forKey: "certificate_expiring", severity: "critical",
			expr:    "min by (${C}, endpoint, role) (${mon etcd_monitor_tls_cert_not_after_timestamp_seconds role!=\"ca\"}) - time() < ${t.tls_expiry_critical}",
			summary: cluster + ": {{ $labels.role }} certificate of {{ $labels.endpoint }} expires very soon",
			desc:    "The {{ $labels.role }} certificate seen at {{ $labels.endpoint }} (" + cluster + ") expires in ${value} (less than ${h.tls_expiry_critical}). A negative time means it has expired.",
			value:   seconds,
		},
		{
			group: groupConsistency, name: "EtcdCACertificateExpiring", forKey: "ca_certificate_expiring", severity: "warning",
			expr:    caExpiry("${t.ca_expiry_warning}"),
			summary: cluster + ": the CA certificate expires in {{ $value | humanizeDuration }}",
			desc:    "The earliest certificate in the CA bundle the monitor verifies " + cluster + " with expires in ${value} (less than ${h.ca_expiry_warning}). Every member and client certificate it signed stops verifying then: plan the CA rotation (a new CA in every trust bundle first, then new certificates).",
			value:   seconds,
		},
		{
			group: groupConsistency, name: "EtcdCACertificateExpiring", forKey: "ca_certificate_expiring", severity: "critical",
			expr:    caExpiry("${t.ca_expiry_critical}"),
			summary: cluster + ": the CA certificate expires in {{ $value | humanizeDuration }}",
			desc:    "The earliest certificate in the CA bundle the monitor verifies " + cluster + " with expires in ${value} (less than ${h.ca_expiry_critical}). Every member and client certificate it signed stops verifying then; a CA rotation has to reach every trust bundle before that.",
			value:   seconds,
		},

		// etcd's own performance metrics.
		{
			group: groupPerformance, name: "EtcdSlowWALFsync", forKey: "slow_wal_fsync", severity: "warning",
			expr:    "${C}_instance:etcd_disk_wal_fsync_duration_seconds:p99 > ${t.wal_fsync_p99}",
			summary: instance + ": slow WAL fsync",
			desc:    "The p99 WAL fsync of " + ofInstance + " has been ${value} (above ${h.wal_fsync_p99}) for ${for}. Every write waits for it; slow fsyncs cause missed heartbeats and elections.",
			value:   seconds,
		},
		{
			group: groupPerformance, name: "EtcdSlowBackendCommit", forKey: "slow_backend_commit", severity: "warning",
			expr:    "${C}_instance:etcd_disk_backend_commit_duration_seconds:p99 > ${t.backend_commit_p99}",
			summary: instance + ": slow backend commits",
			desc:    "The p99 backend commit of " + ofInstance + " has been ${value} (above ${h.backend_commit_p99}) for ${for}.",
			value:   seconds,
		},
		{
			group: groupPerformance, name: "EtcdPeerRTTHigh", forKey: "peer_rtt_high", severity: "warning",
			// The share of round trips above a bucket's upper bound is
			// exact. A p99 interpolated inside etcd's coarse buckets
			// (102-205ms) is not: 3% of samples there read as a p99 of
			// 171ms though none is known to exceed 150ms (etcd-io/etcd#10292).
			expr: `(
  sum by (${C}, instance, To) (rate(${etcd etcd_network_peer_round_trip_time_seconds_bucket le="+Inf"}[${w.rate}]))
  - sum by (${C}, instance, To) (rate(${etcdle etcd_network_peer_round_trip_time_seconds_bucket peer_rtt_bucket}[${w.rate}]))
)
/
(sum by (${C}, instance, To) (rate(${etcd etcd_network_peer_round_trip_time_seconds_bucket le="+Inf"}[${w.rate}])) > 0)
> ${t.peer_rtt_slow_ratio}`,
			summary: instance + ": slow network to peer {{ $labels.To }}",
			desc:    "${value} of the round trips from " + ofInstance + " to peer {{ $labels.To }} over the last ${w.rate} took longer than ${h.peer_rtt_bucket} (alerting above ${h.peer_rtt_slow_ratio}), for ${for}. Heartbeats arriving late cause elections.",
			value:   percent,
		},
		{
			group: groupPerformance, name: "EtcdPeerSendFailures", forKey: "peer_send_failures", severity: "warning",
			// Messages to a member that is down fail by the hundred; that is
			// EtcdMemberUnreachable's news, so peers the monitor sees down
			// are left out. etcd's To is the member ID in hex, as the
			// monitor's member_id.
			expr: `sum by (${C}, instance, To) (rate(${etcd etcd_network_peer_sent_failures_total}[${w.rate}])) > ${t.peer_sent_failures_rate}
unless on (${C}, To)
label_replace(
  max by (${C}, member_id) (
    ${mon etcd_monitor_member_info}
    * on (${C}, member, endpoint) group_left ()
    (max by (${C}, member, endpoint) (${mon etcd_monitor_member_up}) == 0)
  ),
  "To", "$1", "member_id", "(.+)"
)`,
			summary: instance + ": messages to peer {{ $labels.To }} fail",
			desc:    OfInstance + " has failed to send raft messages to peer {{ $labels.To }}, which answers the monitor, at ${value} for ${for}. A network problem between the two (firewall, MTU, TLS between peers) or an overloaded peer; heartbeats that do not arrive cause elections.",
			value:   `{{ printf "%.3g" $value }}/s`,
		},
		{
			group: groupPerformance, name: "EtcdProposalsFailing", forKey: "proposals_failing", severity: "warning",
			// An election fails the proposals in flight once; `for` longer
			// than the rate window separates that from failures that go on.
			expr:    "sum by (${C}, instance) (rate(${etcd etcd_server_proposals_failed_total}[${w.rate}])) > ${t.proposals_failed_rate}",
			summary: instance + ": raft proposals are failing",
			desc:    OfInstance + " has failed raft proposals at ${value} (more than ${h.proposals_failed_rate}/s) for ${for}: elections keep interrupting it or it cannot reach quorum.",
			value:   `{{ printf "%.3g" $value }}/s`,
		},
		{
			group: groupPerformance, name: "EtcdProposalsPending", forKey: "proposals_pending", severity: "warning",
			// The least over the window: a burst that drains is normal, a
			// queue that never drops below the threshold means proposals
			// arrive faster than raft commits them (etcd-io/etcd#2993).
			expr:    "min by (${C}, instance) (min_over_time(${etcd etcd_server_proposals_pending}[${w.rate}])) > ${t.proposals_pending}",
			summary: instance + ": raft proposals are piling up",
			desc:    OfInstance + " has had more than ${h.proposals_pending} proposals pending all through the last ${w.rate} (at least ${value}), for ${for}: requests arrive faster than the cluster commits them (slow disk, slow peers, or a client flooding it).",
			value:   number,
		},
		{
			group: groupPerformance, name: "EtcdGRPCRequestsFailing", forKey: "grpc_requests_failing", severity: "warning",
			expr:    "${C}_instance:grpc_server_handled:failure_ratio > ${t.grpc_failure_ratio}",
			summary: instance + ": gRPC requests are failing",
			desc:    "${value} of the unary gRPC requests " + ofInstance + " served over the last ${w.rate} failed on the server side (above ${h.grpc_failure_ratio}), for ${for}. Canceled requests and ended watch and lease streams do not count.",
			value:   percent,
		},

		{
			group: groupPerformance, name: "EtcdFileDescriptorsHigh", forKey: "file_descriptors_high", severity: "warning",
			expr:    "max by (${C}, instance) (${etcd process_open_fds} / ${etcd process_max_fds}) > ${t.fd_usage_warning}",
			summary: instance + ": {{ $value | humanizePercentage }} of file descriptors in use",
			desc:    OfInstance + " uses ${value} of its file descriptor limit (above ${h.fd_usage_warning}) for ${for}. Out of descriptors, etcd refuses clients and peers and cannot open WAL or snapshot files.",
			value:   percent,
		},
		{
			group: groupPerformance, name: "EtcdFileDescriptorsHigh", forKey: "file_descriptors_high", severity: "critical",
			expr:    "max by (${C}, instance) (${etcd process_open_fds} / ${etcd process_max_fds}) > ${t.fd_usage_critical}",
			summary: instance + ": {{ $value | humanizePercentage }} of file descriptors in use",
			desc:    OfInstance + " uses ${value} of its file descriptor limit (above ${h.fd_usage_critical}) for ${for}. Out of descriptors, etcd refuses clients and peers and cannot open WAL or snapshot files.",
			value:   percent,
		},
		{
			group: groupPerformance, name: "EtcdMetricsNotScraped", forKey: "metrics_not_scraped", severity: "warning",
			// The monitor watches the cluster and reaches a member, but
			// Prometheus has none of etcd's own series for it: a wrong
			// port, TLS, a NetworkPolicy or a missing etcd_cluster label.
			// Every alert over etcd's own metrics is silent meanwhile.
			expr: `(
    count by (${C}) (${etcd up} == 1)
  or
    max by (${C}) (${mon etcd_monitor_cluster_members}) * 0
)
and on (${C}) max by (${C}) (${mon etcd_monitor_member_up}) == 1
unless on (${C}) max by (${C}) (${etcd etcd_server_has_leader})`,
			summary: cluster + ": Prometheus gets none of etcd's own metrics",
			desc:    "etcd-monitor reaches members of " + cluster + ", but for ${for} Prometheus has had no etcd_server_has_leader from etcd's job with that cluster label (${value} of its targets there are up). The alerts over etcd's own metrics cannot fire: WAL fsync, backend commit, peer round trip and send failures, proposals, gRPC, compaction, file descriptors.",
			value:   number,
		},

		// Hosts (node_exporter).
		{
			group: groupHosts, name: "EtcdDiskSpaceLow", forKey: "disk_space_low", severity: "warning", node: true,
			expr:    diskFree("${t.disk_free_warning}"),
			summary: cluster + ": {{ $labels.instance }} {{ $labels.mountpoint }} is filling up",
			desc:    "Only ${value} of {{ $labels.mountpoint }} on {{ $labels.instance }}, which holds etcd data of " + cluster + ", is free (below ${h.disk_free_warning}) for ${for}. A full disk stops WAL writes.",
			value:   percent,
		},
		{
			group: groupHosts, name: "EtcdDiskSpaceLow", forKey: "disk_space_low", severity: "critical", node: true,
			expr:    diskFree("${t.disk_free_critical}"),
			summary: cluster + ": {{ $labels.instance }} {{ $labels.mountpoint }} is almost full",
			desc:    "Only ${value} of {{ $labels.mountpoint }} on {{ $labels.instance }}, which holds etcd data of " + cluster + ", is free (below ${h.disk_free_critical}) for ${for}. A full disk stops WAL writes.",
			value:   percent,
		},
		{
			group: groupHosts, name: "EtcdClockOffset", forKey: "clock_offset", severity: "warning", node: true,
			expr:    "max by (${C}, instance) (abs(${node node_timex_offset_seconds})) > ${t.clock_offset}",
			summary: cluster + ": clock of {{ $labels.instance }} is off",
			desc:    "The clock of {{ $labels.instance }} (" + cluster + ") is ${value} off its time source (more than ${h.clock_offset}) for ${for}. Skewed clocks break TLS validity checks and mislead every timestamp; check NTP.",
			value:   seconds,
		},

		// Backups.
		{
			group: groupBackup, name: "EtcdSnapshotTooOld", forKey: "snapshot_too_old", severity: "warning",
			expr:    "time() - max by (${C}) (${snap etcd_monitor_snapshot_last_success_timestamp_seconds}) > ${t.snapshot_max_age}",
			summary: cluster + ": last good snapshot is {{ $value | humanizeDuration }} old",
			desc:    "The last successful `etcd-monitor snapshot save` of " + cluster + " was ${value} ago (more than ${h.snapshot_max_age}). A restore would lose everything since.",
			value:   seconds,
		},
		{
			group: groupBackup, name: "EtcdSnapshotFailed", forKey: "snapshot_failed", severity: "warning",
			// Failure and success are pushed as separate timestamps; the
			// last run failed when its failure is the newer one (or no save
			// ever succeeded).
			expr: `time() - max by (${C}) (${snap etcd_monitor_snapshot_last_failure_timestamp_seconds})
and on (${C})
max by (${C}) (${snap etcd_monitor_snapshot_last_failure_timestamp_seconds})
  > on (${C})
(
    max by (${C}) (${snap etcd_monitor_snapshot_last_success_timestamp_seconds})
  or
    max by (${C}) (${snap etcd_monitor_snapshot_last_failure_timestamp_seconds}) * 0
)`,
			summary: cluster + ": the last snapshot save failed",
			desc:    "The last `etcd-monitor snapshot save` of " + cluster + " failed ${value} ago, and none has succeeded since. Its log says why; EtcdSnapshotTooOld follows once the last good snapshot is older than ${h.snapshot_max_age}.",
			value:   seconds,
		},
	}
}
