package benchmark

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	dto "github.com/prometheus/client_model/go"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testpushgateway"
)

// parseFlags parses a benchmark command line and returns the validated
// Config, as the command would run it.
func parseFlags(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	app := kingpin.New("etcd-monitor", "test").Terminate(nil)
	cmd := app.Command("benchmark", "")
	f := newFlags(cmd, io.Discard, func() bool { return false })
	if _, err := app.Parse(append([]string{"benchmark"}, args...)); err != nil {
		return Config{}, cli.Usagef("%v", err)
	}
	return f.config()
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"--workload=delete"}, "--workload"},
		// The original guide's names are named as typed.
		{[]string{"--benchmark-type=scan"}, "--benchmark-type: "},
		{[]string{"--benchmark-ops=-5"}, "--benchmark-ops: must not be negative"},
		{[]string{"--benchmark-ops=1.5"}, "--benchmark-ops: 1.5 is not an integer"},
		{[]string{"--benchmark-ops=100", "--duration=10s"}, "--benchmark-ops and --duration"},
		{[]string{"--endpoints=127.0.0.1:99999"}, "--endpoints: "},
		// Whole numbers in range only: kingpin read 1.5 as 1 and wrapped
		// 1e20 to a negative number.
		{[]string{"--clients=1.5"}, "--clients: 1.5 is not an integer"},
		{[]string{"--total=9223372036854775808"}, "--total: 9223372036854775808 is out of range"},
		{[]string{"--clients=1e20"}, "--clients: 1e20 is out of range"},
		{[]string{"--val-size=1e20"}, "--val-size: 1e20 is out of range"},
		{[]string{"--key-space-size=2.5"}, "--key-space-size: 2.5 is not an integer"},
		{[]string{"--workload=mixed", "--read-ratio=1.5"}, "--read-ratio"},
		{[]string{"--read-ratio=-0.1"}, "--read-ratio"},
		{[]string{"--clients=0"}, "--clients"},
		{[]string{"--conns=0"}, "--conns"},
		{[]string{"--conns=10", "--clients=2"}, "--conns"},
		{[]string{"--total=100", "--duration=10s"}, "--total and --duration"},
		{[]string{"--total=-1"}, "--total"},
		{[]string{"--rate=-5"}, "--rate"},
		{[]string{"--consistency=strong"}, "--consistency"},
		{[]string{"--key-size=2", "--key-space-size=1000"}, "--key-space-size"},
		{[]string{"--key-space-size=0"}, "--key-space-size"},
		{[]string{"--val-size=-1"}, "--val-size"},
		{[]string{"--key-prefix="}, "--key-prefix"},
		{[]string{"--max-quota-usage=120%"}, "--max-quota-usage"},
		{[]string{"--max-quota-usage=lots"}, "--max-quota-usage"},
		{[]string{"--output=yaml"}, "--output"},
		{[]string{"--pushgateway.url=::not a url"}, "--pushgateway.url"},
		{[]string{"--pushgateway.url=localhost:9091"}, "--pushgateway.url"},
		{[]string{"--pushgateway.url=http://"}, "--pushgateway.url"},
		{[]string{"--check.max-error-rate=2"}, "--check.max-error-rate"},
		{[]string{"--etcd.endpoints=ftp://x:1"}, "--etcd.endpoints"},
		{[]string{"--clients=many"}, "--clients"},
		{[]string{"--duration=soon"}, "--duration"},
		// Sizes etcd refuses (--max-request-bytes, 1.5 MiB by default) and
		// counts that only exhaust this machine. Before: accepted, then
		// 13.7 GB of RSS (--val-size=2000000000), 2.3 GB and a failed
		// cleanup (--key-size=100000000), 1.9 GB (--clients=10000000).
		{[]string{"--val-size=2000000000", "--total=5"}, "--val-size"},
		{[]string{"--val-size=1572864"}, "--val-size"},
		{[]string{"--key-size=100000000"}, "--key-size"},
		{[]string{"--key-size=1000000", "--val-size=1000000"}, "--val-size"},
		{[]string{"--clients=10000000", "--total=5"}, "--clients"},
		{[]string{"--clients=1000", "--val-size=1000000"}, "--clients"},
		// Requests in flight, counted in gRPC's buffers: 170 clients of
		// 1.5 MB took the command to 1.6 GB; a 600 KB request takes a
		// 1 MiB buffer.
		{[]string{"--clients=170", "--val-size=1572000", "--conns=10"}, "--clients: 170 clients"},
		{[]string{"--clients=65", "--val-size=600000", "--conns=10"}, "each in a 1048576-byte gRPC buffer) would hold 65 MiB in flight, at most 64 MiB"},
		{[]string{"--clients=5000", "--conns=5000"}, "--conns"},
		{[]string{"--key-size=12", "--key-space-size=1000000000000"}, "--key-space-size"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			// No cluster listens on the default endpoint: bad input must be
			// found before anything is dialled.
			out, err := runCLI(ctx, tc.args...)
			if code := cli.ExitCode(err); code != cli.ExitUsage {
				t.Fatalf("exit %d (%v), want %d", code, err, cli.ExitUsage)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") || !strings.Contains(msg, tc.flag) {
				t.Fatalf("want one line naming %s, got %q", tc.flag, msg)
			}
			if out != "" {
				t.Fatalf("bad input printed %q", out)
			}
		})
	}
}

