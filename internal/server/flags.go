package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// DefaultListenAddress uses 9379, the port registered for an etcd exporter.
const DefaultListenAddress = ":9379"

// Flags are the monitor's flags: the HTTP side, and the watched clusters'
// settings (clusterconfig). Shared by `serve` and `demo`.
type Flags struct {
	web           *web.FlagConfig
	apiPort       *int
	telemetryPath *string
	benchmarkAPI  *bool
	clusters      *clusterconfig.Flags
	alerts        *alertFlags
	probeBuckets  *probeBuckets
	maxRounds     *int
}

// RegisterFlags adds the monitor flags to a command that starts the cluster
// it watches (demo): no connection flags, no config file.
func RegisterFlags(cmd *kingpin.CmdClause, defaultInterval time.Duration) *Flags {
	return registerFlags(cmd, clusterconfig.Options{HealthCheckInterval: defaultInterval})
}

func registerFlags(cmd *kingpin.CmdClause, o clusterconfig.Options) *Flags {
	f := &Flags{}
	f.clusters = clusterconfig.RegisterFlags(cmd, o)
	f.web = kingpinflag.AddFlags(cmd, DefaultListenAddress)
	f.apiPort = new(int)
	cli.IntVar(cmd.Flag("api-port", "The original etcd-monitor guide's flag: sets the port of --web.listen-address.").Hidden().NoEnvar(), f.apiPort)
	f.telemetryPath = cmd.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
	f.benchmarkAPI = cmd.Flag("web.enable-benchmark-api", "Serve POST /api/v1/performance/benchmark, which writes load into the watched cluster (bounded: 100k requests, 1 minute, 200 clients, 32 MiB of requests in flight, one run at a time).").Bool()
	f.alerts = registerAlertFlags(cmd)
	f.probeBuckets = registerProbeBucketFlag(cmd)
	f.maxRounds = registerMaxRoundsFlag(cmd)
	return f
}

// WebConfig returns the listener configuration, with --api-port applied,
// after checking everything serve would otherwise only find when it starts
// listening: each listen address, and the web config file (it exists,
// parses, its TLS files load).
func (f *Flags) WebConfig() (*web.FlagConfig, error) {
	if *f.apiPort != 0 {
		if *f.apiPort < 0 || *f.apiPort > 65535 {
			return nil, cli.Usagef("--api-port: %d is not a port", *f.apiPort)
		}
		addrs := []string{net.JoinHostPort("", strconv.Itoa(*f.apiPort))}
		f.web.WebListenAddresses = &addrs
	}
	if f.web.WebSystemdSocket == nil || !*f.web.WebSystemdSocket {
		seen := map[string]bool{}
		for _, a := range *f.web.WebListenAddresses {
			if err := checkListenAddress(a); err != nil {
				return nil, cli.Usagef("--web.listen-address: %v", err)
			}
			// The second listener on an address would fail with "address
			// already in use" after the checkers started; a port 0 is a
			// new port each time.
			if k := listenKey(a); k != "" && seen[k] {
				return nil, cli.Usagef("--web.listen-address: %q given twice (each address is listened on once)", a)
			} else if k != "" {
				seen[k] = true
			}
		}
	}
	if path := *f.web.WebConfigFile; path != "" {
		// web.Validate reads the file, its users' hashes and its TLS
		// material, as the listener will.
		if err := web.Validate(path); err != nil {
			return nil, cli.Usagef("--web.config.file: %s", oneLine(err.Error()))
		}
	}
	return f.web, nil
}

// checkListenAddress refuses what the listener would: an address that is
// not host:port, a port out of range, a host name that does not resolve.
func checkListenAddress(addr string) error {
	if p, ok := strings.CutPrefix(addr, "vsock://"); ok {
		// exporter-toolkit's vsock listener: vsock://[CID]:PORT.
		_, port, err := net.SplitHostPort(p)
		if n, perr := strconv.ParseUint(port, 10, 32); err != nil || perr != nil || n == 0 {
			return fmt.Errorf("%q: want vsock://CID:PORT", addr)
		}
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want host:port, e.g. :9379 or 127.0.0.1:9379", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a port (0 to 65535)", addr, port)
	}
	if host == "" || net.ParseIP(strings.Trim(host, "[]")) != nil {
		return nil
	}
	// A name: the listener resolves it at start; do the same now, with a
	// deadline, so a typo is found by --config.check.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
		return fmt.Errorf("%q: host %q does not resolve", addr, host)
	}
	return nil
}

// listenKey is a checked listen address in one spelling, for finding one
// given twice; "" for a port 0 (any free port, never a conflict).
func listenKey(addr string) string {
	if strings.HasPrefix(addr, "vsock://") {
		return addr
	}
	host, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	if n == 0 {
		return ""
	}
	if ip := net.ParseIP(strings.Trim(host, "[]")); ip != nil {
		host = ip.String()
	}
	return net.JoinHostPort(host, strconv.Itoa(n))
}

