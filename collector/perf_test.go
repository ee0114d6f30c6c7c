package collector

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// perfProber starts a 3-member cluster and a prober on its first member,
// without background loops (probe interval 0: no background probers), for
// the measurements below.
func perfProber(tb testing.TB) (*prober, *Checker, *localetcd.Cluster) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := testetcd.Start(tb, localetcd.Options{Members: 3})
	conn := connFor(&testing.T{}, c.Endpoints())
	ch := NewChecker(ClusterConfig{Name: "perf", Conn: conn, HealthCheckInterval: time.Hour,
		Probe: ProbeConfig{Timeout: 5 * time.Second, Write: true}}, testLoggerTB(tb), WithProbeMetrics(NewProbeMetrics()))
	tb.Cleanup(ch.Close)
	s := ch.CheckOnce(ctx)
	m := s.Members[0]
	ps := newProberSet("perf", ProbeConfig{Interval: time.Hour, Timeout: 5 * time.Second, Write: true, KeyPrefix: DefaultProbeKeyPrefix},
		5*time.Second, NewProbeMetrics(), NewScheduler(0), ch.recent, testLoggerTB(tb), ch.leaseConn)
	mc := ch.members.acquire(m.Endpoint)
	tb.Cleanup(func() { mc.release(); ps.stop() })
	p := &prober{set: ps, conn: mc, member: m.Label(), endpoint: m.Endpoint, key: []byte(DefaultProbeKeyPrefix + "perf")}
	return p, ch, c
}

func testLoggerTB(tb testing.TB) *slogLogger {
	if t, ok := tb.(*testing.T); ok {
		return testLogger(t)
	}
	return discardLogger()
}

// BenchmarkProbeRound reports the prober's own overhead: the wall time of a
// round minus the time spent inside the four etcd calls it makes.
func BenchmarkProbeRound(b *testing.B) {
	p, _, _ := perfProber(b)
	ctx := context.Background()
	var overhead time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := p.set.recent.count(time.Time{}, time.Now().Add(time.Hour), OpPut, OpGet, OpGetSerializable, OpDelete)
		start := time.Now()
		p.probe(ctx)
		wall := time.Since(start)
		var inCalls time.Duration
		for _, s := range p.set.recent.samples {
			if len(s) > 0 {
				inCalls += s[len(s)-1].d
			}
		}
		if got := p.set.recent.count(time.Time{}, time.Now().Add(time.Hour), OpPut, OpGet, OpGetSerializable, OpDelete); got-before != 4 {
			b.Fatalf("round recorded %d successful requests, want 4", got-before)
		}
		overhead += wall - inCalls
	}
	b.ReportMetric(float64(overhead.Nanoseconds())/float64(b.N), "overhead-ns/round")
}

// TestProbeLatencyMatchesClientv3 compares the latency a probe records for
// a linearizable get with a plain clientv3 Get to the same member timed the
// same way, interleaved, and wants the medians within 5%. It is a
// measurement (docs/performance.md), run with ETCD_MONITOR_PERF=1.
func TestProbeLatencyMatchesClientv3(t *testing.T) {
	if os.Getenv("ETCD_MONITOR_PERF") == "" {
		t.Skip("a measurement: run with ETCD_MONITOR_PERF=1 (docs/performance.md)")
	}
	p, _, c := perfProber(t)
	cli, err := c.ClientFor(p.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	const n = 2000
	var probe, plain []time.Duration
	for i := 0; i < n; i++ {
		// A B A B …: both see the same machine at the same moments.
		if !p.op(ctx, OpGet, func(ctx context.Context) (time.Duration, error) { return p.conn.get(ctx, p.key, false) }) {
			t.Fatal("probe get failed")
		}
		s := p.set.recent.samples[[2]string{p.member, OpGet}]
		probe = append(probe, s[len(s)-1].d)
		start := time.Now()
		if _, err := cli.Get(ctx, string(p.key)); err != nil {
			t.Fatal(err)
		}
		plain = append(plain, time.Since(start))
	}
	slices.Sort(probe)
	slices.Sort(plain)
	mp, mc := probe[n/2], plain[n/2]
	diff := float64(mp-mc) / float64(mc)
	t.Logf("median of %d interleaved linearizable gets: probe %s, plain clientv3 %s (%+.1f%%)", n, mp, mc, 100*diff)
	if diff > 0.05 || diff < -0.05 {
		t.Errorf("probe median %s differs from clientv3's %s by %+.1f%%", mp, mc, 100*diff)
	}
}

// BenchmarkHashKV measures one full comparison (HashKV on all three members
// at once) over a keyspace of 10,000 keys of 1 KiB: the cost --hashkv.interval
// buys, paid by every member in CPU and disk reads.
func BenchmarkHashKV(b *testing.B) {
	_, ch, c := perfProber(b)
	cli, err := c.Client()
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	val := string(make([]byte, 1024))
	for i := 0; i < 10000; i++ {
		if _, err := cli.Put(ctx, "/bench/hashkv/"+time.Duration(i).String(), val); err != nil {
			b.Fatal(err)
		}
	}
	ch.CheckOnce(ctx) // revisions in the snapshot
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := ch.CompareHashKV(ctx)
		if err != nil || !res.Consistent {
			b.Fatalf("%+v %v", res, err)
		}
	}
}
