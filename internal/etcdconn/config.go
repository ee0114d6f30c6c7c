// Package etcdconn holds how etcd-monitor connects to an etcd cluster:
// endpoints, timeouts, TLS and authentication. Every subcommand that talks to
// etcd (serve, check, benchmark, defrag, snapshot) registers the same flags
// through this package, and the multi-cluster config file uses the same
// struct, so there is one place that validates them.
package etcdconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Defaults match etcdctl's, so operators meet the timeouts they know.
const (
	DefaultDialTimeout    = 2 * time.Second
	DefaultRequestTimeout = 5 * time.Second
)

// Config is one cluster's connection settings. Field names double as YAML
// keys in the multi-cluster config file.
type Config struct {
	Endpoints          []string      `yaml:"endpoints"`
	DialTimeout        time.Duration `yaml:"dial_timeout"`
	RequestTimeout     time.Duration `yaml:"request_timeout"`
	CAFile             string        `yaml:"ca_file"`
	CertFile           string        `yaml:"cert_file"`
	KeyFile            string        `yaml:"key_file"`
	InsecureSkipVerify bool          `yaml:"insecure_skip_verify"`
	Username           string        `yaml:"username"`
	PasswordFile       string        `yaml:"password_file"`

	// Filled by Load; never serialised or logged.
	password string
	tls      *tls.Config
	loaded   bool
}

// FieldError names the setting that is wrong. Field is the YAML key; flag
// users see it mapped to the flag name (see FlagName).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

// MinTimeout is the shortest dial or request timeout accepted: below it no
// etcd request completes even on loopback (a linearizable read is a raft
// round, a put an fsync), so a smaller value can only ever time out and
// would report a healthy cluster as down.
const MinTimeout = 10 * time.Millisecond

// CheckTimeout is the rule for every etcd timeout, whichever way it is
// given: positive and at least MinTimeout.
func CheckTimeout(d time.Duration) error {
	switch {
	case d <= 0:
		return fmt.Errorf("must be positive, got %s", d)
	case d < MinTimeout:
		return fmt.Errorf("%s is too short for any etcd request to complete (at least %s)", d, MinTimeout)
	}
	return nil
}

// Load validates the settings, normalises endpoints to URLs with a scheme,
// reads the password file and the TLS material. Everything that can be wrong
// with user input is found here, before any connection is attempted. A zero
// timeout means the default (for callers that build a Config in code; flags
// and config files refuse an explicit 0s before calling Load).
func (c *Config) Load() error {
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if err := c.Check(); err != nil {
		return err
	}
	eps, err := NormalizeEndpoints(c.Endpoints, c.wantsTLS())
	if err != nil {
		return err
	}
	c.Endpoints = eps
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return fieldErr("password_file", "%w", err)
		}
		c.password = strings.TrimRight(string(b), "\r\n")
		if c.password == "" {
			return fieldErr("password_file", "%s is empty", c.PasswordFile)
		}
	}
	if c.wantsTLS() || strings.HasPrefix(c.Endpoints[0], "https://") {
		tc, err := c.buildTLS()
		if err != nil {
			return err
		}
		c.tls = tc
	}
	c.loaded = true
	return nil
}

// Check validates the settings without reading any file: what a config file
// check can report for every cluster before the first file is opened.
func (c *Config) Check() error {
	if err := CheckTimeout(c.DialTimeout); err != nil {
		return &FieldError{Field: "dial_timeout", Err: err}
	}
	if err := CheckTimeout(c.RequestTimeout); err != nil {
		return &FieldError{Field: "request_timeout", Err: err}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		if c.CertFile == "" {
			return fieldErr("cert_file", "required when key_file is set")
		}
		return fieldErr("key_file", "required when cert_file is set")
	}
	eps, err := NormalizeEndpoints(c.Endpoints, c.wantsTLS())
	if err != nil {
		return err
	}
	if field := c.tlsField(); field != "" && strings.HasPrefix(eps[0], "http://") {
		// The TLS settings would be silently unused: either the scheme or
		// the setting is a mistake, and guessing which is not ours to do.
		return fieldErr(field, "set, but the endpoints are http://: write https:// endpoints, or leave the TLS settings out")
	}
	switch {
	case c.PasswordFile != "" && c.Username == "":
		return fieldErr("username", "required when password_file is set")
	case c.PasswordFile == "" && c.Username != "":
		return fieldErr("password_file", "required when username is set (passwords are read from a file, never a flag)")
	}
	return nil
}

// tlsField names the first TLS setting given, "" if none is.
func (c *Config) tlsField() string {
	switch {
	case c.CAFile != "":
		return "ca_file"
	case c.CertFile != "":
		return "cert_file"
	case c.InsecureSkipVerify:
		return "insecure_skip_verify"
	}
	return ""
}

// wantsTLS reports whether TLS settings are given: endpoints without a
// scheme then mean https.
func (c *Config) wantsTLS() bool {
	return c.tlsField() != ""
}

