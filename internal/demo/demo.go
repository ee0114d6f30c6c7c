// Package demo runs etcd-monitor against a real etcd cluster started
// in-process, so a newcomer sees the whole product with nothing installed.
package demo

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/api"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/server"
)

// Register registers the `demo` command.
func Register(app *kingpin.Application) cli.Command {
	cmd := app.Command("demo", "Start a 3-member etcd cluster in-process and monitor it.")
	var members int
	cli.IntVar(cmd.Flag("demo.members", "Voting members of the demo cluster.").Default("3"), &members)
	dataDir := cmd.Flag("demo.data-dir", "Where the demo members keep their data (default: a temporary directory, removed on exit).").String()
	flags := server.RegisterFlags(cmd, 5*time.Second)
	return cli.Command{Clause: cmd, Run: func(ctx context.Context, logger *slog.Logger) error {
		if members < 1 || members > 9 {
			return cli.Usagef("--demo.members: want 1 to 9, got %d", members)
		}
		webCfg, err := flags.WebConfig()
		if err != nil {
			return err
		}
		logger.Info("starting demo etcd cluster", "members", members)
		cl, err := localetcd.Start(ctx, localetcd.Options{Members: members, Dir: *dataDir, Token: "etcd-monitor-demo"})
		if err != nil {
			return fmt.Errorf("starting demo cluster: %w", err)
		}
		defer cl.Close()
		conn := &etcdconn.Config{Endpoints: cl.Endpoints()}
		if err := conn.Load(); err != nil {
			return err
		}
		opts, err := flags.Options(conn)
		if err != nil {
			return err
		}
		opts.Demo = &control{cluster: cl, logger: logger}
		printURLs(cl, *webCfg.WebListenAddresses, opts.TelemetryPath)
		return server.Run(ctx, logger, opts, webCfg)
	}}
}

func firstBase(listen []string) string {
	for _, a := range listen {
		if host, port, err := net.SplitHostPort(a); err == nil {
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "localhost"
			}
			return "http://" + net.JoinHostPort(host, port)
		}
	}
	return "http://localhost:9379"
}

// control lets a newcomer break the demo cluster from the API and watch the
// metrics, the page and the alerts react.
type control struct {
	cluster *localetcd.Cluster
	logger  *slog.Logger
}

func (c *control) Act(name, action string) error {
	var m *localetcd.Member
	for _, x := range c.cluster.Members() {
		if x.Name == name {
			m = x
		}
	}
	if m == nil {
		return &api.RequestError{Status: http.StatusNotFound, Msg: fmt.Sprintf("no demo member %q", name)}
	}
	c.logger.Warn("demo: acting on a member", "member", name, "action", action)
	switch action {
	case "stop":
		return m.Stop()
	case "start":
		return m.Restart()
	case "partition":
		m.BlackholePeer()
	case "heal":
		m.UnblackholePeer()
		m.UnblackholeClient()
	}
	return nil
}

func printURLs(cl *localetcd.Cluster, listen []string, telemetry string) {
	var b strings.Builder
	fmt.Fprintln(&b, "etcd-monitor demo")
	for _, m := range cl.Members() {
		fmt.Fprintf(&b, "  etcd member %-4s client %s  peer %s\n", m.Name, m.ClientURL, m.PeerURL)
	}
	fmt.Fprintf(&b, "  etcdctl --endpoints=%s endpoint status -w table\n", strings.Join(cl.Endpoints(), ","))
	for _, a := range listen {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		base := "http://" + net.JoinHostPort(host, port)
		fmt.Fprintf(&b, "  metrics      %s%s\n  landing page %s/\n", base, telemetry, base)
	}
	fmt.Fprintf(&b, "  break it:    curl -X POST %s/api/v1/demo/members/%s/stop   (start, partition, heal)\n", firstBase(listen), cl.Member(0).Name)
	fmt.Fprintln(&b, "Press Ctrl-C to stop; the demo cluster's data is removed on exit.")
	fmt.Fprint(os.Stdout, b.String())
}
