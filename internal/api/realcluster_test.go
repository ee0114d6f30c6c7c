package api

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// The one test against a real cluster: request_rate is the cluster's write
// rate with the monitor's own probe writes taken out, which only a real
// checker probing a real etcd can show (the other tests of this package
// render hand-built snapshots).
func TestRequestRateExcludesProbes(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 3, FastElections: true})
	conn := &etcdconn.Config{Endpoints: c.Endpoints(), RequestTimeout: 2 * time.Second, DialTimeout: 2 * time.Second}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	// Probes once a second: their own writes are taken out of the rate,
	// and the fewer there are the less that subtraction's edges matter.
	ch := collector.NewChecker(collector.ClusterConfig{
		Name: "main", Conn: conn, HealthCheckInterval: 300 * time.Millisecond,
		Probe: collector.ProbeConfig{Interval: time.Second, Timeout: time.Second, Write: true},
	}, slog.New(slog.DiscardHandler), collector.WithProbeMetrics(collector.NewProbeMetrics()))
	ch.Start()
	t.Cleanup(ch.Close)
	_, srv := serve(t, Options{LatencyWindow: 3 * time.Second}, ch)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var s status.ClusterStatus
		get(t, srv.URL+"/api/v1/cluster/status", &s)
		if s.Healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster never healthy: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // a full window of probes
	var cur currentBody
	get(t, srv.URL+"/api/v1/metrics/current", &cur)
	if cur.RequestRate == nil || *cur.RequestRate > 2 {
		t.Fatalf("idle cluster: request_rate %v, want about 0 (probe writes excluded)", cur.RequestRate)
	}
	if cur.WriteLatencyP99 == nil || cur.ReadLatencyP99 == nil || cur.DBSize <= 0 {
		t.Errorf("metrics/current of a probed cluster: %+v", cur)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stop := time.Now().Add(3 * time.Second)
	n := 0
	for time.Now().Before(stop) {
		if _, err := cli.Put(ctx, "/load", "x"); err != nil {
			t.Fatal(err)
		}
		n++
	}
	time.Sleep(500 * time.Millisecond)
	get(t, srv.URL+"/api/v1/metrics/current", &cur)
	want := float64(n) / 3
	t.Logf("wrote %d keys in 3 s (%.0f/s); request_rate %.1f", n, want, *cur.RequestRate)
	if d := *cur.RequestRate - want; d < -max(want/2, 2) || d > max(want/2, 2) {
		t.Errorf("request_rate %.1f, want about %.0f", *cur.RequestRate, want)
	}
}
