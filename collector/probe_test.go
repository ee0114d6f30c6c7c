package collector

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

const testProbeInterval = 300 * time.Millisecond

// startProbing starts a checker with probes on every member.
func startProbing(t *testing.T, conn *etcdconn.Config, logger *slog.Logger, write bool) (*Checker, *ProbeMetrics, *prometheus.Registry) {
	t.Helper()
	pm := NewProbeMetrics()
	ch := NewChecker(ClusterConfig{
		Name: "main", Conn: conn, HealthCheckInterval: testInterval,
		Probe: ProbeConfig{Interval: testProbeInterval, Timeout: 250 * time.Millisecond, Write: write, KeyPrefix: "/etcd-monitor/probe/"},
	}, logger, WithProbeMetrics(pm))
	ch.Start()
	t.Cleanup(ch.Close)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewClusterCollector(Checkers{ch}), pm)
	return ch, pm, reg
}

func histCount(t *testing.T, reg prometheus.Gatherer, member, op string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "etcd_monitor_probe_duration_seconds" {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if (lp.GetName() == "member" && lp.GetValue() != member) || (lp.GetName() == "operation" && lp.GetValue() != op) {
					continue next
				}
			}
			return m.GetHistogram().GetSampleCount()
		}
	}
	return 0
}

func TestProbesFillAndFailPerMember(t *testing.T) {
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	_, _, reg := startProbing(t, connFor(t, c.Endpoints()), testLogger(t), true)
	ops := []string{OpPut, OpGet, OpGetSerializable, OpDelete}
	waitfor.Until(t, 10*time.Second, "every operation observed on every member", func() bool {
		for _, m := range c.Members() {
			for _, op := range ops {
				if histCount(t, reg, m.Name, op) < 3 {
					return false
				}
			}
		}
		return true
	})
	// Both exposition forms: classic buckets and a native histogram.
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "etcd_monitor_probe_duration_seconds" {
			h := mf.GetMetric()[0].GetHistogram()
			if len(h.GetBucket()) != len(DefaultProbeBuckets) || h.GetSchema() == 0 && len(h.GetPositiveSpan()) == 0 && h.GetZeroCount() == 0 {
				t.Errorf("want %d classic buckets and native spans, got %d buckets, schema %d, %d spans", len(DefaultProbeBuckets), len(h.GetBucket()), h.GetSchema(), len(h.GetPositiveSpan()))
			}
		}
	}
	for _, m := range c.Members() {
		if v, _ := metricValue(t, reg, "etcd_monitor_probe_success", map[string]string{"member": m.Name}); v != 1 {
			t.Errorf("probe_success of %s = %v", m.Name, v)
		}
	}

	hung := c.Member(1)
	hung.BlackholeClient()
	before := map[string]uint64{}
	for _, m := range c.Members() {
		before[m.Name] = histCount(t, reg, m.Name, OpGet)
	}
	waitfor.Until(t, 10*time.Second, "failures with reason timeout or unavailable on "+hung.Name, func() bool {
		for _, reason := range []string{"timeout", "unavailable"} {
			if v, ok := metricValue(t, reg, "etcd_monitor_probe_failures_total", map[string]string{"member": hung.Name, "operation": OpGet, "reason": reason}); ok && v >= 2 {
				return true
			}
		}
		return false
	})
	if v, _ := metricValue(t, reg, "etcd_monitor_probe_success", map[string]string{"member": hung.Name}); v != 0 {
		t.Errorf("probe_success of the hung member = %v", v)
	}
	// The others go on succeeding: their count grows while the hung member's
	// rounds time out (waited for, since the hung member may show its
	// failures within a round or two, before the others' next successes).
	waitfor.Until(t, 10*time.Second, "the other members' probes succeeding while "+hung.Name+" hangs", func() bool {
		for _, m := range c.Members() {
			if m != hung && histCount(t, reg, m.Name, OpGet) < before[m.Name]+2 {
				return false
			}
		}
		return true
	})
	for _, m := range c.Members() {
		if m == hung {
			continue
		}
		if v, _ := metricValue(t, reg, "etcd_monitor_probe_success", map[string]string{"member": m.Name}); v != 1 {
			t.Errorf("probe_success of %s = %v while another member hangs", m.Name, v)
		}
	}
	hung.UnblackholeClient()
}

