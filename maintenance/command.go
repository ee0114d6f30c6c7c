package maintenance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/pushgateway"
)

// Flags specific to one maintenance command are NoEnvar: main turns on
// kingpin's default environment variables, whose names leave out the
// command, and an ETCD_MONITOR_FORCE or ETCD_MONITOR_DRY_RUN exported for
// something else must never change what a defragmentation does. The
// connection flags, --cluster.name and --pushgateway.url mean the same in
// every command and keep theirs.

// RegisterDefrag adds the `defrag` command.
func RegisterDefrag(app *kingpin.Application) cli.Command {
	return registerDefrag(app, os.Stdout)
}

func registerDefrag(app *kingpin.Application, out io.Writer) cli.Command {
	cmd := app.Command("defrag", "Defragment the cluster's members one at a time, followers first and the leader last, each only while the cluster can spare it.")
	conn := etcdconn.RegisterFlags(cmd, "127.0.0.1:2379")
	d := DefaultDefragOptions()
	o := d
	var minFree string
	var keepSet bool
	cmd.Flag("min-free-bytes", "Defragment a member only when it would free at least this much (100MiB, 1GiB, or bytes).").
		NoEnvar().Default("100MiB").StringVar(&minFree)
	cmd.Flag("min-free-ratio", "...and only when at least this share of its database file is free (0 to <1; 0 ignores the share).").
		NoEnvar().Default("0").Float64Var(&o.Rule.MinFreeRatio)
	cmd.Flag("force", "Defragment every member whatever it would free.").NoEnvar().BoolVar(&o.Rule.All)
	cmd.Flag("dry-run", "Print the plan and whether it is safe now; change nothing.").NoEnvar().BoolVar(&o.DryRun)
	cmd.Flag("compact", "First compact the keyspace to the current revision minus --keep-revisions.").NoEnvar().BoolVar(&o.Compact)
	cli.Int64Var(cmd.Flag("keep-revisions", "Revisions of history --compact keeps (watchers further behind must re-list).").
		NoEnvar().Default("0").IsSetByUser(&keepSet), &o.KeepRevisions)
	cmd.Flag("disarm-nospace", "At the end, disarm NOSPACE alarms of members back under their quota; members holding the alarm are defragmented whatever they would free.").
		NoEnvar().BoolVar(&o.DisarmNoSpace)
	cmd.Flag("defrag-timeout", "Deadline of each member's defragmentation and of the compaction.").
		NoEnvar().Default(d.DefragTimeout.String()).DurationVar(&o.DefragTimeout)
	cmd.Flag("wait-healthy-timeout", "How long a member may take to serve again after its defragmentation before the run stops.").
		NoEnvar().Default(d.HealthTimeout.String()).DurationVar(&o.HealthTimeout)
	clusterconfig.AddNameFlag(cmd, &o.ClusterName)
	clusterconfig.AddQuotaFlag(cmd, &o.QuotaBackendBytes)

	return cli.Command{Clause: cmd, Run: func(ctx context.Context, logger *slog.Logger) error {
		cfg, err := conn.Config()
		if err != nil {
			return err
		}
		opts := o
		if opts.Rule.MinFreeBytes, err = bytesize.Parse(minFree); err != nil {
			return cli.Usagef("--min-free-bytes: %v", err)
		}
		if keepSet && !opts.Compact {
			return cli.Usagef("--keep-revisions: only used with --compact")
		}
		_, err = Defrag(ctx, cfg, opts, out, logger)
		return err
	}}
}

// RegisterSnapshot adds `snapshot` and its `save` subcommand; the returned
// Command is `snapshot save`.
func RegisterSnapshot(app *kingpin.Application) cli.Command {
	return registerSnapshot(app, os.Stdout)
}

func registerSnapshot(app *kingpin.Application, out io.Writer) cli.Command {
	snap := app.Command("snapshot", "Snapshots of an etcd cluster.")
	cmd := snap.Command("save", "Stream a snapshot from a healthy follower, verify it (sha256, bbolt) and only then move it to FILE.")
	conn := etcdconn.RegisterFlags(cmd, "127.0.0.1:2379")
	var file, pushURL, pushJob, clusterName string
	var timeout time.Duration
	cmd.Arg("FILE", "Where the snapshot goes; its directory must exist. An existing file is replaced only by a verified snapshot.").Required().StringVar(&file)
	cmd.Flag("timeout", "Deadline of the whole save: choosing the member, streaming, syncing and verifying.").
		NoEnvar().Default(DefaultSnapshotTimeout.String()).DurationVar(&timeout)
	cmd.Flag("pushgateway.url", "Push etcd_monitor_snapshot_* metrics to this Pushgateway (e.g. http://pushgateway:9091).").StringVar(&pushURL)
	cmd.Flag("pushgateway.job", "job label of the pushed metrics.").NoEnvar().Default(DefaultPushJob).StringVar(&pushJob)
	clusterconfig.AddNameFlag(cmd, &clusterName)

	return cli.Command{Clause: cmd, Run: func(ctx context.Context, logger *slog.Logger) error {
		if err := CheckSnapshotPath(file); err != nil {
			return err
		}
		cfg, err := conn.Config()
		if err != nil {
			return err
		}
		if timeout <= 0 {
			return cli.Usagef("--timeout: must be positive, got %s", timeout)
		}
		if pushURL != "" {
			if _, err := pushgateway.ParseURL(pushURL); err != nil {
				return cli.Usagef("--pushgateway.url: %v", err)
			}
			if pushJob == "" {
				return cli.Usagef("--pushgateway.job: must not be empty")
			}
		}
		po := PushOptions{URL: pushURL, Job: pushJob, Cluster: clusterName}

		res, err := SaveSnapshot(ctx, cfg, file, SnapshotOptions{Timeout: timeout, ClusterName: clusterName}, logger)
		if err != nil {
			if pushURL != "" && !cli.IsUsage(err) {
				// Pushed even when interrupted: the alert must not
				// assume a save is under way that never finishes.
				if perr := PushSnapshotFailure(context.WithoutCancel(ctx), po, time.Now()); perr != nil {
					logger.Warn("could not record the failure on the Pushgateway", "err", perr)
				}
			}
			return err
		}
		PrintSnapshot(out, res)
		if pushURL != "" {
			if err := PushSnapshotSuccess(context.WithoutCancel(ctx), po, res); err != nil {
				return fmt.Errorf("snapshot saved to %s, but the EtcdSnapshotTooOld alert will not know: %w", file, err)
			}
		}
		return nil
	}}
}
