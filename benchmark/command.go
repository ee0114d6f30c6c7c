package benchmark

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/pushgateway"
)

// flagFor maps Config's JSON names to the flags that set them, so a
// ConfigError names the flag the user typed.
var flagFor = map[string]string{
	"workload":            "--workload",
	"total":               "--total",
	"duration":            "--duration",
	"conns":               "--conns",
	"clients":             "--clients",
	"rate":                "--rate",
	"key_size":            "--key-size",
	"val_size":            "--val-size",
	"key_space_size":      "--key-space-size",
	"consistency":         "--consistency",
	"read_ratio":          "--read-ratio",
	"key_prefix":          "--key-prefix",
	"max_quota_usage":     "--max-quota-usage",
	"quota_backend_bytes": "--etcd.quota-backend-bytes",
}

type flags struct {
	conn          *etcdconn.Flags
	cfg           Config
	guideType     string
	guideOps      int
	maxQuota      string
	output        string
	check         bool
	checkP99      time.Duration
	checkErrRate  float64
	pushURL       string
	pushJob       string
	clusterName   string
	stdout        io.Writer
	stdoutIsTerm  func() bool
	workloadIsSet bool
	totalIsSet    bool
	guideTypeSet  bool
	guideOpsSet   bool
}

// Register adds the `benchmark` subcommand to app.
func Register(app *kingpin.Application) cli.Command {
	return register(app, os.Stdout, stdoutIsTerminal)
}

func register(app *kingpin.Application, stdout io.Writer, isTerm func() bool) cli.Command {
	cmd := app.Command("benchmark", "Load-test an etcd cluster and report throughput and latency as etcd's tools/benchmark does; optionally push the results to a Pushgateway.")
	f := newFlags(cmd, stdout, isTerm)
	return cli.Command{Clause: cmd, Run: f.run}
}

func newFlags(cmd *kingpin.CmdClause, stdout io.Writer, isTerm func() bool) *flags {
	f := &flags{stdout: stdout, stdoutIsTerm: isTerm}
	f.conn = etcdconn.RegisterFlags(cmd, "127.0.0.1:2379")
	d := DefaultConfig()
	c := &f.cfg
	// main enables kingpin's default environment variables, whose names do
	// not include the command (ETCD_MONITOR_OUTPUT would be every command's
	// --output). Only flags that mean the same to every command keep one.
	flag := func(name, help string) *kingpin.FlagClause { return cmd.Flag(name, help).NoEnvar() }
	flag("workload", "write (puts), read (gets over keys written first) or mixed (--read-ratio reads, the rest writes).").
		Default(d.Workload).IsSetByUser(&f.workloadIsSet).StringVar(&c.Workload)
	flag("benchmark-type", "the original etcd-monitor guide's name of --workload.").Hidden().IsSetByUser(&f.guideTypeSet).StringVar(&f.guideType)
	flag("read-ratio", "Share of reads in the mixed workload, 0 to 1.").Default(fmt.Sprint(d.ReadRatio)).Float64Var(&c.ReadRatio)
	cli.IntVar(flag("total", fmt.Sprintf("Requests to send (default %d when --duration is not given).", DefaultTotal)).IsSetByUser(&f.totalIsSet), &c.Total)
	cli.IntVar(flag("benchmark-ops", "the original etcd-monitor guide's name of --total.").Hidden().IsSetByUser(&f.guideOpsSet), &f.guideOps)
	flag("duration", "Run for this long instead of sending --total requests.").DurationVar(&c.Duration)
	cli.IntVar(flag("conns", fmt.Sprintf("gRPC connections (at most %d); clients are spread over them as in etcd's tool.", MaxConns)).Default(strconv.Itoa(d.Conns)), &c.Conns)
	cli.IntVar(flag("clients", fmt.Sprintf("Concurrent clients, each with one request in flight (at most %d, and %d MiB of requests in flight).", MaxClients, MaxInFlightBytes>>20)).Default(strconv.Itoa(d.Clients)), &c.Clients)
	flag("rate", "Maximum requests per second over all clients; 0 is unlimited.").Default("0").Float64Var(&c.Rate)
	cli.IntVar(flag("key-size", "Key length below the run's directory (a zero-padded key index); key and value together must fit etcd's default --max-request-bytes, 1.5 MiB.").Default(strconv.Itoa(d.KeySize)), &c.KeySize)
	cli.IntVar(flag("val-size", "Value length in bytes; key and value together must fit etcd's default --max-request-bytes, 1.5 MiB.").Default(strconv.Itoa(d.ValSize)), &c.ValSize)
	cli.IntVar(flag("key-space-size", "Distinct keys written (read and mixed write them all before the timed run).").Default(strconv.Itoa(d.KeySpaceSize)), &c.KeySpaceSize)
	flag("sequential-keys", "Go through the key space in order instead of at random.").BoolVar(&c.SequentialKeys)
	flag("consistency", "Reads: l (linearizable) or s (serializable).").Default(d.Consistency).StringVar(&c.Consistency)
	flag("key-prefix", "Where the run writes (below a fresh directory); must hold no keys unless --allow-existing-keys.").Default(d.KeyPrefix).StringVar(&c.KeyPrefix)
	flag("allow-existing-keys", "Run even though --key-prefix holds keys (they are left alone).").BoolVar(&c.AllowExistingKeys)
	flag("max-quota-usage", "Refuse to start, or stop, when a member's database reaches this share of its quota (0.8 or 80%).").Default("80%").StringVar(&f.maxQuota)
	clusterconfig.AddQuotaFlag(cmd, &c.QuotaBackendBytes)
	flag("output", "Report format: text (like etcd's benchmark) or json.").Default("text").StringVar(&f.output)
	flag("check", "Judge the run against the original etcd-monitor guide's expectations (p99 latency, error rate) and exit 1 when it fails them.").BoolVar(&f.check)
	flag("check.max-p99-latency", "p99 latency --check accepts, per request kind.").Default("100ms").DurationVar(&f.checkP99)
	flag("check.max-error-rate", "Share of failed requests --check accepts.").Default("0.05").Float64Var(&f.checkErrRate)
	cmd.Flag("pushgateway.url", "Push the results to this Pushgateway (e.g. http://pushgateway:9091).").StringVar(&f.pushURL)
	cmd.Flag("pushgateway.job", "job label of the pushed results.").Default(DefaultPushJob).StringVar(&f.pushJob)
	clusterconfig.AddNameFlag(cmd, &f.clusterName)
	return f
}

