// Package benchmark is etcd-monitor's load generator: the `benchmark`
// subcommand and the Go API behind it (the REST API runs benchmarks through
// Run).
//
// It measures what etcd's own tools/benchmark measures, the same way (one
// request in flight per client, clients spread over connections, the rate
// limiter's wait outside the timing) and reports it the same way (summary,
// histogram, percentiles, error distribution), so that operators can put
// the two side by side. Unlike etcd's tool it is meant to be pointed at
// clusters that matter: it refuses a used prefix, a cluster with an alarm or
// without quorum, deletes exactly what it wrote, and stops before the
// revisions it leaves behind push the backend towards its quota.
package benchmark

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/time/rate"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// Why a run stopped.
const (
	StopCompleted   = "completed"   // all requests sent, or the duration elapsed
	StopInterrupted = "interrupted" // the context was cancelled (Ctrl-C)
	StopQuota       = "quota"       // the quota guard stopped it
	StopAlarm       = "alarm"       // an alarm was raised during the run
)

// Operations.
const (
	opWrite = iota
	opRead
	numOps
)

var opNames = [numOps]string{"write", "read"}

// Run runs one benchmark against the cluster that conn (loaded, e.g. by
// etcdconn.Flags.Config) reaches. progress, when not nil, receives a
// progress bar redrawn in place (give it a terminal only).
//
// It returns an error without a report when the run could not start: an
// invalid cfg (*ConfigError), a refusal for the cluster's safety (wraps
// ErrRefused), an unreachable cluster (wraps ErrUnreachable). Once load was
// generated it returns a report, and the report says whether the run
// completed, was interrupted or was stopped by the quota guard, and whether
// its keys were cleaned up.
func Run(ctx context.Context, conn *etcdconn.Config, cfg Config, progress io.Writer) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, conn: conn, progress: progress, total: int64(cfg.total())}
	return r.run(ctx)
}

type runner struct {
	cfg      Config
	conn     *etcdconn.Config
	progress io.Writer
	total    int64 // 0: timed run

	runDir   string
	value    string
	clients  []*clientv3.Client // the connections; client i uses clients[i%len]
	limiter  *rate.Limiter
	readOpts []clientv3.OpOption
	guard    *guard

	shards []shard

	issued    atomic.Int64 // request numbers handed out
	done      atomic.Int64 // requests finished, failed or not
	populated atomic.Int64 // populate: key indices handed out
	popDone   atomic.Int64

	// written marks cleanup chunks that hold a key this run wrote, so that
	// cleanup does not send a delete for every chunk of a huge key space.
	written []atomic.Bool
	// unsure is set when a write failed in a way that does not say whether
	// the cluster applied it: it may land after the cleanup's delete.
	unsure atomic.Bool

	popErrs   atomic.Int64
	popErrMu  sync.Mutex
	popErrMsg string

	stopped    atomic.Bool
	stopCtx    context.Context // cancelled when the run must stop
	stopCancel context.CancelFunc
	stopMu     sync.Mutex
	stop       StopInfo
}

// shard is where a group of clients records results. Clients of one shard
// share a mutex; shards are padded apart so that clients recording at once
// on different cores do not fight over a cache line. Sharding keeps memory
// flat in the number of clients (a histogram is 16 KiB).
type shard struct {
	mu   sync.Mutex
	hist [numOps]*Histogram
	errs map[errKey]*errStat
	_    [64]byte
}

type errKey struct {
	op   int
	kind string
}

type errStat struct {
	count   int64
	example string
}

func (s *shard) record(op int, d time.Duration, err error) {
	s.mu.Lock()
	if err == nil {
		h := s.hist[op]
		if h == nil {
			h = new(Histogram)
			s.hist[op] = h
		}
		h.Record(d)
	} else {
		k := errKey{op, errorKind(err)}
		e := s.errs[k]
		if e == nil {
			if s.errs == nil {
				s.errs = map[errKey]*errStat{}
			}
			e = &errStat{example: exampleMessage(err)}
			s.errs[k] = e
		}
		e.count++
	}
	s.mu.Unlock()
}

// halt stops the run; the first reason given wins.
func (r *runner) halt(reason, detail string) {
	r.stopMu.Lock()
	if r.stop.Reason == "" {
		r.stop = StopInfo{Reason: reason, Detail: detail}
	}
	r.stopMu.Unlock()
	r.stopped.Store(true)
	r.stopCancel()
}

