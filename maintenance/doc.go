// Package maintenance does what operators otherwise do by hand with etcdctl
// and get wrong under pressure: defragmenting a cluster one member at a time
// without ever costing it quorum, and saving a snapshot that is known to be
// restorable before it replaces anything.
//
// Health comes from collector.Checker, the same rounds the exporter runs, so
// "healthy" means the same thing on a dashboard and before a defragmentation.
// KV, lease, txn and watch are clientv3's business and not wrapped here.
package maintenance
