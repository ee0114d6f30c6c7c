// Command fleetbench measures one etcd-monitor watching a fleet: N config
// entries spread round-robin over K real etcd clusters of 3 member
// processes, all on loopback. It reports the monitor's CPU, RSS,
// goroutines, file descriptors and /metrics scrapes, and checks its probe
// latencies against a plain clientv3 client reading the same members at the
// same time; every "member is down" or failed probe it counts is one the
// monitor produced by itself, since no member is ever stopped.
//
//	go run ./scripts/fleetbench -clusters 1000 -etcd-clusters 10 [-- extra serve flags]
//
// See docs/performance-fleet.md. Every process it starts dies with it
// (Ctrl-C, the -timeout, or even SIGKILL of the harness).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

type options struct {
	clusters, etcdClusters, scrapes      int
	etcdNice                             int
	etcdBin, monitorBin, dir, jsonFile   string
	scrapeFormat                         string
	settle, window, scrapeGap, refPeriod time.Duration
	timeout                              time.Duration
	keep, tls                            bool
	monitorArgs                          []string
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		cancel()
		stop()
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("fleetbench", flag.ContinueOnError)
	fs.IntVar(&o.clusters, "clusters", 1000, "config entries (clusters the monitor watches)")
	fs.IntVar(&o.etcdClusters, "etcd-clusters", 10, "real etcd clusters of 3 member processes the entries are spread over")
	etcdBin := os.Getenv("ETCD_BIN")
	if etcdBin == "" {
		etcdBin = "/usr/bin/etcd"
	}
	fs.StringVar(&o.etcdBin, "etcd-bin", etcdBin, "etcd binary (default $ETCD_BIN, else /usr/bin/etcd)")
	fs.IntVar(&o.etcdNice, "etcd-nice", 0, "run the etcd members at this niceness (1-19: the monitor and the reference client get the CPU first, as if etcd ran on machines of its own; 0 leaves them equal)")
	fs.StringVar(&o.monitorBin, "monitor-bin", "", "etcd-monitor binary; empty builds ./cmd/etcd-monitor of this module")
	dir := os.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dir = "/dev/shm" // etcd's fsyncs on tmpfs: the disk is not what is measured
	}
	fs.StringVar(&o.dir, "dir", dir, "where the etcd data directories and logs go (removed at exit)")
	fs.BoolVar(&o.keep, "keep", false, "keep the working directory (logs, config) at exit")
	fs.BoolVar(&o.tls, "tls", false, "serve etcd over mutual TLS (a throwaway CA in the working directory) and give the monitor and the reference client a client certificate")
	// Six minutes: the monitor's heap grows until each probe series' 5-minute
	// latency window is full, so an earlier "settled" RSS is one still
	// growing (at 1,000 clusters, 390 MiB at 2 minutes, 470 at 6).
	fs.DurationVar(&o.settle, "settle", 6*time.Minute, "time from the monitor listening to the measurement window (the settled RSS is read in its last 30 s; under 6m the monitor's latency windows are not full yet)")
	fs.DurationVar(&o.window, "window", 2*time.Minute, "measurement window (CPU, RSS, probe latencies, failures, log lines)")
	fs.IntVar(&o.scrapes, "scrapes", 20, "/metrics scrapes after the window")
	fs.DurationVar(&o.scrapeGap, "scrape-gap", time.Second, "pause between scrapes")
	fs.StringVar(&o.scrapeFormat, "scrape-format", "text", "format of the timed scrapes: text, openmetrics or protobuf")
	fs.DurationVar(&o.refPeriod, "reference-interval", time.Second, "mean time between a reference client's rounds, per member")
	fs.DurationVar(&o.timeout, "timeout", 0, "stop everything after this long (default settle + window + 15m)")
	fs.StringVar(&o.jsonFile, "json", "", "also write the JSON summary to this file")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.monitorArgs = fs.Args()
	switch {
	case o.clusters < 1:
		return o, fmt.Errorf("-clusters: must be at least 1, got %d", o.clusters)
	case o.etcdClusters < 1:
		return o, fmt.Errorf("-etcd-clusters: must be at least 1, got %d", o.etcdClusters)
	case o.scrapes < 1:
		return o, fmt.Errorf("-scrapes: must be at least 1, got %d", o.scrapes)
	case o.etcdNice < 0 || o.etcdNice > 19:
		return o, fmt.Errorf("-etcd-nice: must be 0 to 19, got %d", o.etcdNice)
	case o.window <= 0 || o.refPeriod <= 0:
		return o, errors.New("-window, -reference-interval: must be positive")
	case o.settle < 0 || o.scrapeGap < 0 || o.timeout < 0:
		return o, errors.New("-settle, -scrape-gap, -timeout: must not be negative")
	case scrapeAccept[o.scrapeFormat] == "":
		return o, fmt.Errorf("-scrape-format: %q is not text, openmetrics or protobuf", o.scrapeFormat)
	}
	if o.timeout == 0 {
		o.timeout = o.settle + o.window + 15*time.Minute
	}
	return o, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s fleetbench: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, o options) (err error) {
	raiseFDLimit()
	work, err := os.MkdirTemp(o.dir, "fleetbench-")
	if err != nil {
		return err
	}
	if o.keep {
		defer logf("kept %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	if o.monitorBin == "" {
		if o.monitorBin, err = buildMonitor(ctx, work); err != nil {
			return err
		}
	}
	var ft *fleetTLS // nil: plaintext
	if o.tls {
		if ft, err = newFleetTLS(work); err != nil {
			return err
		}
	}
	p := &procs{}
	defer p.stopAll() // before the directory goes: deferred calls run last first

	logf("starting %d etcd clusters of 3 members (%s)", o.etcdClusters, o.etcdBin)
	clusters, err := startEtcd(ctx, p, o.etcdBin, o.etcdNice, work, o.etcdClusters, ft)
	if err != nil {
		return err
	}
	var etcdPIDs []int
	var endpoints []string
	for _, c := range clusters {
		etcdPIDs = append(etcdPIDs, c.pids...)
		endpoints = append(endpoints, c.endpoints...)
	}
	config := filepath.Join(work, "clusters.yml")
	if err := writeConfig(config, o.clusters, clusters, ft); err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	args := append([]string{"serve", "--config.file=" + config, "--web.listen-address=" + addr}, o.monitorArgs...)
	monitorLog := filepath.Join(work, "monitor.log")
	logf("starting %s %s", o.monitorBin, strings.Join(args, " "))
	mon, err := p.start(monitorLog, o.monitorBin, args...)
	if err != nil {
		return err
	}
	pid := mon.Process.Pid
	if err := waitListening(ctx, pid, addr, 2*time.Minute); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(monitorLog, 2048))
	}
	metricsURL := "http://" + addr + "/metrics"

	ref := newReference()
	refCtx, refStop := context.WithCancel(ctx)
	refDone := make(chan error, 1)
	go func() { refDone <- ref.run(refCtx, endpoints, ft.clientConfig(), o.refPeriod, 5*time.Second) }()
	defer func() { refStop(); <-refDone }()

	// Settled RSS is taken before the first scrape: a scrape's garbage
	// stays in the heap for minutes.
	logf("monitor listening on %s; settling for %s", addr, o.settle)
	var settled []float64
	for end := time.Now().Add(o.settle); time.Now().Before(end); {
		if err := sleep(ctx, min(time.Second, time.Until(end))); err != nil {
			return err
		}
		if time.Until(end) < 30*time.Second {
			settled = append(settled, mustRSS(pid))
		}
	}

	r := &report{Clusters: o.clusters, EtcdClusters: o.etcdClusters, EtcdMembers: 3 * o.etcdClusters, TLS: o.tls,
		MonitorArgs: args, EtcdBinary: o.etcdBin, EtcdNice: o.etcdNice, SettleSeconds: num(o.settle.Seconds()), WindowSeconds: num(o.window.Seconds())}
	r.RSSSettledMiB = num(median(settled))

	logf("measuring for %s", o.window)
	before, err := families(ctx, metricsURL)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(monitorLog, 2048))
	}
	logStart := fileSize(monitorLog)
	select {
	case err := <-refDone: // the reference must be running through the window
		refDone <- err
		return fmt.Errorf("the reference client ended before the window: %v", err)
	default:
	}
	ref.window(true)
	cpu0, _ := cpuSeconds(pid)
	etcd0, _ := cpuSecondsAll(etcdPIDs)
	self0, _ := cpuSeconds(os.Getpid())
	t0 := time.Now()
	var windowRSS []float64
	for end := t0.Add(o.window); time.Now().Before(end); {
		if err := sleep(ctx, min(time.Second, time.Until(end))); err != nil {
			return err
		}
		windowRSS = append(windowRSS, mustRSS(pid))
	}
	elapsed := time.Since(t0).Seconds()
	cpu1, err := cpuSeconds(pid)
	if err != nil {
		return fmt.Errorf("monitor gone: %w\n%s", err, tail(monitorLog, 2048))
	}
	etcd1, _ := cpuSecondsAll(etcdPIDs)
	self1, _ := cpuSeconds(os.Getpid())
	ref.window(false)
	logEnd := fileSize(monitorLog)
	fdCount, _ := openFDs(pid)
	after, err := families(ctx, metricsURL)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(monitorLog, 2048))
	}
	r.MonitorCPUCores = num((cpu1 - cpu0) / elapsed)
	r.EtcdCPUCores = num((etcd1 - etcd0) / elapsed)
	r.HarnessCPUCores = num((self1 - self0) / elapsed)
	r.RSSWindowMaxMiB = num(maxOf(windowRSS))
	r.OpenFDs = fdCount
	r.Goroutines = gauge(after, "go_goroutines")
	r.LoadAverage = loadAverage()
	r.Rounds = monitorRounds(before, after)
	r.Probes, r.ProbeFailures = compareProbes(before, after, ref)
	r.LogLinesWindow = logLines(monitorLog, logStart, logEnd)
	r.LogLinesTotal = logLines(monitorLog, 0, logEnd)

	logf("%d scrapes of %s (%s)", o.scrapes, metricsURL, o.scrapeFormat)
	if err := measureScrapes(ctx, r, pid, metricsURL, o); err != nil {
		return err
	}
	r.Targets = r.targets()
	r.print(os.Stdout)
	return r.writeJSON(os.Stdout, o.jsonFile)
}