// NormalizeEndpoints normalises a cluster's endpoints (NormalizeEndpoint)
// with one scheme for all of them, decided without regard to their order:
// the scheme the endpoints that spell one out agree on, else https when TLS
// settings are given, else http. Endpoints that spell out different schemes
// are refused: a cluster serves its clients one way, and one http:// among
// https:// endpoints is a typo that would send requests (and a password) in
// clear text. An error about one endpoint is a FieldError for
// "endpoints[i]", about the list as a whole for "endpoints".
func NormalizeEndpoints(raw []string, useTLS bool) ([]string, error) {
	if len(raw) == 0 {
		return nil, fieldErr("endpoints", "at least one endpoint is required")
	}
	scheme, first := "", -1
	for i, r := range raw {
		s, _, ok := strings.Cut(strings.TrimSpace(r), "://")
		if !ok {
			continue
		}
		s = strings.ToLower(s)
		if s != "http" && s != "https" {
			continue // NormalizeEndpoint names the bad scheme
		}
		if scheme == "" {
			scheme, first = s, i
		} else if s != scheme {
			return nil, fieldErr("endpoints", "%s and %s use different schemes: a cluster serves its clients either over http or over https; write one scheme for all endpoints",
				strings.TrimSpace(raw[first]), strings.TrimSpace(r))
		}
	}
	if scheme == "" {
		scheme = "http"
		if useTLS {
			scheme = "https"
		}
	}
	out := make([]string, 0, len(raw))
	for i, r := range raw {
		ep, err := NormalizeEndpoint(r, scheme == "https")
		if err != nil {
			return nil, &FieldError{Field: fmt.Sprintf("endpoints[%d]", i), Err: err}
		}
		out = append(out, ep)
	}
	return out, nil
}

func (c *Config) buildTLS() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // the user asked for it explicitly
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fieldErr("ca_file", "%w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fieldErr("ca_file", "%s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		if _, err := os.Stat(c.CertFile); err != nil {
			return nil, fieldErr("cert_file", "%w", err)
		}
		if _, err := os.Stat(c.KeyFile); err != nil {
			return nil, fieldErr("key_file", "%w", err)
		}
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fieldErr("cert_file", "loading key pair: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// NormalizeEndpoint turns "host:port" or a URL into a URL with a scheme, as
// the per-member connections and the HTTP /version call need one.
func NormalizeEndpoint(raw string, useTLS bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("empty endpoint")
	}
	if !strings.Contains(raw, "://") {
		scheme := "http"
		if useTLS {
			scheme = "https"
		}
		raw = scheme + "://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("endpoint %q: %w", raw, err)
	}
	if u.User != nil {
		// Never echo it: it may hold a password.
		return "", fmt.Errorf("endpoint with user information: give the user with --etcd.username / username and the password in a file")
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return "", fmt.Errorf("endpoint %q: scheme must be http or https", raw)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return "", fmt.Errorf("endpoint %q: want host:port", raw)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("endpoint %q: port %q is not a port (1 to 65535)", raw, port)
	}
	if u.Path != "" && u.Path != "/" {
		return "", fmt.Errorf("endpoint %q: unexpected path %q", raw, u.Path)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Format prints the settings without the password, so %v and %+v of a
// Config (in a log line or an error) cannot leak it.
func (c Config) Format(f fmt.State, verb rune) {
	pw := ""
	if c.password != "" {
		pw = "<redacted>"
	}
	fmt.Fprintf(f, "{Endpoints:%v DialTimeout:%s RequestTimeout:%s CAFile:%q CertFile:%q KeyFile:%q InsecureSkipVerify:%v Username:%q PasswordFile:%q Password:%s}",
		c.Endpoints, c.DialTimeout, c.RequestTimeout, c.CAFile, c.CertFile, c.KeyFile, c.InsecureSkipVerify, c.Username, c.PasswordFile, pw)
}

// LogValue keeps the password out of structured logs too.
func (c Config) LogValue() slog.Value {
	return slog.StringValue(fmt.Sprint(c))
}

// TLS returns the client TLS configuration, nil for plain connections.
func (c *Config) TLS() *tls.Config { return c.tls }

// HasAuth reports whether a user name and password are configured.
func (c *Config) HasAuth() bool { return c.Username != "" }

// ClientConfig builds a clientv3 configuration for the given endpoints with
// these settings. The client logs nothing itself: its errors come back to the
// caller, which logs them with context.
func (c *Config) ClientConfig(endpoints []string) clientv3.Config {
	if !c.loaded {
		panic("etcdconn: ClientConfig called before Load")
	}
	return clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: c.DialTimeout,
		// Keepalive detects a member that stopped answering on an open
		// connection, so the next call redials instead of waiting on it.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: c.RequestTimeout,
		TLS:                  c.tls,
		Username:             c.Username,
		Password:             c.password,
		Logger:               zap.NewNop(),
		// gRPC's default reconnect backoff grows to 120 s: a member that
		// was down for a minute would then look down for minutes after it
		// came back. Capped at 2 s, a restarted member is seen within a
		// check or two.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: c.DialTimeout,
		})},
	}
}

// New connects a clientv3 client to the given endpoints (all of the
// configured ones when none are given).
func (c *Config) New(endpoints ...string) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		endpoints = c.Endpoints
	}
	cli, err := clientv3.New(c.ClientConfig(endpoints))
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", strings.Join(endpoints, ","), err)
	}
	return cli, nil
}
