package collector

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// The write rate the API's metrics/current shows as request_rate is the
// cluster's own: the monitor's probe writes (a put and a delete per member
// and probe round, 6/s here) are taken out, so an idle cluster shows about
// 0 and a put load about its rate. Only a real checker probing a real etcd
// can show it; how the API renders the figure is tested in internal/api
// with a hand-built source.
func TestWriteRateExcludesProbes(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	// The figures are compared with what the test itself wrote, so any
	// etcd will do: processes of ETCD_BIN under -race are the cheapest.
	c := startCluster(t, testetcd.Light(), localetcd.Options{Members: 3})
	conn := &etcdconn.Config{Endpoints: c.Endpoints(), RequestTimeout: 2 * time.Second, DialTimeout: 2 * time.Second}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	// Probes once a second: their writes are taken out of the rate, and the
	// fewer there are the less the edges of that subtraction matter. A
	// window of several rounds keeps those edges a small part of it.
	const window = 5 * time.Second
	ch := NewChecker(ClusterConfig{
		Name: "rate", Conn: conn, HealthCheckInterval: 300 * time.Millisecond,
		Probe: ProbeConfig{Interval: time.Second, Timeout: time.Second, Write: true},
	}, testLogger(t), WithProbeMetrics(NewProbeMetrics()))
	ch.Start()
	t.Cleanup(ch.Close)
	waitFor(t, ch, time.Minute, "all 3 members healthy", func(s *Snapshot) bool { return s.HealthyVoting == 3 && s.HasLeader })

	// Idle: wait for a full window of revisions holding enough probe
	// writes that counting them as the cluster's would show more than the
	// 2/s allowed (half the 30 expected, for a loaded machine's late rounds).
	const minProbeWrites = 15
	waitfor.Until(t, time.Minute, "a full window of revisions with probe writes in it", func() bool {
		now := time.Now()
		return revisionsKept(ch) > window && ch.recent.count(now.Add(-window), now, OpPut, OpDelete) >= minProbeWrites
	})
	rate, ok := ch.WriteRate(window)
	t.Logf("idle: write rate %.2f/s with %d probe writes in the last %s", rate, ch.recent.count(time.Now().Add(-window), time.Now(), OpPut, OpDelete), window)
	if !ok || rate > 2 {
		t.Fatalf("idle cluster: write rate %.2f (known %v), want about 0 (probe writes excluded)", rate, ok)
	}
	// What metrics/current shows beside the rate: probe latencies of reads
	// and writes, and the leader's database size.
	ops := map[string]LatencySummary{}
	for _, l := range ch.RecentLatencyByOperation(window) {
		ops[l.Operation] = l
	}
	for _, op := range []string{OpPut, OpGet} {
		if l := ops[op]; l.Count == 0 || l.P99 <= 0 {
			t.Errorf("probe latency of %s over the window: %+v", op, l)
		}
	}
	if l := ch.Snapshot().Leader(); l == nil || l.DBSize <= 0 {
		t.Errorf("leader's database size: %+v", l)
	}

	// A known load: paced puts from one client, running until a full window
	// of revisions lies inside it. What it wrote in the last window is the
	// rate to expect (checked while it runs, so no idle time is in either).
	ld := startPutLoad(t, c, 20*time.Millisecond)
	waitfor.Until(t, time.Minute, "a full window of revisions under load", func() bool {
		return lastRevisionAt(ch).Sub(ld.start) > window+time.Second
	})
	rate, ok = ch.WriteRate(window)
	n := ld.since(time.Now().Add(-window))
	ld.stop()
	want := float64(n) / window.Seconds()
	t.Logf("under load: %d puts in the last %s (%.1f/s); write rate %.1f/s", n, window, want, rate)
	if want < 5 {
		t.Fatalf("the load wrote only %.1f/s, too little to tell from the probes", want)
	}
	if d := rate - want; !ok || d < -max(want/2, 2) || d > max(want/2, 2) {
		t.Errorf("write rate %.1f (known %v), want about %.1f", rate, ok, want)
	}
}

// revisionsKept is how long the checker has been recording revisions.
func revisionsKept(ch *Checker) time.Duration {
	ch.revs.mu.Lock()
	defer ch.revs.mu.Unlock()
	if len(ch.revs.seen) < 2 {
		return 0
	}
	return ch.revs.seen[len(ch.revs.seen)-1].at.Sub(ch.revs.seen[0].at)
}

// lastRevisionAt is when the checker last recorded a revision.
func lastRevisionAt(ch *Checker) time.Time {
	ch.revs.mu.Lock()
	defer ch.revs.mu.Unlock()
	if len(ch.revs.seen) == 0 {
		return time.Time{}
	}
	return ch.revs.seen[len(ch.revs.seen)-1].at
}

// putLoad writes one key at a steady pace and keeps when each put returned.
type putLoad struct {
	start  time.Time
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	puts []time.Time
}

// startPutLoad puts a key every pace (fewer when a put takes longer) until
// stop or the end of the test.
func startPutLoad(t *testing.T, c *localetcd.Cluster, pace time.Duration) *putLoad {
	t.Helper()
	cli := testetcd.Client(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	l := &putLoad{start: time.Now(), cancel: cancel, done: make(chan struct{})}
	t.Cleanup(l.stop)
	go func() {
		defer close(l.done)
		tick := time.NewTicker(pace)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := cli.Put(pctx, "/load", "x")
			pcancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				t.Errorf("put under load: %v", err)
				return
			}
			l.mu.Lock()
			l.puts = append(l.puts, time.Now())
			l.mu.Unlock()
		}
	}()
	return l
}

// since counts the puts that returned after from.
func (l *putLoad) since(from time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, at := range l.puts {
		if at.After(from) {
			n++
		}
	}
	return n
}

// stop ends the load and waits for its last put; calling it again is
// harmless.
func (l *putLoad) stop() {
	l.cancel()
	<-l.done
}
