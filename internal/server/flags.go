package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/api"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// DefaultListenAddress uses 9379, the port registered for an etcd exporter.
const DefaultListenAddress = ":9379"

// Flags are the monitor's flags other than the etcd connection: shared by
// `serve` and `demo`.
type Flags struct {
	web           *web.FlagConfig
	apiPort       *int
	telemetryPath *string
	interval      *time.Duration
	quota         *int64
	clusterName   *string

	probeInterval      *time.Duration
	probeIntervalAlias *time.Duration
	probeTimeout       *time.Duration
	probeWrite         *bool
	probePrefix        *string
	hashKVInterval     *time.Duration
	benchmarkAPI       *bool
	alerts             *alertFlags
}

// RegisterFlags adds the monitor flags to cmd.
func RegisterFlags(cmd *kingpin.CmdClause, defaultInterval time.Duration) *Flags {
	f := &Flags{}
	f.web = kingpinflag.AddFlags(cmd, DefaultListenAddress)
	f.apiPort = cmd.Flag("api-port", "The seed's flag: sets the port of --web.listen-address.").Hidden().NoEnvar().Int()
	f.telemetryPath = cmd.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
	f.interval = cmd.Flag("health-check-interval", "How often every member is checked.").Default(defaultInterval.String()).Duration()
	f.quota = cmd.Flag("etcd.quota-backend-bytes", "Backend quota assumed for members that do not report theirs (etcd before 3.6); etcd's default is 2 GiB.").
		Default(strconv.Itoa(collector.DefaultQuotaBackendBytes)).Int64()
	f.clusterName = cmd.Flag("cluster.name", "Name of the cluster: the etcd_cluster label.").Default("default").String()
	f.probeInterval = cmd.Flag("probe.interval", "How often each member gets a round of synthetic requests (put, get, serializable get, delete); 0 turns probes off.").
		Default(collector.DefaultProbeInterval.String()).Duration()
	f.probeIntervalAlias = cmd.Flag("metrics-interval", "The seed's flag: alias of --probe.interval.").Hidden().NoEnvar().Duration()
	f.probeTimeout = cmd.Flag("probe.timeout", "Deadline of each probe request (default: --etcd.request-timeout, at most --probe.interval); slower is a timeout.").Duration()
	f.probeWrite = cmd.Flag("probe.write", "Run the put and delete probes; --no-probe.write for read-only credentials.").Default("true").Bool()
	f.probePrefix = cmd.Flag("probe.key-prefix", "Key prefix of the probe keys (one key per monitor host and member, on a short lease).").
		Default(collector.DefaultProbeKeyPrefix).String()
	f.benchmarkAPI = cmd.Flag("web.enable-benchmark-api", "Serve POST /api/v1/performance/benchmark, which writes load into the watched cluster (bounded: 100k requests, 1 minute, 200 clients, one run at a time).").Bool()
	f.hashKVInterval = cmd.Flag("hashkv.interval", "How often the members' KV hashes are compared; 0 (the default) turns it off, as hashing a large keyspace costs the members CPU.").
		Default("0s").Duration()
	f.alerts = registerAlertFlags(cmd)
	return f
}

// WebConfig returns the listener configuration, with the seed's --api-port
// applied.
func (f *Flags) WebConfig() (*web.FlagConfig, error) {
	if *f.apiPort != 0 {
		if *f.apiPort < 0 || *f.apiPort > 65535 {
			return nil, cli.Usagef("--api-port: %d is not a port", *f.apiPort)
		}
		addrs := []string{net.JoinHostPort("", strconv.Itoa(*f.apiPort))}
		f.web.WebListenAddresses = &addrs
	}
	return f.web, nil
}

// settings are the validated flag values every cluster starts from.
type settings struct {
	telemetryPath string
	interval      time.Duration
	quota         int64
	probe         collector.ProbeConfig
	hashKV        time.Duration
	benchmark     api.BenchmarkFunc
}

func (f *Flags) settings() (settings, error) {
	if err := etcdconn.PositiveDuration("--health-check-interval", *f.interval); err != nil {
		return settings{}, err
	}
	if *f.quota <= 0 {
		return settings{}, cli.Usagef("--etcd.quota-backend-bytes: must be positive, got %d", *f.quota)
	}
	if p := *f.telemetryPath; p == "" || p[0] != '/' {
		return settings{}, cli.Usagef("--web.telemetry-path: must start with /, got %q", p)
	}
	probe, err := f.probeConfig()
	if err != nil {
		return settings{}, err
	}
	if *f.hashKVInterval < 0 {
		return settings{}, cli.Usagef("--hashkv.interval: must not be negative, got %s", *f.hashKVInterval)
	}
	st := settings{telemetryPath: *f.telemetryPath, interval: *f.interval, quota: *f.quota, probe: probe, hashKV: *f.hashKVInterval}
	if *f.benchmarkAPI {
		st.benchmark = runBenchmark
	}
	return st, nil
}

