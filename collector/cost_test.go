package collector

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// establishedTo counts this process's established TCP connections whose
// remote port is one of ports (the members' client URLs: only the
// monitor's side of a connection has them as its remote port).
func establishedTo(t *testing.T, ports map[int]bool) int {
	t.Helper()
	n := 0
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			if len(fs) < 4 || fs[3] != "01" { // ESTABLISHED
				continue
			}
			i := strings.LastIndexByte(fs[2], ':')
			if i < 0 {
				continue
			}
			port, err := strconv.ParseUint(fs[2][i+1:], 16, 16)
			if err == nil && ports[int(port)] {
				n++
			}
		}
	}
	return n
}

// clientGoroutines counts the goroutines of the process that are not the
// in-process etcd servers' or the test proxies' in front of them: the
// monitor's own, its gRPC and HTTP clients' included.
func clientGoroutines() int {
	buf := make([]byte, 64<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		server := false
		for _, s := range []string{"transport.(*http2Server)", "transport.NewServerTransport", "etcd/pkg/v3/proxy", "go.etcd.io/etcd/server", "go.etcd.io/raft", "grpc.(*Server)", "net/http.(*conn).serve", "net/http.(*Server)"} {
			if strings.Contains(g, s) {
				server = true
				break
			}
		}
		if !server {
			n++
		}
	}
	return n
}

// TestCostPerCluster measures what one watched cluster of three members
// costs the monitor at the default intervals, with probes: goroutines,
// connections, series and bytes of /metrics. It is a measurement
// (docs/performance.md), run with ETCD_MONITOR_PERF=1; it fails only where
// the numbers are absurd. Goroutines are counted without the in-process
// etcd servers' and the test proxies' (by their stacks).
func TestCostPerCluster(t *testing.T) {
	if os.Getenv("ETCD_MONITOR_PERF") == "" {
		t.Skip("a measurement: run with ETCD_MONITOR_PERF=1 (docs/performance.md)")
	}
	const k = 20 // clusters, as many checkers with their own names on one etcd cluster
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	ports := map[int]bool{}
	for _, ep := range c.Endpoints() {
		u, _ := url.Parse(ep)
		p, _ := strconv.Atoi(u.Port())
		ports[p] = true
	}
	for _, buckets := range []struct {
		name string
		b    []float64
	}{{"default buckets", nil}, {"fleet buckets", FleetProbeBuckets}, {"native only", []float64{}}} {
		t.Run(buckets.name, func(t *testing.T) {
			runtime.GC()
			time.Sleep(500 * time.Millisecond)
			g0, c0 := clientGoroutines(), establishedTo(t, ports)
			pm := NewProbeMetrics(WithProbeBuckets(buckets.b))
			sched := NewScheduler(DefaultMaxInFlightRounds)
			var chs Checkers
			for i := range k {
				conn := connFor(t, c.Endpoints())
				conn.RequestTimeout = 5 * time.Second
				chs = append(chs, NewChecker(ClusterConfig{
					Name: fmt.Sprintf("tenant-%03d", i), Conn: conn, HealthCheckInterval: 10 * time.Second,
					Probe: ProbeConfig{Interval: DefaultProbeInterval, Write: true},
				}, testLogger(t), WithProbeMetrics(pm), WithScheduler(sched)))
			}
			chs.Start()
			defer chs.Close()
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(NewClusterCollector(chs), pm, sched)
			// Settled: every cluster probed every member with every
			// operation (at most one probe interval after the first check).
			waitfor.Until(t, 30*time.Second, "every operation on every member of every cluster", func() bool {
				for _, ch := range chs {
					if ch.recent.count(time.Time{}, time.Now(), OpPut, OpGet, OpGetSerializable, OpDelete) < 12 {
						return false
					}
				}
				return true
			})
			// Another full check interval, so every connection a round
			// uses has been used and idle ones had the chance to close.
			time.Sleep(11 * time.Second)
			g, conns := clientGoroutines()-g0, establishedTo(t, ports)-c0
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
			for _, mf := range mfs {
				if err := enc.Encode(mf); err != nil {
					t.Fatal(err)
				}
			}
			series, bucketSeries := 0, 0
			for _, line := range strings.Split(buf.String(), "\n") {
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				series++
				if strings.HasPrefix(line, "etcd_monitor_probe_duration_seconds_bucket") {
					bucketSeries++
				}
			}
			t.Logf("per cluster of 3 members (%d clusters): %.1f goroutines, %.2f connections, %d series (%d probe histogram buckets), %.1f KiB of text exposition",
				k, float64(g)/k, float64(conns)/k, series/k, bucketSeries/k, float64(buf.Len())/k/1024)
			if g > 100*k || conns > 10*k {
				t.Errorf("%d goroutines, %d connections for %d clusters", g, conns, k)
			}
		})
	}
}