// measureScrapes times o.scrapes scrapes while sampling the monitor's RSS.
// Before them it samples the RSS for as long, unscraped: the process's heap
// grows between garbage collections whether it is scraped or not (its gRPC
// calls allocate steadily), so the peak of that control period, not a
// single sample before the scrapes, is what shows what scraping adds.
func measureScrapes(ctx context.Context, r *report, pid int, url string, o options) error {
	r.ScrapeFormat = o.scrapeFormat
	r.RSSBeforeScrapesMiB = num(mustRSS(pid))
	control := time.Duration(o.scrapes) * (o.scrapeGap + 500*time.Millisecond)
	stopControl := sampleRSSPeak(pid)
	if err := sleep(ctx, control); err != nil {
		stopControl()
		return err
	}
	r.RSSControlMaxMiB, r.RSSControlSeconds = num(stopControl()), control.Seconds()
	stop := sampleRSSPeak(pid)
	var ms, size []float64
	var err error
	for i := range o.scrapes {
		var body []byte
		var took time.Duration
		body, took, err = scrape(ctx, url, scrapeAccept[o.scrapeFormat])
		if err != nil {
			break
		}
		ms, size = append(ms, took.Seconds()*1000), append(size, float64(len(body)))
		if i == 0 && o.scrapeFormat != "protobuf" {
			r.Series = countSamples(body)
		}
		if err = sleep(ctx, o.scrapeGap); err != nil {
			break
		}
	}
	r.RSSDuringScrapesMaxMiB = num(stop())
	r.ScrapeMs = summary(ms)
	r.ScrapeMiB = num(median(size) / (1 << 20))
	return err
}

