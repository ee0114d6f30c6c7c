package server

import (
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/collector"
)

// probeBuckets are the classic buckets of etcd_monitor_probe_duration_seconds,
// for every watched cluster: a fleet's scrape is mostly these buckets, so
// they are the monitor's size knob (docs/performance-fleet.md).
type probeBuckets struct {
	spec    string
	buckets []float64
}

func registerProbeBucketFlag(cmd *kingpin.CmdClause) *probeBuckets {
	b := &probeBuckets{spec: "default", buckets: collector.DefaultProbeBuckets}
	cmd.Flag("probe.buckets", "Classic buckets of the probe latency histogram: default (0.5ms to 5s), fleet (10ms, 100ms, 1s: for hundreds of clusters), none (native histogram only; Prometheus 3 scrapes it with protobuf), or a comma-separated list of upper bounds in seconds.").
		Default("default").SetValue(b)
	return b
}

func (b *probeBuckets) Set(s string) error {
	v, err := collector.ParseProbeBuckets(s)
	if err != nil {
		return err
	}
	b.spec, b.buckets = strings.TrimSpace(s), v
	return nil
}

func (b *probeBuckets) String() string { return b.spec }