// oneLine folds a multi-line message (yaml.v3 lists one problem a line)
// into one.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (f *Flags) telemetry() (string, error) {
	if p := *f.telemetryPath; p == "" || p[0] != '/' {
		return "", cli.Usagef("--web.telemetry-path: must start with /, got %q", p)
	}
	return *f.telemetryPath, nil
}

// Options validates the flags and returns the monitor options for one
// cluster reached through conn (demo's own cluster).
func (f *Flags) Options(conn *etcdconn.Config) (Options, error) {
	path, err := f.telemetry()
	if err != nil {
		return Options{}, err
	}
	c, err := f.clusters.Cluster(conn)
	if err != nil {
		return Options{}, err
	}
	return f.options(path, c), nil
}

// serveOptions returns the options of serve: the clusters of --config.file,
// or the one the flags describe, read again at every reload.
func (f *Flags) serveOptions() (Options, error) {
	path, err := f.telemetry()
	if err != nil {
		return Options{}, err
	}
	file := f.clusters.File()
	fingerprint := func() (string, error) { return clusterconfig.Fingerprint(file) }
	var loaded string
	if file != "" {
		// Before reading: a file changed while it is read differs at the
		// watcher's first poll and is read again.
		loaded = fingerprintState(fingerprint)
	}
	clusters, fromFile, err := f.clusters.Clusters()
	if err != nil {
		return Options{}, err
	}
	o := f.options(path, clusters...)
	o.Shard = f.clusters.Shard()
	// Without a file, a reload reads the flags' files again (a rotated
	// certificate or password restarts the cluster with it).
	o.Config = &ConfigSource{Load: func() ([]collector.ClusterConfig, error) {
		cs, _, err := f.clusters.Clusters()
		return cs, err
	}}
	if fromFile {
		o.Config.Fingerprint = fingerprint
		o.Config.WatchInterval = f.clusters.WatchInterval()
		o.Config.Loaded = loaded
	}
	return o, nil
}

func (f *Flags) options(path string, clusters ...collector.ClusterConfig) Options {
	o := Options{TelemetryPath: path, Clusters: clusters, Alerts: f.alerts.options(), ProbeBuckets: f.probeBuckets.buckets, MaxRoundsInFlight: *f.maxRounds}
	if *f.benchmarkAPI {
		o.Benchmark = true
	}
	return o
}

// Run starts a monitor with opts and serves it until ctx is done; with
// opts.Config it reloads on its signal and when the files change.
func Run(ctx context.Context, logger *slog.Logger, opts Options, webCfg *web.FlagConfig) error {
	m := New(opts, logger)
	m.Start()
	defer m.Close()
	for _, c := range m.Checkers() {
		cfg := c.Config()
		logger.Info("watching etcd cluster", "etcd_cluster", cfg.Name, "endpoints", cfg.Conn.Endpoints, "interval", cfg.HealthCheckInterval)
	}
	if opts.Shard.Count > 1 {
		logger.Info("sharded", "shard_index", opts.Shard.Index, "shard_count", opts.Shard.Count,
			"clusters_watched", len(m.Checkers()), "clusters_configured", len(opts.Clusters))
	}
	if opts.Config != nil {
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); m.watch(wctx) }()
		defer func() { cancel(); <-done }()
	}
	return m.Serve(ctx, webCfg)
}

// RegisterServe registers `serve`, the default command.
func RegisterServe(app *kingpin.Application) cli.Command {
	cmd := app.Command("serve", "Watch etcd clusters and serve /metrics (the default command).").Default()
	flags := registerFlags(cmd, clusterconfig.Options{
		DefaultEndpoints:    "127.0.0.1:2379",
		FileHelp:            "YAML file listing the clusters to watch (docs/clusters.example.yml), or a directory of them (every *.yml and *.yaml), or a glob; the etcd flags then only give defaults.",
		HealthCheckInterval: clusterconfig.DefaultHealthCheckInterval,
		Reload:              true,
	})
	lifecycle := cmd.Flag("web.enable-lifecycle", "Serve POST /-/reload, which reloads --config.file (as SIGHUP does).").Bool()
	configCheck := cmd.Flag("config.check", "Validate the configuration (the clusters from the config file or the flags, files they name, the web side) as serve does at start, and exit: 0 valid, 2 not.").Bool()
	return cli.Command{Clause: cmd, Run: func(ctx context.Context, logger *slog.Logger) error {
		// Everything serve would refuse is refused here, before any
		// checker starts, so --config.check and a start agree.
		opts, err := flags.serveOptions()
		if err != nil {
			return err
		}
		webCfg, err := flags.WebConfig()
		if err != nil {
			return err
		}
		if *configCheck {
			for _, c := range opts.Clusters {
				line := clusterconfig.Describe(c)
				if opts.Shard.Count > 1 {
					line += fmt.Sprintf(", shard %d", clusterconfig.ShardOf(c.Name, opts.Shard.Count))
				}
				fmt.Fprintln(os.Stdout, line)
			}
			fmt.Fprintln(os.Stdout, "configuration OK")
			return nil
		}
		opts.Lifecycle = *lifecycle
		// SIGHUP reloads, as it does Prometheus.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		opts.Config.Signal = hup
		return Run(ctx, logger, opts, webCfg)
	}}
}