// memoryLimit is the Go heap limit of the benchmark command; the
// requests in flight (MaxInFlightBytes) and gRPC's copies of them fit
// under it.
const memoryLimit = 320 << 20

// stdoutIsTerminal: a progress bar is drawn only for a person watching;
// redirected output gets the report alone.
func stdoutIsTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// config turns the parsed flags into a validated Config; errors are
// UsageErrors naming the flag.
func (f *flags) config() (Config, error) {
	c := f.cfg
	if f.guideTypeSet {
		if f.workloadIsSet && f.guideType != c.Workload {
			return c, cli.Usagef("--benchmark-type: %q contradicts --workload=%s", f.guideType, c.Workload)
		}
		c.Workload = f.guideType
	}
	if f.guideOpsSet {
		if f.totalIsSet && f.guideOps != c.Total {
			return c, cli.Usagef("--benchmark-ops: %d contradicts --total=%d", f.guideOps, c.Total)
		}
		c.Total = f.guideOps
	}
	q, err := parseShare(f.maxQuota)
	if err != nil {
		return c, cli.Usagef("--max-quota-usage: %v", err)
	}
	c.MaxQuotaUsage = q
	if err := c.Validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			if ce.Field == "total" && c.Total > 0 && c.Duration > 0 {
				return c, cli.Usagef("%s and --duration: %s", f.flagName("total"), ce.Msg)
			}
			return c, cli.Usagef("%s: %s", f.flagName(ce.Field), ce.Msg)
		}
		return c, cli.Usagef("%v", err)
	}
	return c, nil
}

// flagName is the flag that sets a Config field as the user typed it: the
// original etcd-monitor guide's --benchmark-type or --benchmark-ops when
// that was given, as serve's clusterconfig.Flags.FlagName names
// --metrics-interval (and etcdconn names --endpoints for both).
func (f *flags) flagName(field string) string {
	switch {
	case field == "workload" && f.guideTypeSet:
		return "--benchmark-type"
	case field == "total" && f.guideOpsSet:
		return "--benchmark-ops"
	}
	return flagFor[field]
}

// parseShare reads "0.8" or "80%".
func parseShare(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(t, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("want a share such as 0.8 or 80%%, got %q", s)
	}
	if pct {
		v /= 100
	}
	return v, nil
}

