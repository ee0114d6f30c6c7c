// Package dashboards holds etcd-monitor's Grafana dashboards and the code
// that writes them.
//
// The JSON files beside this file are what users import or provision
// (provisioning/ has Grafana's provisioning files for them):
//
//   - etcd-monitor-overview.json: cluster-level health from etcd-monitor's
//     metrics (quorum, leader, members, probes, capacity, raft, TLS);
//   - etcd-monitor-etcd.json: etcd's own metrics (disk, raft, network,
//     gRPC, resources, clients);
//   - etcd-monitor-benchmark.json: benchmark results from the Pushgateway.
//
// They are generated from the Go definitions here (go generate ./dashboards)
// so that panel ids, layout and selectors stay consistent; a test fails
// when the files and the definitions differ. Load parses the shipped files
// and Queries lists their PromQL, which the tests check with promtool and
// against a live Prometheus (../e2e).
package dashboards
