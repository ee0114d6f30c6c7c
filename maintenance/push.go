package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/etcd-monitor/etcd-monitor/internal/pushgateway"
)

// DefaultPushJob is the job label of pushed snapshot metrics.
const DefaultPushJob = "etcd_monitor_snapshot"

// Metric names read by the EtcdSnapshotTooOld rule and the dashboards.
const (
	MetricLastSuccess = "etcd_monitor_snapshot_last_success_timestamp_seconds"
	MetricLastFailure = "etcd_monitor_snapshot_last_failure_timestamp_seconds"
	MetricSize        = "etcd_monitor_snapshot_size_bytes"
	MetricDuration    = "etcd_monitor_snapshot_duration_seconds"
	MetricRevision    = "etcd_monitor_snapshot_revision"
)

// PushOptions say where snapshot metrics go. The group is job and
// etcd_cluster, so each cluster keeps its own last snapshot.
type PushOptions = pushgateway.Options

// PushSnapshotSuccess records a verified snapshot on the Pushgateway.
func PushSnapshotSuccess(ctx context.Context, o PushOptions, r *SnapshotResult) error {
	return pushGauges(ctx, o, map[string]gauge{
		MetricLastSuccess: {"When the last verified snapshot was saved.", float64(r.Finished.UnixNano()) / 1e9},
		MetricSize:        {"Size of the last verified snapshot, its sha256 trailer included.", float64(r.Size)},
		MetricDuration:    {"How long the last successful save took: choosing the member, streaming, syncing and verifying.", r.Duration.Seconds()},
		MetricRevision:    {"Store revision of the last verified snapshot.", float64(r.Revision)},
	})
}

// PushSnapshotFailure records a failed save. Success series are left as
// they are, so the age of the last good snapshot keeps growing.
func PushSnapshotFailure(ctx context.Context, o PushOptions, when time.Time) error {
	return pushGauges(ctx, o, map[string]gauge{
		MetricLastFailure: {"When a save last failed.", float64(when.UnixNano()) / 1e9},
	})
}

type gauge struct {
	help  string
	value float64
}

// pushGauges adds (POST, not PUT) the gauges to the group: a PUT would
// replace the group and drop the success series on a failure, or the
// failure series on a success.
func pushGauges(ctx context.Context, o PushOptions, gs map[string]gauge) error {
	err := pushgateway.Push(ctx, o, DefaultPushJob, func(ctx context.Context, p *push.Pusher) error {
		for name, g := range gs {
			gg := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: g.help})
			gg.Set(g.value)
			p = p.Collector(gg)
		}
		return p.AddContext(ctx)
	})
	if err != nil {
		return fmt.Errorf("pushing snapshot metrics to %s: %w", o.URL, err)
	}
	return nil
}
