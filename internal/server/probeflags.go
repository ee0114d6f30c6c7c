package server

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
)

// probeBuckets are the classic buckets of etcd_monitor_probe_duration_seconds,
// for every watched cluster: a fleet's scrape is mostly these buckets, so
// they are the monitor's size knob (docs/performance-fleet.md).
type probeBuckets struct {
	spec    string
	buckets []float64
}

// registerMaxRoundsFlag: the rounds in flight across every cluster, so that a
// fleet's rounds queue in the monitor, where the wait is counted as the
// monitor's (etcd_monitor_rounds_late_total, …_skipped_total), rather than
// pile up as requests whose timeouts would be charged to etcd.
func registerMaxRoundsFlag(cmd *kingpin.CmdClause) *int {
	n := new(positiveInt)
	cmd.Flag("rounds.max-in-flight", "Most check and probe rounds in flight at once, across all clusters; a round that gets no slot before its next one is skipped and counted in etcd_monitor_rounds_skipped_total, never against etcd.").
		Default(strconv.Itoa(collector.DefaultMaxInFlightRounds)).SetValue(n)
	return (*int)(n)
}

// positiveInt is a count of at least 1.
type positiveInt int

func (p *positiveInt) Set(s string) error {
	v, err := cli.ParseInt(s)
	if err != nil {
		return err
	}
	if v < 1 {
		return fmt.Errorf("want a whole number of at least 1, got %q", s)
	}
	*p = positiveInt(v)
	return nil
}

func (p *positiveInt) String() string { return strconv.Itoa(int(*p)) }

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
