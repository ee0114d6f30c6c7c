package collector

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// grpcStarted sums etcd's own grpc_server_started_total over the given
// members' /metrics. In-process members share one registry, so there the
// sum covers the whole cluster whichever member is asked.
func grpcStarted(t *testing.T, urls []string) float64 {
	t.Helper()
	var total float64
	for _, u := range urls {
		resp, err := http.Get(u + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if !strings.HasPrefix(line, "grpc_server_started_total{") {
				continue
			}
			v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
			if err == nil {
				total += v
			}
		}
		resp.Body.Close()
	}
	return total
}

// TestLoadOnEtcdAtDefaults counts, with etcd's own counter, the requests
// the monitor sends each member at the default intervals: checks alone must
// stay at or under 1 per member per second, checks and probes under 2.
func TestLoadOnEtcdAtDefaults(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 50 s; run without -short")
	}
	bs := testetcd.Backends(t)
	b := bs[len(bs)-1] // separate processes count per member when available
	c := startCluster(t, b, localetcd.Options{Members: 3})
	urls := c.Endpoints()
	if b.Binary == "" {
		urls = urls[:1] // one shared registry for all in-process members
	}
	measure := func(probes bool) float64 {
		cfg := ClusterConfig{Name: "load", Conn: connFor(t, c.Endpoints()), HealthCheckInterval: 10 * time.Second}
		cfg.Conn.RequestTimeout = 5 * time.Second
		var opts []Option
		if probes {
			cfg.Probe = ProbeConfig{Interval: DefaultProbeInterval, Write: true}
			opts = append(opts, WithProbeMetrics(NewProbeMetrics()))
		}
		ch := NewChecker(cfg, testLogger(t), opts...)
		ch.Start()
		defer ch.Close()
		waitFor(t, ch, 10*time.Second, "first round", func(s *Snapshot) bool { return s.HealthyVoting == 3 })
		time.Sleep(time.Second) // the first, connection-setting-up round is behind us
		const window = 20 * time.Second
		before := grpcStarted(t, urls)
		time.Sleep(window)
		n := grpcStarted(t, urls) - before
		perMemberPerSecond := n / 3 / window.Seconds()
		t.Logf("probes=%v: %.0f requests in %s on 3 members = %.3f per member per second", probes, n, window, perMemberPerSecond)
		return perMemberPerSecond
	}
	if r := measure(false); r > 1 {
		t.Errorf("checks alone: %.3f requests per member per second, want at most 1", r)
	}
	if r := measure(true); r > 2 {
		t.Errorf("checks and probes: %.3f requests per member per second, want at most 2", r)
	}
}
