package collector

import (
	"context"
	"fmt"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// HashKVResult is one conclusive comparison of the members' KV hashes.
type HashKVResult struct {
	Time            time.Time
	Revision        int64 // the revision hashed
	CompactRevision int64
	Consistent      bool
	Hashes          map[string]uint32 // by member label
}

// hashTimeout bounds one HashKV call: hashing a large keyspace takes the
// member a while, far longer than an ordinary request.
func (c *Checker) hashTimeout() time.Duration {
	return max(c.cfg.Conn.RequestTimeout, 30*time.Second)
}

func (c *Checker) hashKVLoop(ctx context.Context) {
	if c.cfg.HashKVInterval <= 0 {
		return
	}
	// On a grid at the cluster's own phase, like the rounds: a fleet's
	// comparisons started together would hash every member at once.
	iv := c.cfg.HashKVInterval
	ph := phase(c.cfg.Name+"/hashkv", iv)
	for {
		if !sleepCtx(ctx, time.Until(nextSlot(time.Now(), iv, ph))) {
			return
		}
		res, err := c.CompareHashKV(ctx)
		if err != nil {
			c.logger.Debug("hashkv comparison inconclusive", "err", err)
			continue
		}
		c.extras.mu.Lock()
		prev := c.extras.hashkv
		c.extras.hashkv = res
		c.extras.mu.Unlock()
		if !res.Consistent && (prev == nil || prev.Consistent) {
			c.logger.Error("members' KV hashes differ: data is inconsistent", "revision", res.Revision, "hashes", fmt.Sprint(res.Hashes))
		} else if res.Consistent && prev != nil && !prev.Consistent {
			c.logger.Info("members' KV hashes agree again", "revision", res.Revision)
		}
	}
}

// CompareHashKV hashes every reachable voting member's keyspace at the same
// revision, the lowest current revision among them, and compares members
// that report the same compact revision (a compaction between two calls
// changes the hash without any inconsistency). It needs the root role when
// auth is on.
func (c *Checker) CompareHashKV(ctx context.Context) (*HashKVResult, error) {
	s := c.Snapshot()
	if s == nil {
		return nil, fmt.Errorf("no snapshot yet")
	}
	type target struct {
		label string
		conn  *memberConn
	}
	var targets []target
	var rev int64
	// The connections are held until the hashes are in: a member removed
	// meanwhile keeps its connection until then, and no longer.
	defer func() {
		for _, t := range targets {
			t.conn.release()
		}
	}()
	for _, m := range s.Members {
		if !m.Up || m.Learner || m.Endpoint == "" {
			continue
		}
		if conn := c.members.acquire(m.Endpoint); conn != nil {
			targets = append(targets, target{m.Label(), conn})
			if rev == 0 || m.Revision < rev {
				rev = m.Revision
			}
		}
	}
	if len(targets) < 2 {
		return nil, fmt.Errorf("fewer than two reachable voting members")
	}
	type answer struct {
		label string
		resp  *pb.HashKVResponse
		err   error
	}
	answers := make([]answer, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hctx, cancel := context.WithTimeout(ctx, c.hashTimeout())
			defer cancel()
			resp, err := t.conn.hashKV(hctx, rev)
			answers[i] = answer{t.label, resp, err}
		}()
	}
	wg.Wait()
	byCompact := map[int64]map[string]uint32{}
	for _, a := range answers {
		if a.err != nil {
			return nil, fmt.Errorf("member %s hashkv at revision %d: %w", a.label, rev, a.err)
		}
		if byCompact[a.resp.CompactRevision] == nil {
			byCompact[a.resp.CompactRevision] = map[string]uint32{}
		}
		byCompact[a.resp.CompactRevision][a.label] = a.resp.Hash
	}
	res := &HashKVResult{Time: time.Now(), Revision: rev, Consistent: true, Hashes: map[string]uint32{}}
	compared := false
	for compact, hashes := range byCompact {
		if len(hashes) < 2 {
			continue
		}
		compared = true
		res.CompactRevision = max(res.CompactRevision, compact)
		var first *uint32
		for label, h := range hashes {
			res.Hashes[label] = h
			if first == nil {
				first = &h
			} else if h != *first {
				res.Consistent = false
			}
		}
	}
	if !compared {
		return nil, fmt.Errorf("members report different compact revisions; will compare again")
	}
	return res, nil
}