func (r *runner) stopInfo() StopInfo {
	r.stopMu.Lock()
	defer r.stopMu.Unlock()
	if r.stop.Reason == "" {
		return StopInfo{Reason: StopCompleted}
	}
	return r.stop
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	cfg := r.cfg
	r.stopCtx, r.stopCancel = context.WithCancel(context.Background())
	defer r.stopCancel()

	var err error
	if r.guard, err = startGuard(ctx, r.conn, cfg); err != nil {
		return nil, err
	}
	defer r.guard.close()

	r.runDir = newRunDir(cfg.KeyPrefix)
	for range cfg.Conns {
		c, err := r.conn.New()
		if err != nil {
			r.closeClients()
			return nil, err
		}
		r.clients = append(r.clients, c)
	}
	defer r.closeClients()
	if err := r.checkPrefix(ctx); err != nil {
		return nil, err
	}

	// From here on the cluster may hold keys of ours: whatever happens,
	// clean them up, even after an interrupt (hence WithoutCancel).
	r.written = make([]atomic.Bool, (cfg.KeySpaceSize+cleanupChunk-1)/cleanupChunk)
	// One random value for every put, as etcd's tool sends.
	r.value = string(randomBytes(cfg.ValSize))
	if cfg.Rate > 0 {
		// Burst 1, as etcd's tool: requests are spread evenly, not in
		// bursts each second.
		r.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), 1)
	}
	if cfg.Consistency == "s" {
		r.readOpts = []clientv3.OpOption{clientv3.WithSerializable()}
	}
	r.shards = make([]shard, min(cfg.Clients, max(8, 2*runtime.GOMAXPROCS(0))))

	// Ctrl-C and the guard both end the run through halt.
	watchDone := make(chan struct{})
	defer close(watchDone)
	go func() {
		select {
		case <-ctx.Done():
			r.halt(StopInterrupted, context.Cause(ctx).Error())
		case <-watchDone:
		}
	}()
	r.guard.watch(r.halt)

	rep := &Report{
		Workload:  cfg.Workload,
		Config:    cfg,
		Endpoints: r.conn.Endpoints,
		RunPrefix: r.runDir,
	}
	if cfg.Workload != WorkloadWrite {
		rep.Populate = r.populate()
	}
	start := time.Now()
	rep.Start = start
	r.guard.setZero(start)
	if !r.stopped.Load() {
		r.runLoad()
	}
	elapsed := time.Since(start)
	r.guard.stop()
	// Taken now: a Ctrl-C during the cleanup does not make a completed run
	// an interrupted one.
	rep.Stop = r.stopInfo()

	rep.Cleanup = r.cleanup(context.WithoutCancel(ctx))
	r.fill(rep, elapsed)
	return rep, nil
}

func (r *runner) closeClients() {
	for _, c := range r.clients {
		_ = c.Close()
	}
	r.clients = nil
}

// populate writes the whole key space before a read or mixed run, so that
// reads find keys. It is not timed, but it is rate limited and guarded like
// the run: it is load on the cluster all the same.
func (r *runner) populate() *PopulateInfo {
	start := time.Now()
	stopBar := r.startProgress("populating", int64(r.cfg.KeySpaceSize), 0, &r.popDone)
	var wg sync.WaitGroup
	for i := range r.cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.populateClient(r.clients[i%len(r.clients)])
		}()
	}
	wg.Wait()
	stopBar()
	p := &PopulateInfo{Keys: r.popDone.Load() - r.popErrs.Load(), Errors: r.popErrs.Load(), Seconds: time.Since(start).Seconds()}
	r.popErrMu.Lock()
	p.Error = r.popErrMsg
	r.popErrMu.Unlock()
	return p
}

func (r *runner) populateClient(kv clientv3.KV) {
	key := make([]byte, 0, len(r.runDir)+r.cfg.KeySize)
	for !r.stopped.Load() {
		i := r.populated.Add(1) - 1
		if i >= int64(r.cfg.KeySpaceSize) {
			return
		}
		if r.limiter != nil && r.limiter.Wait(r.stopCtx) != nil {
			return
		}
		key = r.appendKey(key[:0], i)
		r.markWritten(i)
		rctx, cancel := context.WithTimeout(context.Background(), r.conn.RequestTimeout)
		_, err := kv.Put(rctx, string(key), r.value)
		cancel()
		if err != nil {
			r.unsure.Store(true)
			if r.popErrs.Add(1) == 1 {
				r.popErrMu.Lock()
				r.popErrMsg = exampleMessage(err)
				r.popErrMu.Unlock()
			}
		}
		r.popDone.Add(1)
	}
}