func TestFlagDefaults(t *testing.T) {
	cfg, err := parseFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.total() != DefaultTotal || cfg.Duration != 0 || cfg.MaxQuotaUsage != 0.8 || cfg.KeyPrefix != DefaultKeyPrefix {
		t.Fatalf("defaults: %+v", cfg)
	}
	cfg, err = parseFlags(t, "--duration=30s", "--max-quota-usage=0.5")
	if err != nil || cfg.total() != 0 || cfg.Duration != 30*time.Second || cfg.MaxQuotaUsage != 0.5 {
		t.Fatalf("timed run: %+v %v", cfg, err)
	}
	// the original etcd-monitor guide's spellings are hidden aliases on the subcommand too.
	cfg, err = parseFlags(t, "--benchmark-type=read", "--benchmark-ops=500")
	if err != nil || cfg.Workload != WorkloadRead || cfg.Total != 500 {
		t.Fatalf("guide aliases: %+v %v", cfg, err)
	}
}

func TestGuideArgs(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
		ok       bool
	}{
		{
			in:   []string{"--run-benchmark", "--benchmark-type=mixed", "--benchmark-ops=10000", "--endpoints=localhost:2379"},
			want: []string{"benchmark", "--benchmark-type=mixed", "--benchmark-ops=10000", "--endpoints=localhost:2379"},
			ok:   true,
		},
		{
			in:   []string{"--log.level=debug", "--run-benchmark=true", "--benchmark-type", "read", "--benchmark-ops", "50", "--endpoints", "a:1,b:2", "--api-port=8080", "--health-check-interval", "30s"},
			want: []string{"benchmark", "--log.level=debug", "--benchmark-type", "read", "--benchmark-ops", "50", "--endpoints", "a:1,b:2"},
			ok:   true,
		},
		{in: []string{"--endpoints=localhost:2379", "--api-port=8080"}, want: []string{"--endpoints=localhost:2379", "--api-port=8080"}},
		{in: []string{"serve", "--run-benchmark=false"}, want: []string{"serve", "--run-benchmark=false"}},
		{in: nil, want: nil},
	} {
		got, ok := GuideArgs(tc.in)
		if ok != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("GuideArgs(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// The rewritten command line is one the subcommand accepts.
	args, _ := GuideArgs([]string{"--run-benchmark", "--benchmark-type=mixed", "--benchmark-ops=10000", "--endpoints=localhost:2379"})
	cfg, err := parseFlags(t, args[1:]...)
	if err != nil || cfg.Workload != WorkloadMixed || cfg.Total != 10000 || cfg.ReadRatio != 0.7 {
		t.Fatalf("rewritten guide form parses to %+v, %v", cfg, err)
	}
}

func TestJudge(t *testing.T) {
	rep := &Report{
		Stop: StopInfo{Reason: StopCompleted},
		Operations: []OpReport{
			{Operation: "read", Succeeded: 90, Requests: 90, Percentiles: []Percentile{{99, 0.020}}},
			{Operation: "write", Succeeded: 4, Errors: 6, Requests: 10, Percentiles: []Percentile{{99, 0.150}}},
		},
		Summary: OpReport{Requests: 100, Errors: 6, ErrorRate: 0.06},
	}
	res := rep.Judge(GuideLimits())
	if res.Passed || rep.Check != res {
		t.Fatal("a run with a 150 ms write p99 and 6% errors passed")
	}
	failed := map[string]bool{}
	for _, it := range res.Items {
		failed[it.Name] = !it.Passed
	}
	if failed["read_p99"] || !failed["write_p99"] || !failed["error_rate"] || failed["completed"] {
		t.Fatalf("verdicts: %+v", res.Items)
	}
	rep.Operations[1].Percentiles[0].Seconds = 0.05
	rep.Summary.ErrorRate = 0.01
	if !rep.Judge(GuideLimits()).Passed {
		t.Fatalf("a good run failed: %+v", rep.Check.Items)
	}
	rep.Stop = StopInfo{Reason: StopQuota}
	if rep.Judge(GuideLimits()).Passed {
		t.Fatal("a run stopped by the quota guard passed")
	}
}

func TestCommandOutputAndCheck(t *testing.T) {
	c := shared.Cluster(t)
	kv := testetcd.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	eps := "--etcd.endpoints=" + strings.Join(c.Endpoints(), ",")

	out, err := runCLI(ctx, eps, "--workload=mixed", "--total=500", "--key-space-size=100", "--clients=4", "--conns=2", "--key-prefix=/test/cli/", "--output=json",
		"--check", "--check.max-p99-latency=10s")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--output json is not JSON: %v\n%s", err, out)
	}
	checkTotals(t, &rep, 500)
	if rep.Check == nil || !rep.Check.Passed || rep.Workload != WorkloadMixed || len(rep.Operations) != 2 {
		t.Fatalf("report: workload %s, check %+v", rep.Workload, rep.Check)
	}
	var raw map[string]any
	_ = json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"summary", "operations", "stop", "quota", "cleanup", "config", "run_prefix", "total_seconds"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}

	// A check that cannot pass exits 1, after printing the report.
	out, err = runCLI(ctx, eps, "--total=100", "--key-space-size=100", "--key-prefix=/test/cli/", "--check", "--check.max-p99-latency=1ns")
	if cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), "check failed") || !strings.Contains(out, "Summary:") || !strings.HasSuffix(out, "FAIL\n") {
		t.Fatalf("failing check: exit %d (%v)\n%s", cli.ExitCode(err), err, out)
	}
	if keysUnder(t, kv, "/test/cli/") != 0 {
		t.Fatal("keys left behind")
	}
}