func (f *flags) run(ctx context.Context, logger *slog.Logger) error {
	conn, err := f.conn.Config()
	if err != nil {
		return err
	}
	cfg, err := f.config()
	if err != nil {
		return err
	}
	if f.output != "text" && f.output != "json" {
		return cli.Usagef("--output: want text or json, got %q", f.output)
	}
	if f.checkP99 <= 0 {
		return cli.Usagef("--check.max-p99-latency: must be positive, got %s", f.checkP99)
	}
	if f.checkErrRate < 0 || f.checkErrRate > 1 {
		return cli.Usagef("--check.max-error-rate: want a share between 0 and 1, got %v", f.checkErrRate)
	}
	if f.pushURL != "" {
		if _, err := pushgateway.ParseURL(f.pushURL); err != nil {
			return cli.Usagef("--pushgateway.url: %v", err)
		}
		if f.pushJob == "" {
			return cli.Usagef("--pushgateway.job: must not be empty")
		}
	}
	if f.clusterName == "" {
		return cli.Usagef("--cluster.name: must not be empty")
	}

	if os.Getenv("GOGC") == "" {
		// The load generator's live heap is small and flat, so with the
		// default GOGC of 100 the collector runs every few megabytes of
		// gRPC garbage: a fifth of the client's CPU at 100 clients, enough
		// to make us the bottleneck on a small machine. 400 costs a few
		// tens of MB of RSS. (Run itself leaves the GC alone: in the REST
		// server the process is not ours to tune.)
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// With large requests the garbage is large too, and GOGC=400 lets
		// it reach several times the live heap (the largest runs the
		// flags allow went to 700 MB): the limit makes the collector run
		// sooner once the heap nears it, which holds the command under its
		// budget (docs/benchmark.md, "Memory") at the price of CPU only
		// then.
		debug.SetMemoryLimit(memoryLimit)
	}
	var progress io.Writer
	if f.stdoutIsTerm() {
		progress = f.stdout
	}
	logger.Info("starting benchmark", "workload", cfg.Workload, "endpoints", strings.Join(conn.Endpoints, ","),
		"conns", cfg.Conns, "clients", cfg.Clients, "total", cfg.Total, "duration", cfg.Duration, "key_prefix", cfg.KeyPrefix)
	rep, err := Run(ctx, conn, cfg, progress)
	if err != nil {
		switch {
		case errors.Is(err, ErrUnreachable):
			return &cli.ExitError{Code: cli.ExitUnreachable, Err: err}
		case errors.Is(err, ErrRefused):
			return &cli.ExitError{Code: cli.ExitFailure, Err: err}
		}
		return err
	}
	if f.check {
		rep.Judge(CheckLimits{MaxP99: f.checkP99, MaxErrorRate: f.checkErrRate})
	}
	if err := f.print(rep); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}

	// The report is out; now what went wrong decides the exit code.
	var errs []error
	if f.pushURL != "" {
		if err := Push(ctx, PushOptions{URL: f.pushURL, Job: f.pushJob, Cluster: f.clusterName}, rep); err != nil {
			errs = append(errs, err)
		} else {
			logger.Info("pushed results", "pushgateway", f.pushURL, "job", f.pushJob, "etcd_cluster", f.clusterName, "workload", rep.Workload)
		}
	}
	if rep.Cleanup.Error != "" {
		errs = append(errs, fmt.Errorf("cleanup: %s", rep.Cleanup.Error))
	}
	switch rep.Stop.Reason {
	case StopCompleted:
	case StopInterrupted:
		errs = append(errs, errors.New("interrupted"))
	default:
		errs = append(errs, fmt.Errorf("stopped early: %s", rep.Stop.Detail))
	}
	if rep.Check != nil && !rep.Check.Passed {
		var failed []string
		for _, it := range rep.Check.Items {
			if !it.Passed {
				failed = append(failed, it.Detail)
			}
		}
		errs = append(errs, fmt.Errorf("check failed: %s", strings.Join(failed, "; ")))
	}
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return &cli.ExitError{Code: cli.ExitFailure, Err: errors.New(strings.Join(msgs, "; "))}
}

func (f *flags) print(rep *Report) error {
	if f.output == "json" {
		enc := json.NewEncoder(f.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(f.stdout)
}

// guideDropped are the original etcd-monitor guide's monitoring flags, meaningless for a benchmark
// run; the guide ignored them in benchmark mode.
var guideDropped = map[string]bool{
	"--api-port":              true,
	"--health-check-interval": true,
	"--metrics-interval":      true,
}

// GuideArgs rewrites the original etcd-monitor guide's benchmark mode,
//
//	etcd-monitor --run-benchmark --benchmark-type=mixed --benchmark-ops=10000 --endpoints=...
//
// into `benchmark --benchmark-type=mixed --benchmark-ops=10000
// --endpoints=...`: the guide's names are hidden aliases of --workload,
// --total and --etcd.endpoints there, so an error names the flag as typed.
// Other arguments are kept in order; the guide's monitoring flags are
// dropped. It reports false, and returns args unchanged, when args are not
// the original etcd-monitor guide's form.
func GuideArgs(args []string) ([]string, bool) {
	guideForm := false
	for _, a := range args {
		if a == "--run-benchmark" || a == "--run-benchmark=true" {
			guideForm = true
		}
	}
	if !guideForm {
		return args, false
	}
	out := []string{"benchmark"}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--run-benchmark" || a == "--run-benchmark=true" {
			continue
		}
		name, _, hasVal := strings.Cut(a, "=")
		if guideDropped[name] {
			// "--flag value": the value is the next argument unless that
			// is a flag itself.
			if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
			continue
		}
		out = append(out, a)
	}
	return out, true
}
