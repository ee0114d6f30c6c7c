package maintenance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// settleWait is longer than etcd's default backend batch interval (100ms),
// so that each write of settleFreePages is a commit of its own.
const settleWait = 150 * time.Millisecond

// compact compacts to the current revision minus KeepRevisions and waits
// until the compaction is applied to the backend of the member that served
// it (WithCompactPhysical), so the freed pages exist when the members are
// judged again.
func compact(ctx context.Context, client *clientv3.Client, conn *etcdconn.Config, opts DefragOptions) (*CompactionResult, error) {
	res := &CompactionResult{}
	gctx, cancel := context.WithTimeout(ctx, conn.RequestTimeout)
	// Any key will do: the header carries the store's revision.
	resp, err := client.Get(gctx, "etcd-monitor/compaction", clientv3.WithCountOnly())
	cancel()
	if err != nil {
		return res, fmt.Errorf("reading the current revision before compacting: %w", err)
	}
	res.CurrentRevision = resp.Header.Revision
	target := res.CurrentRevision - opts.KeepRevisions
	if target < 1 {
		res.Note = fmt.Sprintf("nothing to compact (revision %d, keeping %d)", res.CurrentRevision, opts.KeepRevisions)
		return res, nil
	}
	cctx, cancel := context.WithTimeout(ctx, opts.DefragTimeout)
	defer cancel()
	t0 := time.Now()
	_, err = client.Compact(cctx, target, clientv3.WithCompactPhysical())
	res.Took = time.Since(t0)
	switch {
	case err == nil:
		res.Revision = target
		res.Note = fmt.Sprintf("compacted to revision %d (current %d, keeping %d) in %s", target, res.CurrentRevision, opts.KeepRevisions, res.Took.Round(time.Millisecond))
	case errors.Is(err, rpctypes.ErrCompacted):
		res.Note = fmt.Sprintf("already compacted at or beyond revision %d", target)
	default:
		return res, fmt.Errorf("compacting to revision %d: %w", target, err)
	}
	return res, nil
}

// settleFreePages makes members count the pages a compaction freed. Status
// takes its in-use figure when a backend write transaction begins, and bbolt
// frees the pages of a commit only once every read transaction older than a
// later commit has ended; on a quiet cluster nothing commits after the
// compaction, and every member would look as full as before it. A lease
// granted and revoked twice commits four times on every member without
// touching the keyspace or its revision. Under NOSPACE the grant is refused
// (it counts against the quota); the members holding the alarm are selected
// by it anyway.
func settleFreePages(ctx context.Context, client *clientv3.Client, conn *etcdconn.Config) error {
	for range 2 {
		rctx, cancel := context.WithTimeout(ctx, conn.RequestTimeout)
		lease, err := client.Grant(rctx, 60)
		cancel()
		if err != nil {
			return fmt.Errorf("granting a lease: %w", err)
		}
		if err := sleep(ctx, settleWait); err != nil {
			return err
		}
		rctx, cancel = context.WithTimeout(ctx, conn.RequestTimeout)
		_, err = client.Revoke(rctx, lease.ID)
		cancel()
		if err != nil {
			return fmt.Errorf("revoking lease %x: %w", lease.ID, err)
		}
		if err := sleep(ctx, settleWait); err != nil {
			return err
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