func TestUnreachable(t *testing.T) {
	addr := freeport.Addr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := runCLI(ctx, "--etcd.endpoints="+addr, "--etcd.dial-timeout=500ms", "--etcd.request-timeout=1s")
	if cli.ExitCode(err) != cli.ExitUnreachable || !strings.Contains(err.Error(), addr) {
		t.Fatalf("exit %d (%v), want %d naming %s", cli.ExitCode(err), err, cli.ExitUnreachable, addr)
	}
}

func TestPushgateway(t *testing.T) {
	gw := testpushgateway.Start(t)
	c := shared.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	eps := "--etcd.endpoints=" + strings.Join(c.Endpoints(), ",")
	before := time.Now()
	out, err := runCLI(ctx, eps, "--workload=mixed", "--total=500", "--key-space-size=100", "--clients=4", "--conns=2", "--key-prefix=/test/push/",
		"--output=json", "--pushgateway.url="+gw, "--cluster.name=bench-test")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var rep Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}

	fams := testpushgateway.Metrics(t, gw)
	group := map[string]string{"job": DefaultPushJob, "etcd_cluster": "bench-test", "workload": "mixed"}
	find := func(name string, extra map[string]string) *dto.Metric {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("%s not on the Pushgateway", name)
		}
	metrics:
		for _, m := range f.Metric {
			labels := map[string]string{}
			for _, l := range m.Label {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range group {
				if labels[k] != v {
					continue metrics
				}
			}
			for k, v := range extra {
				if labels[k] != v {
					continue metrics
				}
			}
			return m
		}
		t.Fatalf("%s{%v %v} not on the Pushgateway", name, group, extra)
		return nil
	}
	for _, o := range rep.Operations {
		op := map[string]string{"operation": o.Operation}
		if got := find("etcd_monitor_benchmark_throughput_ops_per_second", op).GetGauge().GetValue(); got != o.Throughput {
			t.Errorf("%s throughput %v, report says %v", o.Operation, got, o.Throughput)
		}
		if got := find("etcd_monitor_benchmark_requests", op).GetGauge().GetValue(); got != float64(o.Requests) {
			t.Errorf("%s requests %v, report says %d", o.Operation, got, o.Requests)
		}
		h := find("etcd_monitor_benchmark_latency_seconds", op).GetHistogram()
		// The text exposition adds the +Inf bucket.
		if h.GetSampleCount() != uint64(o.Succeeded) || len(h.Bucket) != len(latencyBuckets)+1 {
			t.Errorf("%s latency histogram: count %d, %d buckets; report: %d succeeded", o.Operation, h.GetSampleCount(), len(h.Bucket), o.Succeeded)
		}
		if last := h.Bucket[len(latencyBuckets)-1].GetCumulativeCount(); last != h.GetSampleCount() {
			t.Errorf("%s: %d of %d latencies within the top bucket", o.Operation, last, h.GetSampleCount())
		}
		if mean := h.GetSampleSum() / float64(h.GetSampleCount()); rel(mean, o.Average) > 1e-6 {
			t.Errorf("%s mean latency %v, report says %v", o.Operation, mean, o.Average)
		}
	}
	if d := find("etcd_monitor_benchmark_duration_seconds", nil).GetGauge().GetValue(); d != rep.TotalSeconds {
		t.Errorf("duration %v, report says %v", d, rep.TotalSeconds)
	}
	ts := find("etcd_monitor_benchmark_last_run_timestamp_seconds", nil).GetGauge().GetValue()
	if ts < float64(before.Unix()) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("last run timestamp %v is not of this run", ts)
	}
	if find("etcd_monitor_benchmark_completed", nil).GetGauge().GetValue() != 1 {
		t.Error("completed run pushed as not completed")
	}

	// A push that fails is reported and exits non-zero, after the report.
	out, err = runCLI(ctx, eps, "--total=100", "--key-space-size=100", "--key-prefix=/test/push/", "--pushgateway.url=http://127.0.0.1:1")
	if cli.ExitCode(err) != 1 || !strings.Contains(err.Error(), "pushing results") || !strings.Contains(out, "Summary:") {
		t.Fatalf("failed push: exit %d (%v)\n%s", cli.ExitCode(err), err, out)
	}
}

