package clusterconfig

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// The flags every command that talks to etcd shares are registered here
// once, as exporter-toolkit's kingpinflag does for the web flags: the same
// name, help, default and check in serve, check, benchmark, defrag and
// snapshot.

// AddNameFlag registers --cluster.name. A name that could not be a cluster
// name is refused while the command line is parsed.
func AddNameFlag(cmd etcdconn.FlagRegisterer, dst *string) {
	*dst = DefaultName
	cmd.Flag("cluster.name", "Name of the cluster: the etcd_cluster label of its metrics, reports and pushed results.").
		Default(DefaultName).SetValue(nameValue{dst})
}

type nameValue struct{ p *string }

// Set names the flag in its error: commands that parse their flags in
// tests, without main's cli.NameParseError, see the same line.
func (v nameValue) Set(s string) error {
	if err := CheckName(s); err != nil {
		return fmt.Errorf("--cluster.name: %w", err)
	}
	*v.p = s
	return nil
}

func (v nameValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

// AddQuotaFlag registers --etcd.quota-backend-bytes, which takes the sizes
// bytesize reads (8GiB, or a number of bytes as before).
func AddQuotaFlag(cmd etcdconn.FlagRegisterer, dst *int64) {
	*dst = collector.DefaultQuotaBackendBytes
	cmd.Flag("etcd.quota-backend-bytes", "Backend quota assumed for members that do not report theirs (etcd before 3.6): 8GiB, or a number of bytes; etcd's default is 2GiB.").
		Default(bytesize.Exact(collector.DefaultQuotaBackendBytes)).SetValue(quotaValue{bytesize.NewFlag(dst)})
}

type quotaValue struct{ *bytesize.Flag }

func (v quotaValue) Set(s string) error {
	if err := v.Flag.Set(s); err != nil {
		return fmt.Errorf("--etcd.quota-backend-bytes: %w", err)
	}
	return nil
}

// Flags are a cluster's settings on the command line: the connection (when
// the command connects to a cluster it is given), --cluster.name,
// --etcd.quota-backend-bytes, --config.file (for commands that watch several
// clusters) and, for serve and demo, the check and probe settings that a
// config file entry can also set.
type Flags struct {
	conn  *etcdconn.Flags
	name  string
	quota int64
	file  string

	// serve's: sharding and reloading.
	reload        bool
	shard         Shard
	watchInterval time.Duration

	monitor             bool
	healthCheckInterval time.Duration
	hashKVInterval      time.Duration
	probe               collector.ProbeConfig
	probeIntervalAlias  time.Duration
	intervalSet         bool
	aliasSet            bool
	probeTimeoutSet     bool
}

// Options say which of the flags a command has.
type Options struct {
	// DefaultEndpoints registers the connection flags (etcdconn) with this
	// --etcd.endpoints default; "" for a command that starts its own
	// cluster (demo).
	DefaultEndpoints string
	// FileHelp registers --config.file with this help.
	FileHelp string
	// HealthCheckInterval registers the check and probe flags with this
	// --health-check-interval default (serve and demo).
	HealthCheckInterval time.Duration
	// Reload registers --shard.count, --shard.index and
	// --config.watch-interval (serve).
	Reload bool
}

// RegisterFlags adds a cluster's flags to cmd.
func RegisterFlags(cmd etcdconn.FlagRegisterer, o Options) *Flags {
	f := &Flags{}
	if o.DefaultEndpoints != "" {
		f.conn = etcdconn.RegisterFlags(cmd, o.DefaultEndpoints)
	}
	AddNameFlag(cmd, &f.name)
	AddQuotaFlag(cmd, &f.quota)
	if o.FileHelp != "" {
		cmd.Flag("config.file", o.FileHelp).StringVar(&f.file)
	}
	if o.Reload {
		f.reload = true
		cmd.Flag("config.watch-interval", "How often the --config.file files are checked for changes, which reloads them; at least 100ms, 0 turns it off (SIGHUP and POST /-/reload still reload).").
			Default("30s").DurationVar(&f.watchInterval)
		cli.IntVar(cmd.Flag("shard.count", "Number of monitor replicas splitting the clusters of --config.file between them (each cluster by a hash of its name).").
			Default("1"), &f.shard.Count)
		cli.IntVar(cmd.Flag("shard.index", "This replica's shard, from 0 to --shard.count-1 (a StatefulSet's ordinal).").
			Default("0"), &f.shard.Index)
	}
	if o.HealthCheckInterval > 0 {
		f.monitor = true
		cmd.Flag("health-check-interval", "How often every member is checked; at least 100ms.").
			Default(o.HealthCheckInterval.String()).DurationVar(&f.healthCheckInterval)
		cmd.Flag("probe.interval", "How often each member gets a round of synthetic requests (put, get, serializable get, delete); at least 100ms, 0 turns probes off.").
			Default(collector.DefaultProbeInterval.String()).IsSetByUser(&f.intervalSet).DurationVar(&f.probe.Interval)
		// The original etcd-monitor guide's name for it.
		cmd.Flag("metrics-interval", "Alias of --probe.interval.").Hidden().NoEnvar().
			IsSetByUser(&f.aliasSet).DurationVar(&f.probeIntervalAlias)
		cmd.Flag("probe.timeout", "Deadline of each probe request (default: --etcd.request-timeout, at most --probe.interval); slower is a timeout.").
			IsSetByUser(&f.probeTimeoutSet).DurationVar(&f.probe.Timeout)
		cmd.Flag("probe.write", "Run the put and delete probes; --no-probe.write for read-only credentials.").
			Default("true").BoolVar(&f.probe.Write)
		cmd.Flag("probe.key-prefix", "Key prefix of the probe keys (one key per monitor host and member, on a short lease).").
			Default(collector.DefaultProbeKeyPrefix).StringVar(&f.probe.KeyPrefix)
		cmd.Flag("hashkv.interval", "How often the members' KV hashes are compared; at least 1s, 0 (the default) turns it off, as hashing a large keyspace costs the members CPU.").
			Default("0s").DurationVar(&f.hashKVInterval)
	}
	return f
}

// flagNames maps the config keys of the settings registered here to their
// flags.
var flagNames = map[string]string{
	"name":                  "--cluster.name",
	"quota_backend_bytes":   "--etcd.quota-backend-bytes",
	"health_check_interval": "--health-check-interval",
	"hashkv_interval":       "--hashkv.interval",
	"probe.interval":        "--probe.interval",
	"probe.timeout":         "--probe.timeout",
	"probe.write":           "--probe.write",
	"probe.key_prefix":      "--probe.key-prefix",
}

// FlagName is the flag that sets a config key, as the user typed it: the
// original etcd-monitor guide's --metrics-interval when that was given.
func (f *Flags) FlagName(field string) string {
	if field == "probe.interval" && f.aliasSet {
		return "--metrics-interval"
	}
	if name, ok := flagNames[field]; ok {
		return name
	}
	if name, ok := f.conn.FlagName(field); ok {
		return name
	}
	return field
}

// usage turns an error from Check or Load into a usage error naming the
// flag.
func (f *Flags) usage(err error) error {
	var fe *etcdconn.FieldError
	if errors.As(err, &fe) {
		return cli.Usagef("%s: %v", f.FlagName(fe.Field), fe.Err)
	}
	return cli.Usagef("%v", err)
}

// settings are the flag values, as a cluster config file entry inherits
// them; the connection is the flags' (endpoints and all), unchecked.
func (f *Flags) settings() (Defaults, etcdconn.Config) {
	var conn etcdconn.Config
	if f.conn != nil {
		conn = f.conn.Raw()
	}
	d := Defaults{
		QuotaBackendBytes: f.quota, DialTimeout: conn.DialTimeout, RequestTimeout: conn.RequestTimeout,
		HealthCheckInterval: DefaultHealthCheckInterval, Probe: collector.ProbeConfig{KeyPrefix: collector.DefaultProbeKeyPrefix},
	}
	if f.monitor {
		d.HealthCheckInterval, d.HashKVInterval, d.Probe = f.healthCheckInterval, f.hashKVInterval, f.probe
		if f.aliasSet {
			d.Probe.Interval = f.probeIntervalAlias
		}
	}
	return d, conn
}

// Defaults returns the flag values that config file entries inherit,
// checked as flags: a bad value is refused naming its flag, before the
// file is read.
func (f *Flags) Defaults() (Defaults, error) {
	d, conn := f.settings()
	if f.aliasSet && f.intervalSet && f.probeIntervalAlias != f.probe.Interval {
		return d, cli.Usagef("--metrics-interval: %s contradicts --probe.interval=%s (the same setting; give one)", f.probeIntervalAlias, f.probe.Interval)
	}
	if f.probeTimeoutSet && d.Probe.Timeout == 0 {
		// Left out, it means "the default"; written out, 0s is a mistake.
		return d, f.usage(fieldErr("probe.timeout", "must be positive, got 0s"))
	}
	// The connection flags other than the timeouts do not apply to file
	// entries; a placeholder endpoint lets Check judge the rest.
	conn = etcdconn.Config{Endpoints: []string{"127.0.0.1:2379"}, DialTimeout: conn.DialTimeout, RequestTimeout: conn.RequestTimeout}
	if f.conn == nil {
		// demo: no connection flags; d.cluster gives conn d's timeouts.
		d.DialTimeout, d.RequestTimeout = etcdconn.DefaultDialTimeout, etcdconn.DefaultRequestTimeout
	}
	c := d.cluster(DefaultName, &conn)
	if err := Check(&c); err != nil {
		return d, f.usage(err)
	}
	return d, nil
}

// Cluster is the one cluster the flags describe, complete and loaded;
// conn, when not nil, replaces the connection flags (demo passes the
// cluster it started). Errors are usage errors naming the flag.
func (f *Flags) Cluster(conn *etcdconn.Config) (collector.ClusterConfig, error) {
	d, err := f.Defaults()
	if err != nil {
		return collector.ClusterConfig{}, err
	}
	if conn == nil {
		if f.conn == nil {
			return collector.ClusterConfig{}, errors.New("clusterconfig: no connection flags registered and no connection given")
		}
		raw := f.conn.Raw()
		conn = &raw
	} else {
		d.DialTimeout, d.RequestTimeout = conn.DialTimeout, conn.RequestTimeout
	}
	c := d.cluster(f.name, conn)
	if err := Complete(&c); err != nil {
		return c, f.usage(err)
	}
	if err := c.Conn.Load(); err != nil {
		return c, f.usage(err)
	}
	return c, nil
}

// Clusters decides, once for every command that has --config.file, where
// the clusters come from: the file when it is given (the flags then only
// give what entries leave out), else the flags. fromFile says which.
//
// They are every cluster of the config, all shards: Shard says which this
// replica watches. File, Shard and WatchInterval are valid once Clusters
// returned no error.
func (f *Flags) Clusters() (clusters []collector.ClusterConfig, fromFile bool, err error) {
	if f.reload {
		if err := f.shard.Check(); err != nil {
			return nil, false, cli.Usagef("%v", err)
		}
		if f.watchInterval < 0 {
			return nil, false, cli.Usagef("--config.watch-interval: must not be negative (0s turns it off), got %s", f.watchInterval)
		}
		if f.watchInterval > 0 && f.watchInterval < MinWatchInterval {
			return nil, false, cli.Usagef("--config.watch-interval: %s is too short: at least %s (0s turns it off)", f.watchInterval, MinWatchInterval)
		}
	}
	if strings.TrimSpace(f.file) == "" {
		c, err := f.Cluster(nil)
		if err != nil {
			return nil, false, err
		}
		return []collector.ClusterConfig{c}, false, nil
	}
	d, err := f.Defaults()
	if err != nil {
		return nil, true, err
	}
	clusters, err = LoadPath(f.file, d)
	return clusters, true, err
}

// File is --config.file: a file, a directory or a glob (Files); "" when
// the clusters come from the flags.
func (f *Flags) File() string { return strings.TrimSpace(f.file) }

// Shard is this replica's --shard.index and --shard.count; one replica
// when the flags are not registered.
func (f *Flags) Shard() Shard {
	if !f.reload {
		return Shard{Count: 1}
	}
	return f.shard
}

// WatchInterval is --config.watch-interval; 0 is off.
func (f *Flags) WatchInterval() time.Duration { return f.watchInterval }

// Describe is one line per cluster for --config.check.
func Describe(c collector.ClusterConfig) string {
	probes := "probes off"
	if c.Probe.Interval > 0 {
		probes = fmt.Sprintf("probes every %s", c.Probe.Interval)
	}
	eps := fmt.Sprintf("%d endpoints", len(c.Conn.Endpoints))
	if len(c.Conn.Endpoints) == 1 {
		eps = "1 endpoint"
	}
	return fmt.Sprintf("cluster %q: %s, checked every %s, %s", c.Name, eps, c.HealthCheckInterval, probes)
}
