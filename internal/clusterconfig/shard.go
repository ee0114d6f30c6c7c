package clusterconfig

import (
	"fmt"
	"hash/fnv"

	"github.com/etcd-monitor/etcd-monitor/collector"
)

// Shard is one replica's part of a fleet (--shard.index of --shard.count),
// kube-state-metrics' idea: every replica reads the same config and watches
// the clusters whose name hashes to its index, so N replicas split a fleet
// with no coordination, and each cluster is watched by exactly one of them.
//
// The hash is FNV-1a 64 of the cluster's name, modulo Count. It is part of
// the interface: it must not change between versions, or an upgrade would
// move clusters between replicas (and their history with them).
type Shard struct {
	Index, Count int
}

// ShardOf is the index of the replica that watches the cluster name among
// count replicas.
func ShardOf(name string, count int) int {
	if count <= 1 {
		return 0
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return int(h.Sum64() % uint64(count))
}

// Check is the rule for the shard flags.
func (s Shard) Check() error {
	switch {
	case s.Count < 1:
		return fmt.Errorf("--shard.count: must be at least 1, got %d", s.Count)
	case s.Index < 0 || s.Index >= s.Count:
		return fmt.Errorf("--shard.index: must be from 0 to --shard.count-1 (%d), got %d", s.Count-1, s.Index)
	}
	return nil
}

// Owns says whether this replica watches the cluster name. The zero Shard
// (one replica) owns every cluster.
func (s Shard) Owns(name string) bool {
	return s.Count <= 1 || ShardOf(name, s.Count) == s.Index
}

// Filter keeps the clusters this replica watches, in order.
func (s Shard) Filter(cs []collector.ClusterConfig) []collector.ClusterConfig {
	out := make([]collector.ClusterConfig, 0, len(cs))
	for _, c := range cs {
		if s.Owns(c.Name) {
			out = append(out, c)
		}
	}
	return out
}
