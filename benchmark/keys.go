package benchmark

import (
	"context"
	"fmt"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// cleanupChunk is how many keys one cleanup delete covers. One DeleteRange
// over a million keys is one raft entry that every member applies in one
// go, stalling everybody else's requests on a production cluster; chunks
// keep each apply short.
const cleanupChunk = 1000

// appendKey appends the key of index idx: the run directory, then the index
// in decimal, zero-padded to the key size. Fixed width makes key order
// index order, so a chunk of indices is one key range.
func (r *runner) appendKey(b []byte, idx int64) []byte {
	b = append(b, r.runDir...)
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], idx, 10)
	for i := len(d); i < r.cfg.KeySize; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

func (r *runner) markWritten(idx int64) {
	// Load first: after the first write of a chunk this is a read of a
	// shared cache line, not a write to it.
	if c := &r.written[idx/cleanupChunk]; !c.Load() {
		c.Store(true)
	}
}

// checkPrefix refuses a prefix that already holds keys: they could be
// somebody's data, and a benchmark that later deleted "its" prefix would
// take them along (etcdctl check perf refuses for the same reason).
func (r *runner) checkPrefix(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, r.conn.RequestTimeout)
	defer cancel()
	resp, err := r.clients[0].Get(rctx, r.cfg.KeyPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(), clientv3.WithLimit(1))
	if err != nil {
		return fmt.Errorf("reading key prefix %q: %w", r.cfg.KeyPrefix, err)
	}
	if resp.Count > 0 && !r.cfg.AllowExistingKeys {
		return fmt.Errorf("%w: key prefix %q already holds %d keys (first: %q); pick another --key-prefix, delete them (etcdctl del --prefix %q) if they are leftovers, or pass --allow-existing-keys to write below a fresh directory of the prefix and delete only that",
			ErrRefused, r.cfg.KeyPrefix, resp.Count, resp.Kvs[0].Key, r.cfg.KeyPrefix)
	}
	if resp.Count > 0 {
		// The run directory is random; make sure it is also unused.
		resp, err = r.clients[0].Get(rctx, r.runDir, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return fmt.Errorf("reading run directory %q: %w", r.runDir, err)
		}
		if resp.Count > 0 {
			return fmt.Errorf("%w: run directory %q is in use, try again", ErrRefused, r.runDir)
		}
	}
	return nil
}

// CleanupInfo says what the run left behind.
type CleanupInfo struct {
	// Deleted keys, as etcd counted them.
	Deleted int64 `json:"deleted"`
	// Remaining keys below the run prefix afterwards; -1 when unknown
	// because the cluster did not answer.
	Remaining int64   `json:"remaining"`
	Seconds   float64 `json:"seconds"`
	// Error says what failed and how to remove the leftovers by hand.
	Error string `json:"error,omitempty"`
}

// cleanup deletes the keys the run wrote: only chunks it wrote to, then,
// after checking, any straggler below the run directory.
func (r *runner) cleanup(ctx context.Context) (info CleanupInfo) {
	start := time.Now()
	info.Remaining = -1
	defer func() { info.Seconds = time.Since(start).Seconds() }()
	kv := r.clients[0]
	manual := fmt.Sprintf("delete them with: etcdctl del --prefix %q", r.runDir)

	del := func(key string, opts ...clientv3.OpOption) error {
		var err error
		for attempt := range 3 {
			if attempt > 0 {
				time.Sleep(time.Duration(attempt) * 250 * time.Millisecond)
			}
			rctx, cancel := context.WithTimeout(ctx, r.conn.RequestTimeout)
			resp, e := kv.Delete(rctx, key, opts...)
			cancel()
			if e == nil {
				info.Deleted += resp.Deleted
				return nil
			}
			err = e
		}
		return err
	}
	keySpace := int64(r.cfg.KeySpaceSize)
	for c := range r.written {
		if !r.written[c].Load() {
			continue
		}
		lo, hi := int64(c)*cleanupChunk, int64(c+1)*cleanupChunk
		end := clientv3.GetPrefixRangeEnd(r.runDir)
		if hi < keySpace {
			end = string(r.appendKey(nil, hi))
		}
		if err := del(string(r.appendKey(nil, lo)), clientv3.WithRange(end)); err != nil {
			info.Error = fmt.Sprintf("deleting the run's keys: %v; %s", err, manual)
			return info
		}
	}

	// A write that failed without saying whether it was applied (timeout,
	// broken connection) may still be applied after the deletes above.
	if r.unsure.Load() {
		time.Sleep(time.Second)
	}
	for attempt := range 3 {
		rctx, cancel := context.WithTimeout(ctx, r.conn.RequestTimeout)
		resp, err := kv.Get(rctx, r.runDir, clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err != nil {
			info.Error = fmt.Sprintf("checking that the run's keys are gone: %v; if some remain, %s", err, manual)
			return info
		}
		info.Remaining = resp.Count
		if resp.Count == 0 {
			return info
		}
		if attempt == 2 {
			break
		}
		// Few keys by now: one delete of the run directory (ours alone).
		if err := del(r.runDir, clientv3.WithPrefix()); err != nil {
			info.Error = fmt.Sprintf("deleting the run's keys: %v; %s", err, manual)
			return info
		}
		time.Sleep(500 * time.Millisecond)
	}
	info.Error = fmt.Sprintf("%d keys remain below %q; %s", info.Remaining, r.runDir, manual)
	return info
}