// sampleRSSPeak samples the RSS of pid every 100 ms until the returned
// function is called, which returns the highest sample (MiB).
func sampleRSSPeak(pid int) func() float64 {
	stop := make(chan struct{})
	peak := make(chan float64)
	go func() {
		top := mustRSS(pid)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				peak <- top
				return
			case <-t.C:
				top = math.Max(top, mustRSS(pid))
			}
		}
	}()
	return func() float64 {
		close(stop)
		return <-peak
	}
}

func buildMonitor(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module to build etcd-monitor from: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the etcd-monitor repository: run from it, or pass -monitor-bin")
	}
	bin := filepath.Join(dir, "etcd-monitor")
	logf("building %s", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/etcd-monitor")
	cmd.Dir = filepath.Dir(mod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building etcd-monitor: %w\n%s", err, out)
	}
	return bin, nil
}

// waitListening waits until the monitor accepts connections. It does not
// GET /metrics: that would be a scrape before the settled RSS is taken.
func waitListening(ctx context.Context, pid int, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err != nil || isZombie(pid) {
			return errors.New("etcd-monitor exited before it listened")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("etcd-monitor not listening on %s after %s", addr, timeout)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

func isZombie(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || strings.HasPrefix(s[i+1:], " Z")
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("stopped: %w", context.Cause(ctx))
	case <-time.After(d):
		return nil
	}
}

// raiseFDLimit lifts the soft limit on open files to the hard one, for the
// harness and the processes it starts: a fleet's connections need them.
func raiseFDLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func mustRSS(pid int) float64 {
	v, err := rssMiB(pid)
	if err != nil {
		return math.NaN()
	}
	return v
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func tail(path string, n int64) string {
	b, _ := os.ReadFile(path)
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
