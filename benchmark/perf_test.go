package benchmark

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/cputime"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// TestCompareWithPlainLoop is the client-side performance requirement: our
// throughput must be at least 0.95 of a plain clientv3 loop with the same
// connections and clients (no timing, no histogram, keys prepared up
// front: the most a Go client can do). Runs alternate, ours then the loop,
// and medians are compared. It is gated because it takes minutes:
//
//	ETCD_MONITOR_PERF=1 [ETCD_MONITOR_PERF_ENDPOINTS=127.0.0.1:2379] \
//	[ETCD_MONITOR_PERF_TOTAL=20000] [ETCD_MONITOR_PERF_REPEATS=5] \
//	[ETCD_MONITOR_PERF_SHAPES=1x1,10x100] [ETCD_MONITOR_PERF_WORKLOADS=write,read] \
//	[ETCD_MONITOR_PERF_SERVER_PID=$(pidof etcd)] \
//	go test ./benchmark -run TestCompareWithPlainLoop -v -timeout 60m
//
// Without endpoints it starts a 1-member cluster in the test process.
func TestCompareWithPlainLoop(t *testing.T) {
	if os.Getenv("ETCD_MONITOR_PERF") != "1" {
		t.Skip("performance comparison: set ETCD_MONITOR_PERF=1 to run it")
	}
	total := envInt(t, "ETCD_MONITOR_PERF_TOTAL", 20000)
	repeats := envInt(t, "ETCD_MONITOR_PERF_REPEATS", 5)
	shapes := os.Getenv("ETCD_MONITOR_PERF_SHAPES")
	if shapes == "" {
		shapes = "1x1,10x100"
	}
	conn := &etcdconn.Config{}
	if eps := os.Getenv("ETCD_MONITOR_PERF_ENDPOINTS"); eps != "" {
		conn.Endpoints = strings.Split(eps, ",")
	} else {
		c := testetcd.Start(t, localetcd.Options{Members: 1})
		conn.Endpoints = c.Endpoints()
	}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Logf("endpoints %s, %d requests per run, %d repeats", strings.Join(conn.Endpoints, ","), total, repeats)
	workloads := []string{WorkloadWrite, WorkloadRead}
	if w := os.Getenv("ETCD_MONITOR_PERF_WORKLOADS"); w != "" {
		workloads = strings.Split(w, ",")
	}
	t.Logf("%-6s %-12s %12s %12s %7s", "work", "conns/client", "ours req/s", "loop req/s", "ratio")
	for _, w := range workloads {
		for _, shape := range strings.Split(shapes, ",") {
			var conns, clients int
			if _, err := fmt.Sscanf(shape, "%dx%d", &conns, &clients); err != nil {
				t.Fatalf("ETCD_MONITOR_PERF_SHAPES: %q is not CONNSxCLIENTS", shape)
			}
			var ours, loop, oursCPU, loopCPU, oursSrv, loopSrv, ratios []float64
			for i := range repeats {
				cfg := DefaultConfig()
				cfg.Workload, cfg.Total, cfg.Conns, cfg.Clients = w, total, conns, clients
				cfg.KeyPrefix = "/perf/ours/"
				cpu, srv := cputime.Process(), serverCPU(t)
				rep, err := Run(ctx, conn, cfg, nil)
				oursCPU = append(oursCPU, (cputime.Process()-cpu).Seconds()*1e6/float64(total))
				oursSrv = append(oursSrv, (serverCPU(t)-srv).Seconds()*1e6/float64(total))
				if err != nil {
					t.Fatal(err)
				}
				if rep.Summary.Errors != 0 || !rep.OK() {
					t.Fatalf("our run %d: %d errors, stop %+v, cleanup %+v", i, rep.Summary.Errors, rep.Stop, rep.Cleanup)
				}
				ours = append(ours, rep.Summary.Throughput)
				cpu, srv = cputime.Process(), serverCPU(t)
				tp, err := plainLoop(ctx, conn, w, conns, clients, total, cfg.KeySpaceSize)
				loopCPU = append(loopCPU, (cputime.Process()-cpu).Seconds()*1e6/float64(total))
				loopSrv = append(loopSrv, (serverCPU(t)-srv).Seconds()*1e6/float64(total))
				if err != nil {
					t.Fatal(err)
				}
				loop = append(loop, tp)
				ratios = append(ratios, ours[i]/loop[i])
				t.Logf("  %s %s repeat %d: ours %.0f req/s, client %.1f µs CPU/req, server %.1f; loop %.0f req/s, client %.1f, server %.1f",
					w, shape, i, ours[i], oursCPU[i], oursSrv[i], loop[i], loopCPU[i], loopSrv[i])
			}
			mo, ml := median(ours), median(loop)
			t.Logf("%-6s %-12s %12.0f %12.0f %7.3f   (median of pair ratios %.3f) client CPU µs/req: ours %.1f, loop %.1f; server: ours %.1f, loop %.1f",
				w, shape, mo, ml, mo/ml, median(ratios), median(oursCPU), median(loopCPU), median(oursSrv), median(loopSrv))
			if mo < 0.95*ml {
				t.Errorf("%s %s: our median %.0f req/s is below 0.95 of the plain loop's %.0f", w, shape, mo, ml)
			}
		}
	}
}

// plainLoop is the reference: clientv3 calls in a loop, nothing else.
func plainLoop(ctx context.Context, conn *etcdconn.Config, workload string, conns, clients, total, keySpace int) (float64, error) {
	const prefix = "/perf/loop/"
	cs := make([]*clientv3.Client, conns)
	for i := range cs {
		c, err := conn.New()
		if err != nil {
			return 0, err
		}
		defer c.Close()
		cs[i] = c
	}
	keys := make([]string, keySpace)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%08d", prefix, i)
	}
	val := strings.Repeat("v", 8)
	if workload == WorkloadRead {
		for _, k := range keys {
			if _, err := cs[0].Put(ctx, k, val); err != nil {
				return 0, err
			}
		}
	}
	var n atomic.Int64
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range clients {
		wg.Add(1)
		go func(c *clientv3.Client) {
			defer wg.Done()
			for n.Add(1) <= int64(total) {
				var err error
				k := keys[rand.IntN(keySpace)]
				if workload == WorkloadRead {
					_, err = c.Get(context.Background(), k)
				} else {
					_, err = c.Put(context.Background(), k, val)
				}
				if err != nil {
					errs.Add(1)
				}
			}
		}(cs[i%conns])
	}
	wg.Wait()
	el := time.Since(start)
	if _, err := cs[0].Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
		return 0, err
	}
	if e := errs.Load(); e > 0 {
		return 0, fmt.Errorf("plain loop: %d errors", e)
	}
	return float64(total) / el.Seconds(), nil
}

// serverCPU is the CPU time of the etcd process ETCD_MONITOR_PERF_SERVER_PID
// (0 when not given), to see what our requests cost the server.
func serverCPU(t *testing.T) time.Duration {
	pid := os.Getenv("ETCD_MONITOR_PERF_SERVER_PID")
	if pid == "" {
		return 0
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatalf("ETCD_MONITOR_PERF_SERVER_PID: %v", err)
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime and stime fields 14 and 15, in clock ticks (100/s on
	// Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}
