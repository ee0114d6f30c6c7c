package etcdconn

import (
	"errors"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
)

// flagNames maps Config's YAML keys to the flags that set them, so an error
// found by Load names the flag the user typed.
var flagNames = map[string]string{
	"endpoints":            "--etcd.endpoints",
	"dial_timeout":         "--etcd.dial-timeout",
	"request_timeout":      "--etcd.request-timeout",
	"ca_file":              "--etcd.cacert",
	"cert_file":            "--etcd.cert",
	"key_file":             "--etcd.key",
	"insecure_skip_verify": "--etcd.insecure-skip-verify",
	"username":             "--etcd.username",
	"password_file":        "--etcd.password-file",
}

// Flags are the etcd connection flags of one subcommand.
type Flags struct {
	endpoints      *string
	endpointsAlias *string
	cfg            Config
}

// FlagRegisterer is a kingpin application or command.
type FlagRegisterer interface {
	Flag(name, help string) *kingpin.FlagClause
}

// RegisterFlags adds the etcd connection flags to a command. Environment
// variables (ETCD_MONITOR_ETCD_…) come from the application's DefaultEnvars.
func RegisterFlags(app FlagRegisterer, defaultEndpoints string) *Flags {
	f := &Flags{}
	f.endpoints = app.Flag("etcd.endpoints", "Comma-separated etcd client URLs (host:port or http(s)://host:port). Other members are found through the member list.").
		Default(defaultEndpoints).String()
	// The original etcd-monitor guide's spelling, kept so existing command
	// lines work.
	f.endpointsAlias = app.Flag("endpoints", "Alias of --etcd.endpoints.").Hidden().NoEnvar().String()
	app.Flag("etcd.dial-timeout", "Timeout for establishing a connection to a member.").
		Default(DefaultDialTimeout.String()).DurationVar(&f.cfg.DialTimeout)
	app.Flag("etcd.request-timeout", "Deadline of every single etcd request.").
		Default(DefaultRequestTimeout.String()).DurationVar(&f.cfg.RequestTimeout)
	app.Flag("etcd.cacert", "CA bundle that verifies the members' client certificates.").StringVar(&f.cfg.CAFile)
	app.Flag("etcd.cert", "Client certificate for mutual TLS.").StringVar(&f.cfg.CertFile)
	app.Flag("etcd.key", "Private key of --etcd.cert.").StringVar(&f.cfg.KeyFile)
	app.Flag("etcd.insecure-skip-verify", "Do not verify the members' certificates (testing only).").BoolVar(&f.cfg.InsecureSkipVerify)
	app.Flag("etcd.username", "etcd user (auth enabled clusters).").StringVar(&f.cfg.Username)
	app.Flag("etcd.password-file", "File holding the etcd user's password (never given as a flag).").StringVar(&f.cfg.PasswordFile)
	return f
}

// Raw returns the settings as given, endpoints split, nothing checked: for
// callers that check them together with other settings (clusterconfig)
// and then map errors with AsUsage.
func (f *Flags) Raw() Config {
	cfg := f.cfg
	raw := *f.endpoints
	if *f.endpointsAlias != "" {
		raw = *f.endpointsAlias
	}
	cfg.Endpoints = nil
	for _, ep := range strings.Split(raw, ",") {
		if ep = strings.TrimSpace(ep); ep != "" {
			cfg.Endpoints = append(cfg.Endpoints, ep)
		}
	}
	return cfg
}

// Config validates the parsed flags and returns the loaded configuration.
// Errors are UsageErrors naming the flag.
func (f *Flags) Config() (*Config, error) {
	cfg := f.Raw()
	// Check before Load: Load takes a zero timeout as "the default", a
	// flag set to 0s is a mistake.
	if err := cfg.Check(); err != nil {
		return nil, f.AsUsage(err)
	}
	if err := cfg.Load(); err != nil {
		return nil, f.AsUsage(err)
	}
	return &cfg, nil
}

// FlagName is the flag that sets a Config field (a YAML key, or
// "endpoints[i]"): the alias when the user typed the alias.
func (f *Flags) FlagName(field string) (string, bool) {
	if strings.HasPrefix(field, "endpoints") {
		if f != nil && *f.endpointsAlias != "" {
			return "--endpoints", true
		}
		return "--etcd.endpoints", true
	}
	name, ok := flagNames[field]
	return name, ok
}

// AsUsage turns a FieldError from Check or Load into a UsageError naming
// the flag.
func (f *Flags) AsUsage(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		name, ok := f.FlagName(fe.Field)
		if !ok {
			name = fe.Field
		}
		return cli.Usagef("%s: %v", name, fe.Err)
	}
	return cli.Usagef("%v", err)
}