// runLoad is the timed run: every client sends one request at a time until
// the total is reached, the duration has passed or the run is halted.
func (r *runner) runLoad() {
	if d := r.cfg.Duration; d > 0 && r.total == 0 {
		t := time.AfterFunc(d, func() { r.halt(StopCompleted, "") })
		defer t.Stop()
	}
	stopBar := r.startProgress("running", r.total, r.cfg.Duration, &r.done)
	flights := make([]inflight, r.cfg.Clients)
	stopWatchdog := startWatchdog(flights, r.conn.RequestTimeout)
	var wg sync.WaitGroup
	for i := range r.cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runClient(&r.shards[i%len(r.shards)], r.clients[i%len(r.clients)], &flights[i])
		}()
	}
	wg.Wait()
	stopWatchdog()
	stopBar()
}

func (r *runner) runClient(sh *shard, kv clientv3.KV, fl *inflight) {
	key := make([]byte, 0, len(r.runDir)+r.cfg.KeySize)
	keySpace := int64(r.cfg.KeySpaceSize)
	for !r.stopped.Load() {
		n := r.issued.Add(1) - 1
		if r.total > 0 && n >= r.total {
			return
		}
		if r.limiter != nil && r.limiter.Wait(r.stopCtx) != nil {
			return
		}
		op := opWrite
		switch r.cfg.Workload {
		case WorkloadRead:
			op = opRead
		case WorkloadMixed:
			if rand.Float64() < r.cfg.ReadRatio {
				op = opRead
			}
		}
		idx := n % keySpace
		if !r.cfg.SequentialKeys {
			idx = rand.Int64N(keySpace)
		}
		key = r.appendKey(key[:0], idx)
		k := string(key)
		if op == opWrite {
			r.markWritten(idx)
		}
		// Requests in flight when the run stops are let finish (within
		// the request timeout, see watchdog.go) rather than cancelled, so
		// that cleanup knows every write's outcome as far as the cluster
		// told it.
		var err error
		st := time.Now()
		rctx := fl.begin(st)
		if op == opWrite {
			_, err = kv.Put(rctx, k, r.value)
		} else {
			_, err = kv.Get(rctx, k, r.readOpts...)
		}
		lat := time.Since(st)
		err = fl.end(rctx, err)
		if err != nil && op == opWrite {
			r.unsure.Store(true)
		}
		sh.record(op, lat, err)
		r.done.Add(1)
	}
}

func (r *runner) startProgress(label string, total int64, d time.Duration, done *atomic.Int64) func() {
	if r.progress == nil {
		return func() {}
	}
	return startProgressBar(r.progress, label, total, d, done)
}

// newRunDir picks a fresh directory below the prefix for this run's keys: a
// run never writes a key it did not create, even with
// --allow-existing-keys, and deleting the directory deletes nothing else.
func newRunDir(prefix string) string {
	return prefix + hex.EncodeToString(randomBytes(4)) + "/"
}

// randomBytes never fails: crypto/rand.Read panics rather than return an
// error since Go 1.24.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = cryptorand.Read(b)
	return b
}

// discardLogger quiets the checker the guard uses: what it sees goes into
// the report's events instead.
var discardLogger = slog.New(slog.DiscardHandler)

// checkerFor builds the collector's checker for the pre-flight checks and
// the guard. Its calls get a short timeout: a hung member must not blind
// the guard for the whole request timeout.
func checkerFor(conn *etcdconn.Config, cfg Config) *collector.Checker {
	gc := *conn
	gc.RequestTimeout = min(conn.RequestTimeout, guardCallTimeout)
	return collector.NewChecker(collector.ClusterConfig{
		Name:                "benchmark",
		Conn:                &gc,
		HealthCheckInterval: guardInterval,
		QuotaBackendBytes:   cfg.quotaBytes(),
	}, discardLogger)
}