func TestProgressBarOnlyOnATerminal(t *testing.T) {
	c := shared.Cluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, term := range []bool{true, false} {
		app := kingpin.New("etcd-monitor", "test").Terminate(nil)
		var out bytes.Buffer
		cmd := register(app, &out, func() bool { return term })
		args := []string{"benchmark", "--etcd.endpoints=" + strings.Join(c.Endpoints(), ","), "--duration=700ms", "--key-prefix=/test/progress/"}
		if _, err := app.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Run(ctx, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		bar := strings.Contains(out.String(), "running [")
		if bar != term {
			t.Fatalf("terminal=%v: progress bar drawn=%v\n%q", term, bar, out.String())
		}
		if term {
			// The bar's line is cleared before the report starts.
			i := strings.LastIndex(out.String(), "\r\x1b[K")
			if !strings.HasPrefix(out.String()[i+len("\r\x1b[K"):], "Benchmark: write workload") {
				t.Fatalf("report does not start on a cleared line: %q", out.String())
			}
		}
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine("running", 250, 1000, 2*time.Second, 0)
	for _, want := range []string{"running [", " 25% 250/1000", "125 req/s", "\r\x1b[K"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	if got := progressLine("running", 10, 0, 3*time.Second, 10*time.Second); !strings.Contains(got, " 30% 10, 3s/10s") {
		t.Errorf("timed run: %q", got)
	}
}
