// Package clusterconfig is the one way a watched cluster is configured,
// whether by flags or by the multi-cluster config file (--config.file): both
// produce a collector.ClusterConfig, completed and checked here (Check,
// Complete), so a cluster obeys the same rules with the same messages
// whichever way it is given; only the place an error points to differs
// (--probe.key-prefix: … or FILE:LINE: clusters[0].probe.key_prefix: …).
//
// The config file has one entry per cluster, each with its own endpoints,
// TLS, auth, intervals and probe settings. A field an entry leaves out takes
// the value of the matching command-line flag (Defaults), so flags set
// fleet-wide values and the file says only what differs.
//
// The format (docs/clusters.example.yml is a commented example):
//
//	clusters:
//	  - name: prod-a                 # required, unique, [a-zA-Z0-9_.-]+: the etcd_cluster label
//	    endpoints:                   # required, at least one: host:port or http(s)://host:port
//	      - https://10.0.0.1:2379
//	    ca_file: prod-a/ca.pem       # relative paths are relative to this file's directory
//	    cert_file: prod-a/client.pem
//	    key_file: prod-a/client-key.pem
//	    insecure_skip_verify: false
//	    username: monitor
//	    password_file: /run/secrets/etcd-prod-a   # a password is never written in this file
//	    dial_timeout: 2s             # --etcd.dial-timeout
//	    request_timeout: 5s          # --etcd.request-timeout
//	    health_check_interval: 10s   # --health-check-interval; at least 100ms
//	    quota_backend_bytes: 8GiB    # --etcd.quota-backend-bytes
//	    hashkv_interval: 0s          # --hashkv.interval; 0s turns the check off, else at least 1s
//	    probe:
//	      interval: 5s               # --probe.interval; 0s turns probes off, else at least 100ms
//	      timeout: 2s                # --probe.timeout; at most interval
//	      write: true                # --probe.write
//	      key_prefix: /etcd-monitor/probe/   # --probe.key-prefix
//
// Durations are Go duration strings ("1m30s"). YAML anchors, aliases and
// merge keys ("<<: *shared") work, so settings shared by several clusters can
// be written once; top-level keys starting with "x-" are ignored, to hold
// such anchors (Docker Compose's convention). Every other unknown key is
// refused.
//
// Everything is checked before the monitor starts, files included (the TLS
// material and password files are read), because a typo found at start is
// cheap and one found at 3 a.m. is not. Errors are one line,
// FILE:LINE: FIELD: problem, and are cli usage errors (exit code 2).
package clusterconfig

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/yamlerr"
)

// Built-in defaults beside collector's and etcdconn's: the values of the
// flags a user does not set.
const (
	DefaultName                = "default"
	DefaultHealthCheckInterval = 10 * time.Second
)

// Floors of the intervals, from flags and files alike. A check or probe
// round is a few etcd requests, each with a deadline of at least
// etcdconn.MinTimeout; rounds more often than every 100 ms only keep the
// monitor busy (--probe.interval=1ns capped the probe deadline at 1 ns,
// so every probe failed, and burned a core) and load the members for no
// better view: Prometheus scrapes every few seconds. Hashing the keyspace
// costs every member a full read, so more than once a second is a
// mistake. The fastest profiles (tests, the demo) use 100 ms or more.
const (
	MinHealthCheckInterval = 100 * time.Millisecond
	MinProbeInterval       = 100 * time.Millisecond
	MinHashKVInterval      = time.Second
	// MinWatchInterval is the floor of --config.watch-interval: each
	// poll reads every config file's metadata.
	MinWatchInterval = 100 * time.Millisecond
)

// maxFileSize keeps a mistaken --config.file=/dev/zero (or a log file) from
// being read into memory; real configs are a few kilobytes.
const maxFileSize = 4 << 20

// nameRE keeps names usable as label values, file names and URL path
// segments (the REST API addresses clusters by name) without escaping.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// CheckName is the rule for a cluster's name, from --cluster.name or a file.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("must not be empty")
	case !nameRE.MatchString(name):
		return fmt.Errorf("%q: use only letters, digits, '_', '.' and '-'", name)
	}
	return nil
}

// Defaults are the command-line flag values a cluster entry inherits for the
// fields it leaves out. Endpoints, TLS and auth are never inherited: they
// differ per cluster by nature.
//
// A zero field means the built-in default: DefaultHealthCheckInterval,
// collector.DefaultQuotaBackendBytes, etcdconn.DefaultDialTimeout and
// DefaultRequestTimeout, collector.DefaultProbeKeyPrefix. A zero
// HashKVInterval or Probe.Interval is a value (off), as is Probe.Write false.
// A zero Probe.Timeout means the request timeout, at most the probe interval,
// as the --probe.timeout flag documents.
type Defaults struct {
	HealthCheckInterval time.Duration
	QuotaBackendBytes   int64
	HashKVInterval      time.Duration
	DialTimeout         time.Duration
	RequestTimeout      time.Duration
	Probe               collector.ProbeConfig
}

