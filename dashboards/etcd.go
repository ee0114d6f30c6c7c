package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// etc writes the selector of etcd's own targets (their job, the cluster
// and instance variables) in place of SEL.
func etc(expr string) string {
	return strings.ReplaceAll(expr, "SEL", etcdJob+`,etcd_cluster=~"$cluster",instance=~"$instance"`)
}

// etcdInternals is the per-member view from etcd's own /metrics: disk, raft,
// network, gRPC, and resource use (USE) and clients.
func etcdInternals() *dashboard.DashboardBuilder {
	b := newBoard(UIDEtcd, "etcd-monitor / etcd internals",
		"etcd's own metrics, scraped from every member's /metrics (job=\"etcd\", labelled with etcd_cluster): disk latency, raft proposals, peer network, gRPC traffic and failures, and resource use (CPU, memory, file descriptors, bandwidth, watchers, clients).",
		queryVariable("cluster", "Cluster", "etcd_server_has_leader{"+etcdJob+"}", "etcd_cluster",
			"etcd clusters, by the etcd_cluster label of etcd's scrape targets (give it the name etcd-monitor uses)."),
		queryVariable("instance", "Member", "etcd_server_has_leader{"+etcdJob+`,etcd_cluster=~"$cluster"}`, "instance",
			"Members, by the address Prometheus scrapes."))

	b.WithRow(row("Members"))
	b.WithPanel(newStat("Members with a leader", "Members that know a leader, of the members scraped.", "none",
		instantQ(etc(`sum by (etcd_cluster) (etcd_server_has_leader{SEL})`), "{{etcd_cluster}} with a leader"),
		instantQ(etc(`count by (etcd_cluster) (up{SEL} == 1)`), "{{etcd_cluster}} scraped")).Span(6).Height(4).
		ColorMode(common.BigValueColorModeValue))
	b.WithPanel(newStat("Leader", "The member that says it leads.", "none",
		instantQ(etc(`max by (etcd_cluster, instance) (etcd_server_is_leader{SEL} == 1)`), "{{etcd_cluster}}: {{instance}}")).Span(6).Height(4).
		TextMode(common.BigValueTextModeName).ColorMode(common.BigValueColorModeValue).NoValue("NO LEADER"))
	b.WithPanel(newStat("Leader changes (1h)", "Leader changes each member saw in the last hour (etcd's counter; it restarts with the member).", "none",
		instantQ(etc(`max by (etcd_cluster) (increase(etcd_server_leader_changes_seen_total{SEL}[1h]))`), "{{etcd_cluster}}")).Span(6).Height(4).
		Decimals(0).Thresholds(thresholds(step{color: "green"}, step{color: "orange", value: 3})))
	b.WithPanel(newStat("Server versions", "Members per etcd server version: more than one is a rolling upgrade or forgotten skew.", "none",
		instantQ(etc(`count by (etcd_cluster, server_version) (etcd_server_version{SEL})`), "{{etcd_cluster}} {{server_version}}")).Span(6).Height(4).
		ColorMode(common.BigValueColorModeValue))

	b.WithRow(row("Disk"))
	b.WithPanel(newTimeseries("WAL fsync p99", "99th percentile of etcd's write-ahead-log fsync: every raft entry waits for it. Above 10ms (EtcdSlowWALFsync) the disk is too slow for etcd.", "s",
		rangeQ(etc(`histogram_quantile(0.99, sum by (etcd_cluster, instance, le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{SEL}[$__rate_interval])))`), "{{instance}}")).Span(12).Height(8).
		Thresholds(thresholds(step{color: "green"}, step{color: "red", value: 0.01})).
		Legend(legend(common.LegendDisplayModeTable, common.LegendPlacementBottom, "mean", "max")))
	b.WithPanel(newTimeseries("Backend commit p99", "99th percentile of the bbolt backend commit. Above 25ms (EtcdSlowBackendCommit) writes queue up.", "s",
		rangeQ(etc(`histogram_quantile(0.99, sum by (etcd_cluster, instance, le) (rate(etcd_disk_backend_commit_duration_seconds_bucket{SEL}[$__rate_interval])))`), "{{instance}}")).Span(12).Height(8).
		Thresholds(thresholds(step{color: "green"}, step{color: "red", value: 0.025})))

	b.WithRow(row("Raft"))
	b.WithPanel(newTimeseries("Proposals", "Raft proposals committed, applied and failed per second. Failed proposals are normal during an election, not for long.", "ops",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_server_proposals_committed_total{SEL}[$__rate_interval]))`), "committed {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_server_proposals_applied_total{SEL}[$__rate_interval]))`), "applied {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_server_proposals_failed_total{SEL}[$__rate_interval]))`), "failed {{instance}}"),
	).Span(12).Height(8))
	b.WithPanel(newTimeseries("Pending proposals and apply backlog", "Proposals waiting to commit, and committed entries not yet applied.", "none",
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_server_proposals_pending{SEL})`), "pending {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_server_proposals_committed_total{SEL}) - max by (etcd_cluster, instance) (etcd_server_proposals_applied_total{SEL})`), "unapplied {{instance}}"),
	).Span(12).Height(8))

	b.WithRow(row("Network"))
	b.WithPanel(newTimeseries("Peer round trip p99", "99th percentile of the round trip between members, interpolated inside etcd's coarse buckets: a trend, not a verdict. EtcdPeerRTTHigh fires on the exact share of round trips above 204.8ms (more than 1%), where heartbeats and elections suffer.", "s",
		rangeQ(etc(`histogram_quantile(0.99, sum by (etcd_cluster, instance, To, le) (rate(etcd_network_peer_round_trip_time_seconds_bucket{SEL}[$__rate_interval])))`), "{{instance}} to {{To}}")).Span(8).Height(8).
		Thresholds(thresholds(step{color: "green"}, step{color: "red", value: 0.2048})))
	b.WithPanel(newTimeseries("Client traffic", "Bytes per second received from and sent to clients over gRPC.", "Bps",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_client_grpc_received_bytes_total{SEL}[$__rate_interval]))`), "received {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_client_grpc_sent_bytes_total{SEL}[$__rate_interval]))`), "sent {{instance}}"),
	).Span(8).Height(8))
	b.WithPanel(newTimeseries("Peer traffic", "Bytes per second sent to and received from the other members (raft messages and snapshots).", "Bps",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_peer_sent_bytes_total{SEL}[$__rate_interval]))`), "sent {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_peer_received_bytes_total{SEL}[$__rate_interval]))`), "received {{instance}}"),
	).Span(8).Height(8))

	b.WithRow(row("gRPC"))
	b.WithPanel(newTimeseries("Requests", "Unary requests per second by method (Range, Put, Txn, LeaseGrant, ...).", "reqps",
		rangeQ(etc(`sum by (etcd_cluster, grpc_method) (rate(grpc_server_started_total{SEL,grpc_type="unary"}[$__rate_interval]))`), "{{etcd_cluster}} {{grpc_method}}")).Span(8).Height(8))
	b.WithPanel(newTimeseries("Failed requests", "Requests per second that ended with a code other than OK, by method and code. Watch cancellations (Canceled) are normal.", "reqps",
		rangeQ(etc(`sum by (etcd_cluster, grpc_method, grpc_code) (rate(grpc_server_handled_total{SEL,grpc_code!="OK"}[$__rate_interval])) > 0`), "{{grpc_method}} {{grpc_code}}")).Span(8).Height(8))
	b.WithPanel(newTimeseries("Server failure ratio", "Share of unary requests that failed on the server (Unknown, DeadlineExceeded, ResourceExhausted, Internal, Unavailable, DataLoss); EtcdGRPCRequestsFailing fires above 5%.", "percentunit",
		rangeQ(etc(`(sum by (etcd_cluster, instance) (rate(grpc_server_handled_total{SEL,grpc_method!~"Watch|LeaseKeepAlive",grpc_code=~"Unknown|DeadlineExceeded|ResourceExhausted|Internal|Unavailable|DataLoss"}[$__rate_interval])) or 0 * sum by (etcd_cluster, instance) (rate(grpc_server_handled_total{SEL,grpc_method!~"Watch|LeaseKeepAlive"}[$__rate_interval]))) / (sum by (etcd_cluster, instance) (rate(grpc_server_handled_total{SEL,grpc_method!~"Watch|LeaseKeepAlive"}[$__rate_interval])) > 0)`), "{{instance}}")).Span(8).Height(8).
		Thresholds(thresholds(step{color: "green"}, step{color: "red", value: 0.05})))

	b.WithRow(row("Resources (USE)"))
	b.WithPanel(newTimeseries("CPU", "CPU time used by each etcd process (1 = one core).", "percentunit",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(process_cpu_seconds_total{SEL}[$__rate_interval]))`), "{{instance}}")).Span(8).Height(8))
	b.WithPanel(newTimeseries("Memory", "Resident memory and Go heap in use of each etcd process.", "bytes",
		rangeQ(etc(`max by (etcd_cluster, instance) (process_resident_memory_bytes{SEL})`), "resident {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (go_memstats_heap_inuse_bytes{SEL})`), "heap in use {{instance}}"),
	).Span(8).Height(8))
	b.WithPanel(newTimeseries("Open file descriptors", "Descriptors open (connections, WAL and snapshot files) against the process limit.", "none",
		rangeQ(etc(`max by (etcd_cluster, instance) (process_open_fds{SEL})`), "open {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (process_max_fds{SEL})`), "limit {{instance}}"),
	).Span(8).Height(8).OverrideByQuery("B", props(dashedLine())))
	b.WithPanel(newBarGauge("File descriptors used", "Open descriptors as a share of the limit; etcd stops accepting connections at the limit.", "percentunit",
		instantQ(etc(`max by (etcd_cluster, instance) (process_open_fds{SEL}) / max by (etcd_cluster, instance) (process_max_fds{SEL})`), "{{instance}}")).Span(8).Height(8).
		Min(0).Max(1).Thresholds(thresholds(step{color: "green"}, step{color: "orange", value: 0.8}, step{color: "red", value: 0.9})))
	b.WithPanel(newTimeseries("Network bandwidth", "All bytes per second in and out of each member: client gRPC plus peer traffic.", "Bps",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_client_grpc_received_bytes_total{SEL}[$__rate_interval])) + sum by (etcd_cluster, instance) (rate(etcd_network_peer_received_bytes_total{SEL}[$__rate_interval]))`), "in {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_client_grpc_sent_bytes_total{SEL}[$__rate_interval])) + sum by (etcd_cluster, instance) (rate(etcd_network_peer_sent_bytes_total{SEL}[$__rate_interval]))`), "out {{instance}}"),
	).Span(8).Height(8))
	b.WithPanel(newTimeseries("Storage", "Backend database size of each member (physical, and in use) against its quota.", "bytes",
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_mvcc_db_total_size_in_bytes{SEL})`), "size {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_mvcc_db_total_size_in_use_in_bytes{SEL})`), "in use {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster) (etcd_server_quota_backend_bytes{SEL})`), "quota {{etcd_cluster}}"),
	).Span(8).Height(8).OverrideByQuery("C", props(dashedLine(), fixedColor("red"))))

	b.WithRow(row("Clients"))
	b.WithPanel(newTimeseries("Watchers", "Watchers and watch streams on each member; slow watchers are behind on events (they hold old revisions in memory).", "none",
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_debugging_mvcc_watcher_total{SEL})`), "watchers {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_debugging_mvcc_watch_stream_total{SEL})`), "watch streams {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_debugging_mvcc_slow_watcher_total{SEL})`), "slow watchers {{instance}}"),
	).Span(12).Height(8))
	b.WithPanel(newTimeseries("Connected clients (open streams)", "gRPC streams open on each member by method: every client that watches or keeps a lease alive holds one. etcd exports no count of connections; this is the closest.", "none",
		rangeQ(etc(`sum by (etcd_cluster, instance, grpc_method) (grpc_server_started_total{SEL,grpc_type="bidi_stream"}) - (sum by (etcd_cluster, instance, grpc_method) (grpc_server_handled_total{SEL,grpc_type="bidi_stream"}) or 0 * sum by (etcd_cluster, instance, grpc_method) (grpc_server_started_total{SEL,grpc_type="bidi_stream"}))`), "{{grpc_method}} {{instance}}")).Span(12).Height(8))
	return b
}
