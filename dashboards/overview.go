package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// UIDs are part of the contract: links, bookmarks and provisioning keep
// working across releases only if they never change.
const (
	UIDOverview  = "etcd-monitor-overview"
	UIDEtcd      = "etcd-monitor-etcd"
	UIDBenchmark = "etcd-monitor-benchmark"
)

// Job selectors, the same as the shipped rules' defaults (rules/config.yml):
// the dashboards read what the rules read.
const (
	monitorJob = `job="etcd-monitor"`
	etcdJob    = `job="etcd"`
)

// mon writes the monitor's selector (its job and the cluster variable) in
// place of SEL.
func mon(expr string) string {
	return strings.ReplaceAll(expr, "SEL", monitorJob+`,etcd_cluster=~"$cluster"`)
}

// probeQuantile is the q-quantile of the probe latency by the labels by
// over the range rng, from the native histogram or the classic buckets,
// whichever Prometheus keeps: one that scrapes native histograms keeps no
// _bucket series (unless always_scrape_classic_histograms), one that does
// not has no native histogram. Where it has both, `or` keeps the native
// one, the finer. The rules do the same (rules/alerts.go, probeHist).
func probeQuantile(q, by, rng string) string {
	return mon("histogram_quantile(" + q + ", sum by (" + by + ") (rate(etcd_monitor_probe_duration_seconds{SEL}" + rng + "))) or " +
		"histogram_quantile(" + q + ", sum by (" + by + ", le) (rate(etcd_monitor_probe_duration_seconds_bucket{SEL}" + rng + ")))")
}

func clusterVariable(metric string) *dashboard.QueryVariableBuilder {
	return queryVariable("cluster", "Cluster", metric, "etcd_cluster",
		"etcd clusters, by the etcd_cluster label etcd-monitor gives them (--cluster.name or the config file).")
}

