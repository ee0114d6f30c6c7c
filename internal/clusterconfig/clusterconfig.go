// Package clusterconfig loads the multi-cluster config file (--config.file):
// one entry per watched etcd cluster, each with its own endpoints, TLS, auth,
// intervals and probe settings. A field an entry leaves out takes the value
// of the matching command-line flag (Defaults), so flags set fleet-wide
// values and the file says only what differs. With a single cluster, flags
// alone suffice and this package is not used.
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
//	    health_check_interval: 10s   # --health-check-interval
//	    quota_backend_bytes: 8589934592   # --etcd.quota-backend-bytes
//	    hashkv_interval: 0s          # --hashkv.interval; 0s turns the check off
//	    probe:
//	      interval: 5s               # --probe.interval; 0s turns probes off
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
)

// DefaultHealthCheckInterval stands in for a zero Defaults.HealthCheckInterval;
// it is serve's flag default.
const DefaultHealthCheckInterval = 10 * time.Second

// maxFileSize keeps a mistaken --config.file=/dev/zero (or a log file) from
// being read into memory; real configs are a few kilobytes.
const maxFileSize = 4 << 20

// nameRE keeps names usable as label values, file names and URL path
// segments (the REST API addresses clusters by name) without escaping.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

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

// Load reads and validates the config file at path; see Parse.
func Load(path string, defaults Defaults) ([]collector.ClusterConfig, error) {
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
		return nil, cli.Usagef("%s", oneLine(fmt.Sprintf("%s: larger than %d MiB, not a cluster config file", path, maxFileSize>>20)))
	}
	return Parse(path, data, defaults)
}

func readError(path string, err error) error {
	// The path leads the message already; PathError would repeat it.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return cli.Usagef("%s", oneLine(fmt.Sprintf("%s: cannot read the config file: %v", path, err)))
}

// Parse validates a config file's contents and returns one ClusterConfig per
// entry, in file order, each with every field resolved (inherited ones from
// defaults) and its connection settings loaded (etcdconn.Config.Load: the
// endpoints normalised, the password and TLS files read). name is the file's
// path: errors start with it, and relative file paths in the config are
// resolved against its directory.
//
// The first problem found is returned as a cli usage error, one line:
// FILE:LINE: FIELD: problem. Structure and values of every entry are checked
// before any file is read, so a typo is reported ahead of a missing
// certificate.
func Parse(name string, data []byte, defaults Defaults) ([]collector.ClusterConfig, error) {
	p := newParser(name, data, defaults)
	entries, err := p.parse(data)
	if err != nil {
		return nil, err
	}
	out := make([]collector.ClusterConfig, 0, len(entries))
	for _, e := range entries {
		if err := e.cfg.Conn.Load(); err != nil {
			return nil, p.loadError(e, err)
		}
		out = append(out, e.cfg)
	}
	return out, nil
}

// loadError places an error from etcdconn.Config.Load at the line of the
// field it names, or of the entry when the field is absent (e.g. username,
// required once password_file is set).
func (p *parser) loadError(e *entry, err error) error {
	var fe *etcdconn.FieldError
	if !errors.As(err, &fe) {
		return p.errf(e.fields.line, e.fields.path, "%v", err)
	}
	line := e.fields.line
	if k, ok := e.fields.keys[fe.Field]; ok {
		line = k.Line
	}
	return p.errf(line, e.fields.sub(fe.Field), "%v", fe.Err)
}