// withBuiltins is the one place built-in defaults are applied: a config
// produced by this package has every field set, so the defaulting in
// collector.NewChecker (quota, key prefix, probe timeout) never applies to
// it; it only serves configs built in code (tests).
func (d Defaults) withBuiltins() Defaults {
	if d.HealthCheckInterval == 0 {
		d.HealthCheckInterval = DefaultHealthCheckInterval
	}
	if d.QuotaBackendBytes == 0 {
		d.QuotaBackendBytes = collector.DefaultQuotaBackendBytes
	}
	if d.DialTimeout == 0 {
		d.DialTimeout = etcdconn.DefaultDialTimeout
	}
	if d.RequestTimeout == 0 {
		d.RequestTimeout = etcdconn.DefaultRequestTimeout
	}
	if d.Probe.KeyPrefix == "" {
		d.Probe.KeyPrefix = collector.DefaultProbeKeyPrefix
	}
	return d
}

// cluster is a cluster with every inherited field set from d, as it is:
// a zero value from a flag is the user's and Check judges it.
func (d Defaults) cluster(name string, conn *etcdconn.Config) collector.ClusterConfig {
	conn.DialTimeout, conn.RequestTimeout = d.DialTimeout, d.RequestTimeout
	return collector.ClusterConfig{
		Name: name, Conn: conn,
		HealthCheckInterval: d.HealthCheckInterval, QuotaBackendBytes: d.QuotaBackendBytes,
		HashKVInterval: d.HashKVInterval, Probe: d.Probe,
	}
}

// Check is the one validation of a cluster's settings, reading no file.
// Errors are *etcdconn.FieldError naming the setting by its config file key
// ("probe.key_prefix", "endpoints[1]"); the flags and the file turn that into
// the flag's name or the file's line. A zero Probe.Timeout is valid: it
// means the request timeout, at most the probe interval (Complete).
func Check(c *collector.ClusterConfig) error {
	if err := CheckName(c.Name); err != nil {
		return &etcdconn.FieldError{Field: "name", Err: err}
	}
	if c.Conn == nil {
		return &etcdconn.FieldError{Field: "endpoints", Err: errors.New("at least one endpoint is required")}
	}
	if err := c.Conn.Check(); err != nil {
		return err
	}
	if c.HealthCheckInterval <= 0 {
		return fieldErr("health_check_interval", "must be positive, got %s", c.HealthCheckInterval)
	}
	if c.HealthCheckInterval < MinHealthCheckInterval {
		return fieldErr("health_check_interval", "%s is too short: at least %s", c.HealthCheckInterval, MinHealthCheckInterval)
	}
	if c.HashKVInterval < 0 {
		return fieldErr("hashkv_interval", "must not be negative (0s turns it off), got %s", c.HashKVInterval)
	}
	if c.HashKVInterval > 0 && c.HashKVInterval < MinHashKVInterval {
		return fieldErr("hashkv_interval", "%s is too short: at least %s (0s turns it off)", c.HashKVInterval, MinHashKVInterval)
	}
	if c.QuotaBackendBytes <= 0 {
		return fieldErr("quota_backend_bytes", "must be positive, got %d", c.QuotaBackendBytes)
	}
	p := c.Probe
	if p.Interval < 0 {
		return fieldErr("probe.interval", "must not be negative (0s turns it off), got %s", p.Interval)
	}
	if p.Interval > 0 && p.Interval < MinProbeInterval {
		return fieldErr("probe.interval", "%s is too short: at least %s (0s turns it off)", p.Interval, MinProbeInterval)
	}
	if p.Timeout != 0 {
		if err := etcdconn.CheckTimeout(p.Timeout); err != nil {
			return &etcdconn.FieldError{Field: "probe.timeout", Err: err}
		}
		// Rounds do not overlap, so a timeout longer than the interval
		// would let one slow member stretch the probe interval itself.
		if p.Interval > 0 && p.Timeout > p.Interval {
			return fieldErr("probe.timeout", "%s is longer than the probe interval %s", p.Timeout, p.Interval)
		}
	}
	switch p.KeyPrefix {
	case "":
		return fieldErr("probe.key_prefix", "must not be empty (probe keys would be written at the top of the keyspace)")
	case "/":
		return fieldErr("probe.key_prefix", `"/" is the top of the keyspace: name a dedicated prefix such as %s`, collector.DefaultProbeKeyPrefix)
	}
	return nil
}

// Complete checks c (Check) and resolves what is derived from other
// settings, so the result needs no defaulting downstream.
func Complete(c *collector.ClusterConfig) error {
	if err := Check(c); err != nil {
		return err
	}
	if c.Probe.Timeout == 0 {
		// The --probe.timeout default.
		c.Probe.Timeout = c.Conn.RequestTimeout
		if c.Probe.Interval > 0 {
			c.Probe.Timeout = min(c.Probe.Timeout, c.Probe.Interval)
		}
	}
	return nil
}

func fieldErr(field, format string, args ...any) error {
	return &etcdconn.FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// Load reads and validates the config file at path; see Parse. LoadPath
// also takes a directory or a glob.
func Load(path string, defaults Defaults) ([]collector.ClusterConfig, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, defaults)
}

// readFile reads one config file, bounded by maxFileSize.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, readError(path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, readError(path, err)
	}
	if len(data) > maxFileSize {
		return nil, cli.Usagef("%s", yamlerr.OneLine(fmt.Sprintf("%s: larger than %d MiB, not a cluster config file", path, maxFileSize>>20)))
	}
	return data, nil
}

func readError(path string, err error) error {
	// The path leads the message already; PathError would repeat it.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return cli.Usagef("%s", yamlerr.OneLine(fmt.Sprintf("%s: cannot read the config file: %v", path, err)))
}