// Options validates the flags and returns the monitor options for one
// cluster reached through conn.
func (f *Flags) Options(conn *etcdconn.Config) (Options, error) {
	st, err := f.settings()
	if err != nil {
		return Options{}, err
	}
	if *f.clusterName == "" {
		return Options{}, cli.Usagef("--cluster.name: must not be empty")
	}
	return Options{
		TelemetryPath: st.telemetryPath,
		Benchmark:     st.benchmark,
		Alerts:        f.alerts.options(),
		Clusters: []collector.ClusterConfig{{
			Name:                *f.clusterName,
			Conn:                conn,
			HealthCheckInterval: st.interval,
			QuotaBackendBytes:   st.quota,
			Probe:               st.probe,
			HashKVInterval:      st.hashKV,
		}},
	}, nil
}

// FileOptions loads the clusters of a config file; the flags give every
// setting a cluster entry leaves out.
func (f *Flags) FileOptions(path string, dial, request time.Duration) (Options, error) {
	st, err := f.settings()
	if err != nil {
		return Options{}, err
	}
	clusters, err := clusterconfig.Load(path, clusterconfig.Defaults{
		HealthCheckInterval: st.interval, QuotaBackendBytes: st.quota, HashKVInterval: st.hashKV,
		DialTimeout: dial, RequestTimeout: request, Probe: st.probe,
	})
	if err != nil {
		return Options{}, err
	}
	return Options{TelemetryPath: st.telemetryPath, Clusters: clusters, Benchmark: st.benchmark, Alerts: f.alerts.options()}, nil
}

func (f *Flags) probeConfig() (collector.ProbeConfig, error) {
	interval := *f.probeInterval
	if *f.probeIntervalAlias != 0 {
		interval = *f.probeIntervalAlias
	}
	if interval < 0 {
		return collector.ProbeConfig{}, cli.Usagef("--probe.interval: must not be negative, got %s", interval)
	}
	if *f.probeTimeout < 0 || (interval > 0 && *f.probeTimeout > interval) {
		return collector.ProbeConfig{}, cli.Usagef("--probe.timeout: must be positive and at most --probe.interval (%s), got %s", interval, *f.probeTimeout)
	}
	if p := *f.probePrefix; p == "" || p == "/" {
		return collector.ProbeConfig{}, cli.Usagef("--probe.key-prefix: must name a dedicated prefix, got %q", p)
	}
	return collector.ProbeConfig{Interval: interval, Timeout: *f.probeTimeout, Write: *f.probeWrite, KeyPrefix: *f.probePrefix}, nil
}

// Run starts a monitor with opts and serves it until ctx is done.
func Run(ctx context.Context, logger *slog.Logger, opts Options, webCfg *web.FlagConfig) error {
	m := New(opts, logger)
	m.Start()
	defer m.Close()
	for _, c := range opts.Clusters {
		logger.Info("watching etcd cluster", "etcd_cluster", c.Name, "endpoints", c.Conn.Endpoints, "interval", c.HealthCheckInterval)
	}
	return m.Serve(ctx, webCfg)
}

// RegisterServe registers `serve`, the default command.
func RegisterServe(app *kingpin.Application) cli.Command {
	cmd := app.Command("serve", "Watch etcd clusters and serve /metrics (the default command).").Default()
	conn := etcdconn.RegisterFlags(cmd, "127.0.0.1:2379")
	flags := RegisterFlags(cmd, 10*time.Second)
	configFile := cmd.Flag("config.file", "YAML file listing the clusters to watch (docs/clusters.example.yml); the etcd flags then only give defaults.").String()
	configCheck := cmd.Flag("config.check", "Validate the configuration (the config file, or the flags) and exit.").Bool()
	return cli.Command{Clause: cmd, Run: func(ctx context.Context, logger *slog.Logger) error {
		var opts Options
		var err error
		if *configFile != "" {
			dial, request := conn.Timeouts()
			opts, err = flags.FileOptions(*configFile, dial, request)
		} else {
			var c *etcdconn.Config
			if c, err = conn.Config(); err == nil {
				opts, err = flags.Options(c)
			}
		}
		if err != nil {
			return err
		}
		webCfg, err := flags.WebConfig()
		if err != nil {
			return err
		}
		if *configCheck {
			for _, c := range opts.Clusters {
				fmt.Printf("cluster %q: %d endpoints, checked every %s, probes every %s\n", c.Name, len(c.Conn.Endpoints), c.HealthCheckInterval, c.Probe.Interval)
			}
			fmt.Println("configuration OK")
			return nil
		}
		return Run(ctx, logger, opts, webCfg)
	}}
}
