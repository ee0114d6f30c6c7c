// Command etcd-monitor watches etcd clusters and exports what it sees to
// Prometheus. main only wires: every subcommand lives in its own package.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"

	"github.com/etcd-monitor/etcd-monitor/benchmark"
	"github.com/etcd-monitor/etcd-monitor/internal/check"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/demo"
	"github.com/etcd-monitor/etcd-monitor/internal/server"
	"github.com/etcd-monitor/etcd-monitor/maintenance"
	"github.com/etcd-monitor/etcd-monitor/rules"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New("etcd-monitor", "Monitoring for etcd clusters: a Prometheus exporter, rules, alerts, dashboards and a load tester.").
		DefaultEnvars().UsageWriter(os.Stdout).ErrorWriter(os.Stderr)
	app.Version(version.Print("etcd-monitor"))
	app.HelpFlag.Short('h').NoEnvar()
	app.VersionFlag.NoEnvar()
	logCfg := &promslog.Config{}
	flag.AddFlags(app, logCfg)

	cmds := []cli.Command{
		server.RegisterServe(app),
		demo.Register(app),
		rules.Register(app),
		maintenance.RegisterDefrag(app),
		maintenance.RegisterSnapshot(app),
		check.Register(app),
		benchmark.Register(app),
	}
	// The original etcd-monitor guide's benchmark mode (--run-benchmark
	// --benchmark-type ...) is the benchmark command.
	args, _ = benchmark.GuideArgs(args)
	selected, err := app.Parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, cli.Line(app, cli.ParsedCommand(app, args), cli.NameParseError(app, args, err)))
		return cli.ExitUsage
	}
	logger := promslog.New(logCfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	for _, c := range cmds {
		if c.Clause.FullCommand() == selected {
			err = c.Run(ctx, logger)
			break
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, cli.Line(app, selected, err))
	}
	return cli.ExitCode(err)
}