// overview is the cluster-level view from etcd-monitor's metrics.
func overview() *dashboard.DashboardBuilder {
	b := newBoard(UIDOverview, "etcd-monitor / Overview",
		"Cluster-level health of etcd clusters as etcd-monitor sees them: quorum, leader, alarms, members, synthetic latency, capacity, raft progress and certificates.",
		clusterVariable("etcd_monitor_cluster_info{"+monitorJob+"}"))
	b.Annotation(annotation("Leader changes", "orange",
		mon(`changes(etcd_monitor_cluster_leader_changes_total{SEL}[$__rate_interval]) > 0`),
		"Leader change", "etcd cluster {{etcd_cluster}}: the leader changed"))
	b.Annotation(annotation("Firing alerts", "red",
		`ALERTS{alertstate="firing",etcd_cluster=~"$cluster"}`,
		"{{alertname}}", "{{severity}}: {{alertname}} {{member}}"))

	b.WithRow(row("Cluster health"))
	b.WithPanel(newTable("Clusters", "One row per cluster: members, quorum arithmetic, leader, version and alarms.",
		map[string]string{
			"etcd_cluster": "Cluster", "Value #A": "Voting members", "Value #B": "Healthy", "Value #C": "Quorum size",
			"Value #D": "Has quorum", "Value #E": "Failure tolerance", "Value #F": "Has leader",
			"Value #G": "Learners", "Value #H": "Active alarms", "version": "Version", "cluster_id": "Cluster ID",
		},
		[]string{"etcd_cluster", "Value #A", "Value #B", "Value #C", "Value #D", "Value #E", "Value #F", "Value #G", "Value #H", "version", "cluster_id"},
		[]string{"Value #I"},
		tableQ(mon(`max by (etcd_cluster) (etcd_monitor_cluster_members{SEL})`)),
		tableQ(mon(`max by (etcd_cluster) (etcd_monitor_cluster_members_healthy{SEL})`)),
		tableQ(mon(`max by (etcd_cluster) (etcd_monitor_cluster_quorum_size{SEL})`)),
		tableQ(mon(`max by (etcd_cluster) (etcd_monitor_cluster_has_quorum{SEL})`)),
		tableQ(mon(`min by (etcd_cluster) (etcd_monitor_cluster_failure_tolerance{SEL})`)),
		tableQ(mon(`max by (etcd_cluster) (etcd_monitor_cluster_has_leader{SEL})`)),
		tableQ(mon(`max by (etcd_cluster) (etcd_monitor_cluster_learners{SEL})`)),
		tableQ(mon(`count by (etcd_cluster) (etcd_monitor_member_alarm{SEL}) or on (etcd_cluster) 0 * max by (etcd_cluster) (etcd_monitor_cluster_members{SEL})`)),
		tableQ(mon(`max by (etcd_cluster, cluster_id, version) (etcd_monitor_cluster_info{SEL})`)),
	).Span(24).Height(6).
		OverrideByName("Has quorum", props(mappingsProp(okBad...), colorCells())).
		OverrideByName("Has leader", props(mappingsProp(okBad...), colorCells())).
		OverrideByName("Failure tolerance", props(thresholdsProp(step{color: "red"}, step{color: "green", value: 1}), colorCells())).
		OverrideByName("Active alarms", props(thresholdsProp(step{color: "green"}, step{color: "red", value: 1}), colorCells())))

	b.WithPanel(newStat("Quorum", "Whether a linearizable read succeeded in the last check (a ReadIndex round needs a quorum of voting members).", "none",
		instantQ(mon(`min by (etcd_cluster) (etcd_monitor_cluster_has_quorum{SEL})`), "{{etcd_cluster}}")).Span(4).Height(4).
		Mappings(mappings(mapping{"0", "LOST", "red"}, mapping{"1", "OK", "green"})).NoValue("no data"))
	b.WithPanel(newStat("Leader", "The member the reachable members agree leads. Empty when there is no agreed leader.", "none",
		instantQ(mon(`max by (etcd_cluster, member) (etcd_monitor_member_is_leader{SEL} == 1)`), "{{etcd_cluster}}: {{member}}")).Span(4).Height(4).
		TextMode(common.BigValueTextModeName).ColorMode(common.BigValueColorModeValue).NoValue("NO LEADER"))
	b.WithPanel(newStat("Failure tolerance", "How many more voting members can fail before quorum is lost: healthy members minus the quorum size.", "none",
		instantQ(mon(`min by (etcd_cluster) (etcd_monitor_cluster_failure_tolerance{SEL})`), "{{etcd_cluster}}")).Span(4).Height(4).
		Thresholds(thresholds(step{color: "red"}, step{color: "green", value: 1})))
	b.WithPanel(newStat("Healthy members", "Voting members that served a linearizable read, of all voting members.", "none",
		instantQ(mon(`max by (etcd_cluster) (etcd_monitor_cluster_members_healthy{SEL})`), "{{etcd_cluster}} healthy"),
		instantQ(mon(`max by (etcd_cluster) (etcd_monitor_cluster_members{SEL})`), "{{etcd_cluster}} members")).Span(4).Height(4).
		ColorMode(common.BigValueColorModeValue))
	b.WithPanel(newStat("Alarms", "Active NOSPACE or CORRUPT alarms: with NOSPACE the cluster refuses writes until space is freed and the alarm disarmed (docs/runbooks.md).", "none",
		instantQ(mon(`count by (etcd_cluster) (etcd_monitor_member_alarm{SEL}) or on (etcd_cluster) 0 * max by (etcd_cluster) (etcd_monitor_cluster_members{SEL})`), "{{etcd_cluster}}")).Span(4).Height(4).
		Thresholds(thresholds(step{color: "green"}, step{color: "red", value: 1})))
	b.WithPanel(newStat("Split brain", "Reachable members named different leaders in two or more consecutive checks.", "none",
		instantQ(mon(`max by (etcd_cluster) (etcd_monitor_cluster_split_brain{SEL})`), "{{etcd_cluster}}")).Span(4).Height(4).
		Mappings(mappings(badOK...)))

	b.WithRow(row("Member state"))
	b.WithPanel(newTable("Members", "One row per member as the monitor's last check saw it. Unstarted members (added, never joined) show their hex ID and count as down.",
		map[string]string{
			"etcd_cluster": "Cluster", "member": "Member", "endpoint": "Endpoint", "Value #A": "Up", "Value #B": "Healthy",
			"Value #C": "Leader", "Value #D": "Learner", "Value #E": "Partitioned", "Value #F": "DB size", "Value #G": "Quota used",
			"Value #H": "Raft index lag", "Value #I": "Alarms", "version": "Version", "member_id": "Member ID",
		},
		[]string{"etcd_cluster", "member", "endpoint", "Value #A", "Value #B", "Value #C", "Value #D", "Value #E", "Value #F", "Value #G", "Value #H", "Value #I", "version", "member_id"},
		[]string{"Value #J", "peer_urls"},
		tableQ(mon(`max by (etcd_cluster, member, endpoint) (etcd_monitor_member_up{SEL})`)),
		tableQ(mon(`max by (etcd_cluster, member, endpoint) (etcd_monitor_member_healthy{SEL})`)),
		tableQ(mon(`max by (etcd_cluster, member, endpoint) (etcd_monitor_member_is_leader{SEL})`)),
		tableQ(mon(`max by (etcd_cluster, member, endpoint) (etcd_monitor_member_is_learner{SEL})`)),
		tableQ(mon(`max by (etcd_cluster, member, endpoint) (etcd_monitor_member_partitioned{SEL})`)),
		tableQ(mon(`max by (etcd_cluster, member, endpoint) (etcd_monitor_member_db_size_bytes{SEL})`)),
		tableQ(mon(`max by (etcd_cluster, member, endpoint) (etcd_monitor_member_db_size_bytes{SEL}) / (max by (etcd_cluster, member, endpoint) (etcd_monitor_member_db_quota_bytes{SEL}) > 0)`)),
		tableQ(mon(`max by (etcd_cluster, member, endpoint) (etcd_monitor_member_raft_index_lag{SEL})`)),
		tableQ(mon(`count by (etcd_cluster, member, endpoint) (etcd_monitor_member_alarm{SEL})`)),
		tableQ(mon(`max by (etcd_cluster, member, endpoint, member_id, version) (etcd_monitor_member_info{SEL})`)),
	).Span(24).Height(8).
		OverrideByName("Up", props(mappingsProp(okBad...), colorCells())).
		OverrideByName("Healthy", props(mappingsProp(okBad...), colorCells())).
		OverrideByName("Leader", props(mappingsProp(mapping{"0", "", "transparent"}, mapping{"1", "LEADER", "blue"}))).
		OverrideByName("Learner", props(mappingsProp(mapping{"0", "", "transparent"}, mapping{"1", "LEARNER", "purple"}))).
		OverrideByName("Partitioned", props(mappingsProp(badOK...), colorCells())).
		OverrideByName("DB size", props(unitProp("bytes"))).
		OverrideByName("Quota used", props(unitProp("percentunit"), thresholdsProp(step{color: "green"}, step{color: "orange", value: 0.75}, step{color: "red", value: 0.9}), colorCells())).
		OverrideByName("Raft index lag", props(thresholdsProp(step{color: "green"}, step{color: "orange", value: 1000}), colorCells())).
		OverrideByName("Alarms", props(thresholdsProp(step{color: "green"}, step{color: "red", value: 1}), colorCells())))

	b.WithRow(row("Synthetic probes (client-side latency)"))
	b.WithPanel(newTimeseries("Probe latency percentiles", "Latency of the monitor's put, linearizable get, serializable get and delete on every member, per cluster and operation. The target: p99 below 100ms.", "s",
		rangeQ(probeQuantile("0.50", "etcd_cluster, operation", "[$__rate_interval]"), "p50 {{etcd_cluster}} {{operation}}"),
		rangeQ(probeQuantile("0.95", "etcd_cluster, operation", "[$__rate_interval]"), "p95 {{etcd_cluster}} {{operation}}"),
		rangeQ(probeQuantile("0.99", "etcd_cluster, operation", "[$__rate_interval]"), "p99 {{etcd_cluster}} {{operation}}"),
	).Span(12).Height(8))
	// The native histogram if Prometheus has it, else the classic buckets
	// (`or on ()`: the buckets only where no native histogram is left, so
	// the two are never drawn together). Grafana draws a native histogram's
	// result as heatmap cells, which the heatmap format leaves as they are.
	b.WithPanel(newHeatmap("Probe latency heatmap", "Distribution of all probe latencies (every operation and member) over time.", "s",
		heatmapQ(mon(`sum(increase(etcd_monitor_probe_duration_seconds{SEL}[$__rate_interval])) or on () sum by (le) (increase(etcd_monitor_probe_duration_seconds_bucket{SEL}[$__rate_interval]))`))).Span(12).Height(8))
	b.WithPanel(newTimeseries("Probe p99 per member", "p99 probe latency of each member and operation: a slow member stands out here.", "s",
		rangeQ(probeQuantile("0.99", "etcd_cluster, member, operation", "[$__rate_interval]"), "{{etcd_cluster}} {{member}} {{operation}}")).Span(12).Height(8))
	b.WithPanel(newTimeseries("Probe failures", "Failed probes per second by reason (timeout, unavailable, no_space, permission_denied, ...).", "ops",
		rangeQ(mon(`sum by (etcd_cluster, operation, reason) (rate(etcd_monitor_probe_failures_total{SEL}[$__rate_interval]))`), "{{etcd_cluster}} {{operation}} {{reason}}")).Span(12).Height(8))
	b.WithPanel(newTimeseries("Probe p99 against a week ago", "This hour's p99 over the same hour a week earlier (EtcdProbeLatencyRegressed fires above 2 and 10ms). Empty until a week of data exists.", "none",
		rangeQ("("+probeQuantile("0.99", "etcd_cluster, operation", "[1h]")+") / ("+probeQuantile("0.99", "etcd_cluster, operation", "[1h] offset 1w")+")", "{{etcd_cluster}} {{operation}}")).Span(24).Height(7).
		Thresholds(thresholds(step{color: "green"}, step{color: "red", value: 2})).
		Legend(legend(common.LegendDisplayModeList, common.LegendPlacementRight, "lastNotNull", "max")))

	b.WithRow(row("Leadership"))
	b.WithPanel(newTimeseries("Leader changes", "Leader changes in the last hour: those the monitor saw, and elections from the raft term (which also counts elections between two checks). EtcdFrequentLeaderChanges warns above 2 an hour and pages above 3.", "none",
		rangeQ(mon(`sum by (etcd_cluster) (increase(etcd_monitor_cluster_leader_changes_total{SEL}[1h]))`), "{{etcd_cluster}} leader changes seen"),
		rangeQ(mon(`max by (etcd_cluster) (increase(etcd_monitor_cluster_raft_term{SEL}[1h]))`), "{{etcd_cluster}} elections (raft term)"),
	).Span(12).Height(7).Decimals(0))
	b.WithPanel(newStateTimeline("Leader over time", "Which member led when.",
		rangeQ(mon(`max by (etcd_cluster, member) (etcd_monitor_member_is_leader{SEL})`), "{{etcd_cluster}} {{member}}")).Span(12).Height(7).
		Mappings(mappings(mapping{"0", "follower", "transparent"}, mapping{"1", "leader", "blue"})))

	b.WithRow(row("Capacity"))
	b.WithPanel(newTimeseries("DB size against quota", "Physical backend size of each member (what the quota and NOSPACE use), the part in use, and the quota. At the quota etcd raises NOSPACE and refuses writes.", "bytes",
		rangeQ(mon(`max by (etcd_cluster, member) (etcd_monitor_member_db_size_bytes{SEL})`), "{{etcd_cluster}} {{member}} size"),
		rangeQ(mon(`max by (etcd_cluster, member) (etcd_monitor_member_db_size_in_use_bytes{SEL})`), "{{etcd_cluster}} {{member}} in use"),
		rangeQ(mon(`max by (etcd_cluster) (etcd_monitor_member_db_quota_bytes{SEL})`), "{{etcd_cluster}} quota"),
	).Span(12).Height(8).OverrideByQuery("C", props(dashedLine(), fixedColor("red"))))
	b.WithPanel(newBarGauge("Quota used", "Physical size over quota per member; EtcdDatabaseQuotaUsageHigh warns at 75% and pages at 90%.", "percentunit",
		instantQ(mon(`max by (etcd_cluster, member) (etcd_monitor_member_db_size_bytes{SEL}) / (max by (etcd_cluster, member) (etcd_monitor_member_db_quota_bytes{SEL}) > 0)`), "{{etcd_cluster}} {{member}}")).Span(6).Height(8).
		Min(0).Max(1).Thresholds(thresholds(step{color: "green"}, step{color: "orange", value: 0.75}, step{color: "red", value: 0.9})))
	b.WithPanel(newTimeseries("Fragmentation", "Share of each member's database file that is free (1 − in use / size): what a defragmentation would return to the filesystem.", "percentunit",
		rangeQ(mon(`1 - max by (etcd_cluster, member) (etcd_monitor_member_db_size_in_use_bytes{SEL}) / (max by (etcd_cluster, member) (etcd_monitor_member_db_size_bytes{SEL}) > 0)`), "{{etcd_cluster}} {{member}}")).Span(6).Height(8).
		Min(0).Max(1))
	b.WithPanel(newTimeseries("Write rate", "Revisions per second: every put, delete and transaction that writes (the monitor's probes included).", "wps",
		rangeQ(mon(`max by (etcd_cluster) (rate(etcd_monitor_cluster_revision{SEL}[$__rate_interval]))`), "{{etcd_cluster}}")).Span(12).Height(7))
	b.WithPanel(newTimeseries("DB growth", "Change of the physical size over the last hour, per member; the quota-exhaustion prediction works from the same trend.", "bytes",
		rangeQ(mon(`max by (etcd_cluster, member) (delta(etcd_monitor_member_db_size_bytes{SEL}[1h]))`), "{{etcd_cluster}} {{member}}")).Span(12).Height(7))

	b.WithRow(row("Raft"))
	b.WithPanel(newTimeseries("Raft index lag", "Entries each member is behind the leader's raft index (polls are not atomic: a few entries of lag are normal under load).", "none",
		rangeQ(mon(`max by (etcd_cluster, member) (etcd_monitor_member_raft_index_lag{SEL})`), "{{etcd_cluster}} {{member}}")).Span(12).Height(7))
	b.WithPanel(newTimeseries("Raft apply lag", "Committed entries each member has not applied yet; etcd refuses requests beyond 5000.", "none",
		rangeQ(mon(`max by (etcd_cluster, member) (etcd_monitor_member_raft_apply_lag{SEL})`), "{{etcd_cluster}} {{member}}")).Span(12).Height(7))

	b.WithRow(row("Certificates and the monitor"))
	b.WithPanel(newBarGauge("TLS certificate expiry", "Time left on each certificate: server (client URL), peer, CA and the monitor's own client certificate. Warning under 14 days, critical under 3. Empty for clusters without TLS.", "s",
		instantQ(mon(`min by (etcd_cluster, endpoint, role) (etcd_monitor_tls_cert_not_after_timestamp_seconds{SEL}) - time()`), "{{etcd_cluster}} {{role}} {{endpoint}}")).Span(12).Height(7).
		Thresholds(thresholds(step{color: "red"}, step{color: "orange", value: 3 * 86400}, step{color: "green", value: 14 * 86400})).NoValue("no TLS"))
	b.WithPanel(newStat("Last check", "Seconds since the monitor's last completed check of each cluster.", "s",
		instantQ(mon(`time() - max by (etcd_cluster) (etcd_monitor_last_check_timestamp_seconds{SEL,member=""})`), "{{etcd_cluster}}")).Span(6).Height(7).
		Thresholds(thresholds(step{color: "green"}, step{color: "orange", value: 60}, step{color: "red", value: 300})))
	b.WithPanel(newStat("Monitor up", "Whether Prometheus scrapes etcd-monitor.", "none",
		instantQ(`up{`+monitorJob+`}`, "{{instance}}")).Span(6).Height(7).
		Mappings(mappings(okBad...)))
	b.WithPanel(newTable("Firing alerts", "etcd alerts firing now in Prometheus (Alertmanager decides who hears about them).",
		map[string]string{"alertname": "Alert", "severity": "Severity", "etcd_cluster": "Cluster", "member": "Member", "endpoint": "Endpoint", "instance": "Instance", "operation": "Operation"},
		[]string{"alertname", "severity", "etcd_cluster", "member", "endpoint", "instance", "operation"},
		[]string{"Value", "alertstate", "__name__"},
		tableQ(`ALERTS{alertstate="firing",etcd_cluster=~"$cluster"}`)).Span(24).Height(7))
	return b
}
