// Package rules renders the Prometheus recording and alerting rules of
// etcd-monitor from a small YAML config, and holds the rendered files and
// their promtool tests.
//
// The `etcd-monitor rules` subcommand:
//
//	etcd-monitor rules [--config=FILE] [--profile=default|fast]
//	                   [--format=rules|prometheusrule] [--output=FILE]
//	etcd-monitor rules [--config=FILE] --output-dir=DIR
//	etcd-monitor rules --print-config
//
// The first form writes one rendering to stdout (or --output). The second
// writes the committed set into DIR: etcd-monitor.rules.yml (default
// profile), etcd-monitor-fast.rules.yml (fast profile) and
// prometheusrule.yaml (default profile as a Kubernetes PrometheusRule). The
// third prints the default config. Without --config the defaults are used.
// A bad config or flag exits 2 with a one-line message.
package rules

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
)

// Register adds the `rules` subcommand to app.
func Register(app *kingpin.Application) cli.Command {
	cmd := app.Command("rules", "Render the Prometheus recording and alerting rules from a generator config.")
	var o options
	// NoEnvar: main enables kingpin's default environment variables, whose
	// names do not include the command, so ETCD_MONITOR_CONFIG meant for
	// another subcommand would otherwise become the rules config.
	cmd.Flag("config", "Generator config (YAML); fields left out keep their defaults. See rules/README.md.").NoEnvar().PlaceHolder("FILE").StringVar(&o.config)
	cmd.Flag("profile", "default, or fast: short windows, for and keep_firing_for durations, for end-to-end tests.").NoEnvar().Default(string(ProfileDefault)).IsSetByUser(&o.profileSet).StringVar(&o.profile)
	cmd.Flag("format", "rules (a Prometheus rule file) or prometheusrule (a Kubernetes PrometheusRule object).").NoEnvar().Default("rules").IsSetByUser(&o.formatSet).StringVar(&o.format)
	cmd.Flag("output", "File to write; - is stdout.").NoEnvar().Default("-").PlaceHolder("FILE").IsSetByUser(&o.outputSet).StringVar(&o.output)
	cmd.Flag("output-dir", "Write the whole set (both profiles and the PrometheusRule) into this directory instead.").NoEnvar().PlaceHolder("DIR").StringVar(&o.outputDir)
	cmd.Flag("print-config", "Print the default generator config and exit.").NoEnvar().BoolVar(&o.printConfig)
	return cli.Command{
		Clause: cmd,
		Run: func(_ context.Context, logger *slog.Logger) error {
			return o.run(os.Stdout, logger)
		},
	}
}

type options struct {
	config, profile, format, output, outputDir string
	printConfig                                bool
	profileSet, formatSet, outputSet           bool
}

func (o options) run(stdout io.Writer, logger *slog.Logger) error {
	if o.printConfig {
		_, err := io.WriteString(stdout, DefaultConfigYAML)
		return err
	}
	cfg := DefaultConfig()
	if o.config != "" {
		var err error
		if cfg, err = LoadConfig(o.config); err != nil {
			return cli.Usagef("%v", err)
		}
	} else if err := cfg.Validate(); err != nil {
		return fmt.Errorf("default rules config: %w", err)
	}
	if o.outputDir != "" {
		if o.profileSet || o.formatSet || o.outputSet {
			return cli.Usagef("--output-dir writes every profile and format: leave out --profile, --format and --output")
		}
		if err := WriteFiles(o.outputDir, cfg); err != nil {
			return err
		}
		if logger != nil {
			logger.Info("rules written", "dir", o.outputDir, "files", []string{FileDefault, FileFast, FilePrometheusRule})
		}
		return nil
	}
	profile, err := ParseProfile(o.profile)
	if err != nil {
		return cli.Usagef("--profile: %v", err)
	}
	var b []byte
	switch o.format {
	case "rules":
		b, err = Render(cfg, profile)
	case "prometheusrule":
		b, err = RenderPrometheusRule(cfg, profile)
	default:
		return cli.Usagef("--format: unknown format %q (want rules or prometheusrule)", o.format)
	}
	if err != nil {
		return err
	}
	if o.output == "-" {
		_, err = stdout.Write(b)
		return err
	}
	return writeFile(filepath.Dir(o.output), filepath.Base(o.output), b)
}

// writeFile replaces dir/name atomically, so Prometheus reloading the rules
// never reads half a file.
func writeFile(dir, name string, b []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return fmt.Errorf("write rules: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write rules %s: %w", name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write rules %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write rules %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write rules: %w", err)
	}
	return nil
}
