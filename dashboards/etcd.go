package dashboards

import "strings"

// etc writes the selector of etcd's own targets (their job, the cluster
// and instance variables) in place of SEL.
func etc(expr string) string {
	return strings.ReplaceAll(expr, "SEL", etcdJob+`,etcd_cluster=~"$cluster",instance=~"$instance"`)
}

// etcdInternals is the per-member view from etcd's own /metrics: disk, raft,
// network, gRPC, and the seed's USE and client views.
func etcdInternals() *dashboard {
	b := newBoard(UIDEtcd, "etcd-monitor / etcd internals",
		"etcd's own metrics, scraped from every member's /metrics (job=\"etcd\", labelled with etcd_cluster): disk latency, raft proposals, peer network, gRPC traffic and failures, and resource use (CPU, memory, file descriptors, bandwidth, watchers, clients).",
		queryVariable("cluster", "Cluster", "etcd_server_has_leader{"+etcdJob+"}", "etcd_cluster",
			"etcd clusters, by the etcd_cluster label of etcd's scrape targets (give it the name etcd-monitor uses)."),
		queryVariable("instance", "Member", "etcd_server_has_leader{"+etcdJob+`,etcd_cluster=~"$cluster"}`, "instance",
			"Members, by the address Prometheus scrapes."))

	b.row("Members")
	b.add(6, 4, stat("Members with a leader", "Members that know a leader, of the members scraped.", "none",
		instantQ(etc(`sum by (etcd_cluster) (etcd_server_has_leader{SEL})`), "{{etcd_cluster}} with a leader"),
		instantQ(etc(`count by (etcd_cluster) (up{SEL} == 1)`), "{{etcd_cluster}} scraped")).
		option("colorMode", "value"))
	b.add(6, 4, stat("Leader", "The member that says it leads.", "none",
		instantQ(etc(`max by (etcd_cluster, instance) (etcd_server_is_leader{SEL} == 1)`), "{{etcd_cluster}}: {{instance}}")).
		option("textMode", "name").option("colorMode", "value").noValue("NO LEADER"))
	b.add(6, 4, stat("Leader changes (1h)", "Leader changes each member saw in the last hour (etcd's counter; it restarts with the member).", "none",
		instantQ(etc(`max by (etcd_cluster) (increase(etcd_server_leader_changes_seen_total{SEL}[1h]))`), "{{etcd_cluster}}")).
		decimals(0).thresholds(step{color: "green"}, step{color: "orange", value: 3}))
	b.add(6, 4, stat("Server versions", "Members per etcd server version: more than one is a rolling upgrade or forgotten skew.", "none",
		instantQ(etc(`count by (etcd_cluster, server_version) (etcd_server_version{SEL})`), "{{etcd_cluster}} {{server_version}}")).
		option("colorMode", "value"))

	b.row("Disk")
	b.add(12, 8, timeseries("WAL fsync p99", "99th percentile of etcd's write-ahead-log fsync: every raft entry waits for it. Above 10ms (EtcdSlowWALFsync) the disk is too slow for etcd.", "s",
		rangeQ(etc(`histogram_quantile(0.99, sum by (etcd_cluster, instance, le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{SEL}[$__rate_interval])))`), "{{instance}}")).
		thresholds(step{color: "green"}, step{color: "red", value: 0.01}).
		option("legend", map[string]any{"calcs": []string{"mean", "max"}, "displayMode": "table", "placement": "bottom", "showLegend": true}))
	b.add(12, 8, timeseries("Backend commit p99", "99th percentile of the bbolt backend commit. Above 25ms (EtcdSlowBackendCommit) writes queue up.", "s",
		rangeQ(etc(`histogram_quantile(0.99, sum by (etcd_cluster, instance, le) (rate(etcd_disk_backend_commit_duration_seconds_bucket{SEL}[$__rate_interval])))`), "{{instance}}")).
		thresholds(step{color: "green"}, step{color: "red", value: 0.025}))

	b.row("Raft")
	b.add(12, 8, timeseries("Proposals", "Raft proposals committed, applied and failed per second. Failed proposals are normal during an election, not for long.", "ops",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_server_proposals_committed_total{SEL}[$__rate_interval]))`), "committed {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_server_proposals_applied_total{SEL}[$__rate_interval]))`), "applied {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_server_proposals_failed_total{SEL}[$__rate_interval]))`), "failed {{instance}}"),
	))
	b.add(12, 8, timeseries("Pending proposals and apply backlog", "Proposals waiting to commit, and committed entries not yet applied.", "none",
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_server_proposals_pending{SEL})`), "pending {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_server_proposals_committed_total{SEL}) - max by (etcd_cluster, instance) (etcd_server_proposals_applied_total{SEL})`), "unapplied {{instance}}"),
	))

	b.row("Network")
	b.add(8, 8, timeseries("Peer round trip p99", "99th percentile of the round trip between members. Above 150ms (EtcdPeerRTTHigh) heartbeats and elections suffer.", "s",
		rangeQ(etc(`histogram_quantile(0.99, sum by (etcd_cluster, instance, To, le) (rate(etcd_network_peer_round_trip_time_seconds_bucket{SEL}[$__rate_interval])))`), "{{instance}} to {{To}}")).
		thresholds(step{color: "green"}, step{color: "red", value: 0.15}))
	b.add(8, 8, timeseries("Client traffic", "Bytes per second received from and sent to clients over gRPC.", "Bps",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_client_grpc_received_bytes_total{SEL}[$__rate_interval]))`), "received {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_client_grpc_sent_bytes_total{SEL}[$__rate_interval]))`), "sent {{instance}}"),
	))
	b.add(8, 8, timeseries("Peer traffic", "Bytes per second sent to and received from the other members (raft messages and snapshots).", "Bps",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_peer_sent_bytes_total{SEL}[$__rate_interval]))`), "sent {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_peer_received_bytes_total{SEL}[$__rate_interval]))`), "received {{instance}}"),
	))

	b.row("gRPC")
	b.add(8, 8, timeseries("Requests", "Unary requests per second by method (Range, Put, Txn, LeaseGrant, ...).", "reqps",
		rangeQ(etc(`sum by (etcd_cluster, grpc_method) (rate(grpc_server_started_total{SEL,grpc_type="unary"}[$__rate_interval]))`), "{{etcd_cluster}} {{grpc_method}}")))
	b.add(8, 8, timeseries("Failed requests", "Requests per second that ended with a code other than OK, by method and code. Watch cancellations (Canceled) are normal.", "reqps",
		rangeQ(etc(`sum by (etcd_cluster, grpc_method, grpc_code) (rate(grpc_server_handled_total{SEL,grpc_code!="OK"}[$__rate_interval])) > 0`), "{{grpc_method}} {{grpc_code}}")))
	b.add(8, 8, timeseries("Server failure ratio", "Share of unary requests that failed on the server (Unknown, DeadlineExceeded, ResourceExhausted, Internal, Unavailable, DataLoss); EtcdGRPCRequestsFailing fires above 5%.", "percentunit",
		rangeQ(etc(`(sum by (etcd_cluster, instance) (rate(grpc_server_handled_total{SEL,grpc_method!~"Watch|LeaseKeepAlive",grpc_code=~"Unknown|DeadlineExceeded|ResourceExhausted|Internal|Unavailable|DataLoss"}[$__rate_interval])) or 0 * sum by (etcd_cluster, instance) (rate(grpc_server_handled_total{SEL,grpc_method!~"Watch|LeaseKeepAlive"}[$__rate_interval]))) / (sum by (etcd_cluster, instance) (rate(grpc_server_handled_total{SEL,grpc_method!~"Watch|LeaseKeepAlive"}[$__rate_interval])) > 0)`), "{{instance}}")).
		thresholds(step{color: "green"}, step{color: "red", value: 0.05}))

	b.row("Resources (USE)")
	b.add(8, 8, timeseries("CPU", "CPU time used by each etcd process (1 = one core).", "percentunit",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(process_cpu_seconds_total{SEL}[$__rate_interval]))`), "{{instance}}")))
	b.add(8, 8, timeseries("Memory", "Resident memory and Go heap in use of each etcd process.", "bytes",
		rangeQ(etc(`max by (etcd_cluster, instance) (process_resident_memory_bytes{SEL})`), "resident {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (go_memstats_heap_inuse_bytes{SEL})`), "heap in use {{instance}}"),
	))
	b.add(8, 8, timeseries("Open file descriptors", "Descriptors open (connections, WAL and snapshot files) against the process limit.", "none",
		rangeQ(etc(`max by (etcd_cluster, instance) (process_open_fds{SEL})`), "open {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (process_max_fds{SEL})`), "limit {{instance}}"),
	).overrideByQuery("B", dashedLine()))
	b.add(8, 8, bargauge("File descriptors used", "Open descriptors as a share of the limit; etcd stops accepting connections at the limit.", "percentunit",
		instantQ(etc(`max by (etcd_cluster, instance) (process_open_fds{SEL}) / max by (etcd_cluster, instance) (process_max_fds{SEL})`), "{{instance}}")).
		minMax(0, 1).thresholds(step{color: "green"}, step{color: "orange", value: 0.8}, step{color: "red", value: 0.9}))
	b.add(8, 8, timeseries("Network bandwidth", "All bytes per second in and out of each member: client gRPC plus peer traffic.", "Bps",
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_client_grpc_received_bytes_total{SEL}[$__rate_interval])) + sum by (etcd_cluster, instance) (rate(etcd_network_peer_received_bytes_total{SEL}[$__rate_interval]))`), "in {{instance}}"),
		rangeQ(etc(`sum by (etcd_cluster, instance) (rate(etcd_network_client_grpc_sent_bytes_total{SEL}[$__rate_interval])) + sum by (etcd_cluster, instance) (rate(etcd_network_peer_sent_bytes_total{SEL}[$__rate_interval]))`), "out {{instance}}"),
	))
	b.add(8, 8, timeseries("Storage", "Backend database size of each member (physical, and in use) against its quota.", "bytes",
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_mvcc_db_total_size_in_bytes{SEL})`), "size {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_mvcc_db_total_size_in_use_in_bytes{SEL})`), "in use {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster) (etcd_server_quota_backend_bytes{SEL})`), "quota {{etcd_cluster}}"),
	).overrideByQuery("C", dashedLine(), fixedColor("red")))

	b.row("Clients")
	b.add(12, 8, timeseries("Watchers", "Watchers and watch streams on each member; slow watchers are behind on events (they hold old revisions in memory).", "none",
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_debugging_mvcc_watcher_total{SEL})`), "watchers {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_debugging_mvcc_watch_stream_total{SEL})`), "watch streams {{instance}}"),
		rangeQ(etc(`max by (etcd_cluster, instance) (etcd_debugging_mvcc_slow_watcher_total{SEL})`), "slow watchers {{instance}}"),
	))
	b.add(12, 8, timeseries("Connected clients (open streams)", "gRPC streams open on each member by method: every client that watches or keeps a lease alive holds one. etcd exports no count of connections; this is the closest.", "none",
		rangeQ(etc(`sum by (etcd_cluster, instance, grpc_method) (grpc_server_started_total{SEL,grpc_type="bidi_stream"}) - (sum by (etcd_cluster, instance, grpc_method) (grpc_server_handled_total{SEL,grpc_type="bidi_stream"}) or 0 * sum by (etcd_cluster, instance, grpc_method) (grpc_server_started_total{SEL,grpc_type="bidi_stream"}))`), "{{grpc_method}} {{instance}}")))
	return b.d
}
