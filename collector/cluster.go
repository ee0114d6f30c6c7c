package collector

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/etcd-monitor/etcd-monitor/internal/exposition"
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

// SnapshotSource lists the latest snapshot of every watched cluster.
type SnapshotSource interface {
	Snapshots() []*Snapshot
}

// ClusterCollector is the snapshots' families as a prometheus.Collector,
// for a registry of one's own (tests, an embedding program). The monitor's
// /metrics writes the same families without a registry (Scraper).
// It only reads published snapshots, so a scrape never waits on a member.
type ClusterCollector struct {
	src   SnapshotSource
	descs []*prometheus.Desc // of snapFamilies, in their order
}

// NewClusterCollector returns a collector over src.
func NewClusterCollector(src SnapshotSource) *ClusterCollector {
	c := &ClusterCollector{src: src}
	for _, f := range snapFamilies {
		c.descs = append(c.descs, prometheus.NewDesc(f.name, f.help, f.labels, nil))
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *ClusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *ClusterCollector) Collect(ch chan<- prometheus.Metric) {
	snaps := c.src.Snapshots()
	a := exposition.NewKeepingArena() // the registry reads the messages later
	labels := make([]snapLabels, len(snaps))
	for i, s := range snaps {
		labels[i] = newSnapLabels(a, s)
	}
	for i := range snapFamilies {
		for _, m := range snapFamilies[i].build(a, snaps, labels, nil) {
			ch <- builtMetric{c.descs[i], m}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// builtMetric is a series already written as a message: a gathered
// dto.Metric is only read, so Write hands out its parts.
type builtMetric struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

func (b builtMetric) Desc() *prometheus.Desc { return b.desc }

func (b builtMetric) Write(out *dto.Metric) error {
	out.Label, out.Gauge, out.Counter = b.m.Label, b.m.Gauge, b.m.Counter
	return nil
}