// A checker closed in the middle of a probe round (its cluster removed by a
// reload, or the monitor stopping) revokes its probe lease, so not even the
// key of a round cut between its put and its delete stays behind. A monitor
// that crashes cannot revoke: its keys carry a lease of a few intervals, so
// they expire by themselves (the TTL is asserted below).
func TestProbeKeysGoneWhenCheckerCloses(t *testing.T) {
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Slow one member down so the monitor can be killed between the put
	// and the delete of its probe round.
	slow := c.Member(0)
	slow.DelayClient(150 * time.Millisecond)
	const prefix = "/etcd-monitor/probe/"
	wch := cli.Watch(ctx, prefix, clientv3.WithPrefix())
	pm := NewProbeMetrics()
	ch := NewChecker(ClusterConfig{
		Name: "main", Conn: connFor(t, []string{slow.ClientURL}), HealthCheckInterval: time.Hour,
		Probe: ProbeConfig{Interval: time.Second, Timeout: time.Second, Write: true, KeyPrefix: prefix},
	}, testLogger(t), WithProbeMetrics(pm))
	ch.Start()
	killed := false
	var key string
	var lease clientv3.LeaseID
	for !killed {
		select {
		case wr := <-wch:
			for _, ev := range wr.Events {
				if ev.Type != clientv3.EventTypePut || !strings.HasSuffix(string(ev.Kv.Key), IDHex(slow.ID())) {
					continue
				}
				if ev.Kv.Lease == 0 {
					t.Fatalf("probe key %s written without a lease", ev.Kv.Key)
				}
				ttl, err := cli.TimeToLive(ctx, clientv3.LeaseID(ev.Kv.Lease))
				if err != nil || ttl.GrantedTTL > 20 {
					t.Fatalf("probe lease TTL %v (%v), want a few intervals", ttl, err)
				}
				key, lease = string(ev.Kv.Key), clientv3.LeaseID(ev.Kv.Lease)
				ch.Close() // mid-round: the put is done, the delete is not
				killed = true
			}
		case <-ctx.Done():
			t.Fatal("no probe put seen")
		}
	}
	slow.DelayClient(0)
	// Close returned: the lease is revoked already, not left to its TTL.
	ttl, err := cli.TimeToLive(ctx, lease)
	if err != nil || ttl.TTL != -1 {
		t.Errorf("probe lease %x after Close: TTL %v (%v), want revoked (-1)", lease, ttl, err)
	}
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Errorf("probe keys left after Close: %v (%v), want none (was %s)", resp, err, key)
	}
}

func TestProbeLatencyIsReal(t *testing.T) {
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	ch, _, _ := startProbing(t, connFor(t, c.Endpoints()), testLogger(t), true)
	p50 := func(member string, since time.Duration) time.Duration {
		for _, s := range ch.RecentLatency(since) {
			if s.Member == member && s.Operation == OpGet {
				return s.P50
			}
		}
		return -1
	}
	time.Sleep(3 * time.Second)
	base := map[string]time.Duration{}
	for _, m := range c.Members() {
		base[m.Name] = p50(m.Name, 3*time.Second)
		if base[m.Name] < 0 {
			t.Fatalf("no get probes on %s", m.Name)
		}
	}
	slow := c.Member(2)
	slow.DelayClient(50 * time.Millisecond)
	time.Sleep(3 * time.Second)
	for _, m := range c.Members() {
		now := p50(m.Name, 2*time.Second)
		t.Logf("%s get p50 %s -> %s", m.Name, base[m.Name], now)
		if m == slow {
			if now-base[m.Name] < 50*time.Millisecond {
				t.Errorf("delayed member's p50 rose by %s, want >= 50ms", now-base[m.Name])
			}
		} else if now-base[m.Name] >= 25*time.Millisecond {
			t.Errorf("%s's p50 rose by %s without any delay on it", m.Name, now-base[m.Name])
		}
	}
}
