package maintenance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// DefaultSnapshotTimeout bounds a whole save when no timeout is given.
const DefaultSnapshotTimeout = 30 * time.Minute

// SnapshotOptions configure a save.
type SnapshotOptions struct {
	// Timeout bounds choosing the member, streaming, writing and verifying.
	Timeout time.Duration
	// ClusterName is the etcd_cluster label of the save's logs.
	ClusterName string
}

// SnapshotResult describes a saved and verified snapshot.
type SnapshotResult struct {
	Path     string
	Member   string // the member it was streamed from
	Endpoint string
	// Leader: taken from the leader, which happens only when it is the
	// cluster's one voting member.
	Leader   bool
	Size     int64
	Revision int64
	// Version is the storage version the member reported (empty before
	// etcd 3.6).
	Version  string
	Duration time.Duration
	Finished time.Time
}

// CheckSnapshotPath reports bad destinations as UsageErrors before any
// connection is made.
func CheckSnapshotPath(file string) error {
	if strings.TrimSpace(file) == "" {
		return cli.Usagef("FILE: must not be empty")
	}
	dir := filepath.Dir(file)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return cli.Usagef("FILE: directory %s does not exist", dir)
	case err != nil:
		return cli.Usagef("FILE: %v", err)
	case !fi.IsDir():
		return cli.Usagef("FILE: %s is not a directory", dir)
	}
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		return cli.Usagef("FILE: %s is a directory", file)
	}
	return nil
}

// SaveSnapshot streams a snapshot from a healthy follower into a temporary
// file next to file, syncs and verifies it, and only then renames it to
// file. A failed or interrupted save removes the temporary file, so file is
// either the new verified snapshot or what it was before.
func SaveSnapshot(ctx context.Context, conn *etcdconn.Config, file string, opts SnapshotOptions, logger *slog.Logger) (*SnapshotResult, error) {
	if err := CheckSnapshotPath(file); err != nil {
		return nil, err
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultSnapshotTimeout
	}
	if opts.Timeout < 0 {
		return nil, cli.Usagef("--timeout: must be positive, got %s", opts.Timeout)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()

	src, s, err := snapshotSource(ctx, conn, opts.ClusterName, logger)
	if err != nil {
		return nil, err
	}
	res := &SnapshotResult{Path: file, Member: src.Label(), Endpoint: src.Endpoint, Leader: s.HasLeader && s.LeaderID == src.ID}
	logger.Info("saving snapshot", "member", res.Member, "endpoint", res.Endpoint, "file", file)

	dir, base := filepath.Split(file)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary file next to %s: %w", file, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = tmp.Close()
			if err := os.Remove(tmp.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
				logger.Warn("could not remove the temporary snapshot file", "file", tmp.Name(), "err", err)
			}
		}
	}()

	version, err := stream(ctx, conn, src.Endpoint, tmp)
	if err != nil {
		return nil, fmt.Errorf("streaming the snapshot from %s (%s): %w", res.Member, res.Endpoint, err)
	}
	res.Version = version
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	info, err := VerifySnapshot(tmp.Name())
	if err != nil {
		return nil, fmt.Errorf("snapshot from %s failed verification: %w", res.Member, err)
	}
	// Interrupted after the stream but before the rename: still nothing
	// at file, as promised.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("saving the snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return nil, fmt.Errorf("moving the snapshot into place: %w", err)
	}
	committed = true
	// The rename is durable only once the directory is synced; a crash
	// before it could bring back the old file or none.
	if err := syncDir(dir); err != nil {
		return nil, fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	res.Size, res.Revision = info.Size, info.Revision
	res.Finished = time.Now()
	res.Duration = res.Finished.Sub(start)
	logger.Info("snapshot saved", "file", file, "size_bytes", res.Size, "revision", res.Revision, "duration", res.Duration)
	return res, nil
}

// snapshotSource picks the member to stream from: a healthy voting follower
// (the most recent revision first), so the leader is spared the extra disk
// reads and network; the leader only when it is the cluster's one voting
// member. Learners are passed over: they may lag.
func snapshotSource(ctx context.Context, conn *etcdconn.Config, cluster string, logger *slog.Logger) (*collector.MemberState, *collector.Snapshot, error) {
	ch := collector.NewChecker(collector.ClusterConfig{Name: cluster, Conn: conn, HealthCheckInterval: 5 * time.Second}, logger)
	defer ch.Close()
	s := ch.CheckOnce(ctx)
	if err := ctx.Err(); err != nil {
		return nil, s, fmt.Errorf("checking the cluster: %w", err)
	}
	if !s.Success {
		return nil, s, &cli.ExitError{Code: cli.ExitUnreachable, Err: fmt.Errorf("no member of the cluster answered (%s)", unhealthy(s, nil))}
	}
	m, err := pickSource(s)
	return m, s, err
}

func pickSource(s *collector.Snapshot) (*collector.MemberState, error) {
	var followers []*collector.MemberState
	var leader *collector.MemberState
	for i := range s.Members {
		m := &s.Members[i]
		if m.Learner || !m.Healthy {
			continue
		}
		if s.HasLeader && m.ID == s.LeaderID {
			leader = m
			continue
		}
		followers = append(followers, m)
	}
	if len(followers) > 0 {
		slices.SortStableFunc(followers, func(a, b *collector.MemberState) int {
			if c := cmp.Compare(b.Revision, a.Revision); c != 0 {
				return c
			}
			return strings.Compare(a.Label(), b.Label())
		})
		return followers[0], nil
	}
	if leader != nil && s.VotingMembers == 1 {
		return leader, nil
	}
	return nil, fmt.Errorf("no healthy follower to take the snapshot from (not healthy: %s)", unhealthy(s, nil))
}

// stream copies the snapshot of the member at endpoint into f through a
// client that knows no other endpoint: a snapshot is the point-in-time state
// of one member, and a balancer must not switch members mid-stream.
func stream(ctx context.Context, conn *etcdconn.Config, endpoint string, f *os.File) (string, error) {
	client, err := conn.New(endpoint)
	if err != nil {
		return "", err
	}
	defer client.Close()
	resp, err := client.SnapshotWithVersion(ctx)
	if err != nil {
		return "", err
	}
	defer resp.Snapshot.Close()
	if _, err := io.Copy(f, resp.Snapshot); err != nil {
		return resp.Version, err
	}
	return resp.Version, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// PrintSnapshot writes the one-line summary the command prints.
func PrintSnapshot(w io.Writer, r *SnapshotResult) {
	role := "follower"
	if r.Leader {
		role = "leader, the only voting member"
	}
	fmt.Fprintf(w, "Snapshot saved to %s: %s, revision %d, from %s (%s, %s) in %s; verified (sha256, bbolt).\n",
		r.Path, bytesize.Format(r.Size), r.Revision, r.Member, r.Endpoint, role, r.Duration.Round(time.Millisecond))
}
