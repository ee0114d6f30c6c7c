package collector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// TestProbeLatencyAgreesWithPlainClient runs the probes of several clusters
// at once, each cluster with its own checker, while a plain clientv3 client
// per member does what a probe does at random moments (as an application
// would), and compares the medians per operation. Probes that measured
// their own burst (all members of a cluster probed at the same instant)
// came out several times slower than the plain client on the same members.
//
// The process runs on one CPU for the test (GOMAXPROCS=1; not with -race),
// as a monitor on a busy machine does: a burst then queues, and the old
// schedule's probes
// measured 1.5-5.2 times the plain client's medians here, the new ones
// 0.7-1.0 (docs/performance.md).
func TestProbeLatencyAgreesWithPlainClient(t *testing.T) {
	if !raceEnabled {
		// Under -race the detector slows both sides alike and one
		// CPU starves the six members: all cores there.
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	}
	const (
		clusters = 2
		interval = 250 * time.Millisecond
		warmup   = 2 * time.Second
		window   = 10 * time.Second
		// ...or longer, up to maxWindow, until each side has
		// minSamples of each operation.
		maxWindow  = 45 * time.Second
		minSamples = 40
		// The medians must agree within this factor; generous for -race
		// and a busy CI machine.
		maxRatio = 1.8
	)
	var cs []*localetcd.Cluster
	for range clusters {
		cs = append(cs, startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type sample struct {
		op string
		at time.Time
		d  time.Duration
	}
	var mu sync.Mutex
	var ref []sample
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var chs []*Checker
	for i, c := range cs {
		ch := NewChecker(ClusterConfig{
			Name: fmt.Sprintf("agree-%d", i), Conn: connFor(t, c.Endpoints()), HealthCheckInterval: testInterval,
			Probe: ProbeConfig{Interval: interval, Timeout: time.Second, Write: true, KeyPrefix: "/etcd-monitor/probe/"},
		}, testLogger(t), WithProbeMetrics(NewProbeMetrics()))
		ch.Start()
		t.Cleanup(ch.Close)
		chs = append(chs, ch)
		for j, m := range c.Members() {
			cli, err := c.ClientFor(m.ClientURL)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cli.Close() })
			key := fmt.Sprintf("/reference/%d/%d", i, j)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-ctx.Done():
						return
					case <-time.After(time.Duration(float64(interval) * (0.5 + rand.Float64()))):
					}
					for _, op := range []string{OpPut, OpGet, OpGetSerializable} {
						rctx, rcancel := context.WithTimeout(ctx, time.Second)
						start := time.Now()
						var err error
						switch op {
						case OpPut:
							_, err = cli.Put(rctx, key, start.String())
						case OpGet:
							_, err = cli.Get(rctx, key)
						case OpGetSerializable:
							_, err = cli.Get(rctx, key, clientv3.WithSerializable())
						}
						d := time.Since(start)
						rcancel()
						if err == nil {
							mu.Lock()
							ref = append(ref, sample{op, start, d})
							mu.Unlock()
						}
					}
				}
			}()
		}
	}
	samples := func(op string, from, to time.Time) (probe, plain []time.Duration) {
		for _, ch := range chs {
			ch.recent.mu.Lock()
			lo, hi := from.Sub(ch.recent.epoch), to.Sub(ch.recent.epoch)
			for k, ss := range ch.recent.samples {
				if k[1] != op {
					continue
				}
				for _, s := range ss {
					if s.at > lo && s.at < hi {
						probe = append(probe, s.d)
					}
				}
			}
			ch.recent.mu.Unlock()
		}
		mu.Lock()
		for _, s := range ref {
			if s.op == op && s.at.After(from) && s.at.Before(to) {
				plain = append(plain, s.d)
			}
		}
		mu.Unlock()
		return probe, plain
	}
	time.Sleep(warmup)
	from := time.Now()
	time.Sleep(window)
	// A starved machine (CI running packages side by side) answers
	// fewer requests in time: the window grows until each side has
	// enough samples of each operation.
	enough := func() bool {
		for _, op := range []string{OpPut, OpGet, OpGetSerializable} {
			if probe, plain := samples(op, from, time.Now()); len(probe) < minSamples || len(plain) < minSamples {
				return false
			}
		}
		return true
	}
	for !enough() && time.Since(from) < maxWindow {
		time.Sleep(time.Second)
	}
	to := time.Now()
	cancel()
	wg.Wait()

	for _, op := range []string{OpPut, OpGet, OpGetSerializable} {
		probe, plain := samples(op, from, to)
		if len(probe) < minSamples || len(plain) < minSamples {
			t.Fatalf("%s: too few samples: %d probes, %d plain", op, len(probe), len(plain))
		}
		slices.Sort(probe)
		slices.Sort(plain)
		mp, mc := probe[len(probe)/2], plain[len(plain)/2]
		ratio := float64(mp) / float64(mc)
		t.Logf("%s over %d clusters x 3 members: probe median %s (%d), plain clientv3 median %s (%d): ratio %.2f",
			op, clusters, mp, len(probe), mc, len(plain), ratio)
		if ratio > maxRatio {
			t.Errorf("%s: probe median %s is %.2f times the plain client's %s (max %.1f)", op, mp, ratio, mc, maxRatio)
		}
	}
}
