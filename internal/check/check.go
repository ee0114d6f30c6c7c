// Package check implements `etcd-monitor check`: one look at one or more
// clusters, printed as a table (or JSON), with an exit code for scripts and
// cron: 0 healthy, 1 degraded, 3 unavailable or unreachable (2 is bad input,
// as for every subcommand).
//
// It runs the same checker as `serve` and prints the same status model
// (status.Build) in the same words as the status page, so a script, the
// page and the API never disagree about a cluster.
package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
)

// settle is the pause between the two check rounds. Partitions and split
// brain are only called after two rounds agree, so one round could not
// report them; a second after the first is enough for raft to move on.
const settle = time.Second

// Output formats.
const (
	OutputTable = "table"
	OutputJSON  = "json"
)

// Options are one run of the command.
type Options struct {
	Clusters []collector.ClusterConfig
	// Output is OutputTable or OutputJSON.
	Output string
	// List prints JSON as an array even for one cluster: set when the
	// clusters come from a config file, so the shape depends on how the
	// command is called, never on how many clusters a file holds.
	List bool
	// Out receives the report (os.Stdout when nil).
	Out io.Writer
	// Settle overrides the pause between rounds (tests).
	Settle time.Duration
}

// Register adds `check` to the application.
func Register(app *kingpin.Application) cli.Command {
	return register(app, os.Stdout)
}

func register(app *kingpin.Application, out io.Writer) cli.Command {
	cmd := app.Command("check", "Check etcd clusters once and print their status; exit 0 healthy, 1 degraded, 3 unavailable or unreachable (2: bad input).")
	clusters := clusterconfig.RegisterFlags(cmd, clusterconfig.Options{
		DefaultEndpoints: "127.0.0.1:2379",
		FileHelp:         "YAML file listing clusters (as for serve); all are checked at once and the exit code is the worst. JSON output is then an array.",
	})
	output := cmd.Flag("output", "Report format: table or json (the API's /api/v1/cluster/status).").Short('o').
		Default(OutputTable).Enum(OutputTable, OutputJSON)
	return cli.Command{Clause: cmd, Run: func(ctx context.Context, logger *slog.Logger) error {
		opts := Options{Output: *output, Out: out}
		var err error
		if opts.Clusters, opts.List, err = clusters.Clusters(); err != nil {
			return err
		}
		return Run(ctx, logger, opts)
	}}
}

// Run checks every cluster concurrently, prints the report and returns nil
// when all are healthy, else a cli.ExitError whose message names each sick
// cluster and what is wrong with it (main prints it on stderr).
func Run(ctx context.Context, logger *slog.Logger, opts Options) error {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	if opts.Settle <= 0 {
		opts.Settle = settle
	}
	// The report says what is wrong; the checker's own warnings would say
	// it again on stderr, which cron mails. They stay available for
	// debugging.
	checkerLogger := slog.New(slog.DiscardHandler)
	if logger != nil && logger.Enabled(ctx, slog.LevelDebug) {
		checkerLogger = logger
	}
	statuses := make([]status.ClusterStatus, len(opts.Clusters))
	var wg sync.WaitGroup
	for i, cfg := range opts.Clusters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = checkCluster(ctx, cfg, checkerLogger, opts.Settle)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Interrupted: the rounds were cut short and would report healthy
		// members as down.
		return fmt.Errorf("interrupted: %w", err)
	}
	var err error
	if opts.Output == OutputJSON {
		err = printJSON(opts.Out, statuses, opts.List)
	} else {
		err = printTable(opts.Out, statuses)
	}
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return verdict(statuses)
}

// checkCluster runs two rounds a little apart and builds the status view.
func checkCluster(ctx context.Context, cfg collector.ClusterConfig, logger *slog.Logger, settle time.Duration) status.ClusterStatus {
	// Read-only probes (get and serializable get, no writes: a check must
	// not change the cluster, and may run as a read-only user), twice
	// during the pause, give the PROBE-P99 column a figure.
	cfg.Probe = collector.ProbeConfig{Interval: settle / 2, Timeout: settle / 2, KeyPrefix: cfg.Probe.KeyPrefix}
	cfg.HashKVInterval = 0
	if cfg.HealthCheckInterval <= 0 {
		cfg.HealthCheckInterval = clusterconfig.DefaultHealthCheckInterval
	}
	ch := collector.NewChecker(cfg, logger, collector.WithProbeMetrics(collector.NewProbeMetrics()))
	defer ch.Close()
	// Every etcd call of a round is bounded by the connection timeouts: the
	// member list (the last member that answered, then the others at once),
	// Status and the health read together, the /version call; this
	// deadline only guards against a bug there.
	round := cfg.Conn.DialTimeout + 4*cfg.Conn.RequestTimeout
	ctx, cancel := context.WithTimeout(ctx, 2*round+settle)
	defer cancel()
	if s := ch.CheckOnce(ctx); s.Success {
		select {
		case <-ctx.Done():
		case <-time.After(settle):
			ch.CheckOnce(ctx)
		}
	}
	// With nobody reachable a second round would only wait for the same
	// timeouts again: the answer is already "unreachable".
	return status.Build(ch)
}

// ExitCodeFor maps a cluster state to the command's exit code.
func ExitCodeFor(state string) int {
	switch state {
	case status.StateHealthy:
		return cli.ExitOK
	case status.StateDegraded:
		return cli.ExitFailure
	}
	// Unavailable (no quorum, or nobody answers): clients cannot use the
	// cluster, which is what a script calling this wants to know first.
	// Unknown cannot come out of a finished round; treat it as the worst.
	return cli.ExitUnreachable
}

// maxProblems keeps the one-line error short; the report lists them all.
const maxProblems = 3

func verdict(statuses []status.ClusterStatus) error {
	code := cli.ExitOK
	var msgs []string
	for _, s := range statuses {
		c := ExitCodeFor(s.State)
		if c == cli.ExitOK {
			continue
		}
		code = max(code, c)
		ps := s.Problems
		if !anyUp(s.Members) && len(ps) > 1 {
			// "no member could be reached" says it all; every member
			// being down follows from it.
			ps = ps[:1]
		}
		more := ""
		if len(ps) > maxProblems {
			more = fmt.Sprintf(" (and %d more)", len(ps)-maxProblems)
			ps = ps[:maxProblems]
		}
		msgs = append(msgs, fmt.Sprintf("cluster %s: %s: %s%s", s.Cluster, s.State, strings.Join(ps, "; "), more))
	}
	if code == cli.ExitOK {
		return nil
	}
	return &cli.ExitError{Code: code, Err: errors.New(strings.Join(msgs, "; "))}
}

func printJSON(w io.Writer, statuses []status.ClusterStatus, list bool) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if list || len(statuses) != 1 {
		return enc.Encode(statuses)
	}
	return enc.Encode(statuses[0])
}

func printTable(w io.Writer, statuses []status.ClusterStatus) error {
	for i, s := range statuses {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if err := printCluster(w, s); err != nil {
			return err
		}
	}
	return nil
}

func printCluster(w io.Writer, s status.ClusterStatus) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %s: %s\n", s.Cluster, status.StateText(s.State))
	fmt.Fprintf(&b, "  %s; leader %s; alarms: %s\n", status.QuorumText(s), status.LeaderText(s), status.AlarmsText(s))
	for _, p := range s.Problems {
		fmt.Fprintf(&b, "  problem: %s\n", p)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(s.Members) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tENDPOINT\tSTATUS\tROLE\tDB\tRAFT-LAG\tPROBE-P99\tVERSION")
	for _, m := range s.Members {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(m.Name), dash(m.Endpoint), status.MemberStatusText(m),
			dash(status.RoleText(m)), dash(status.DBText(m)), dash(status.LagText(m)), dash(status.P99Text(m)), dash(m.Version))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// Why a member is down or unhealthy, after the table so the columns
	// stay narrow.
	b.Reset()
	for _, m := range s.Members {
		if m.Error != "" && (!m.Up || !m.Healthy) {
			fmt.Fprintf(&b, "  %s: %s\n", dash(m.Name), m.Error)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// dash stands in for an unknown value, so every row has all its columns.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func anyUp(ms []status.MemberStatus) bool {
	for _, m := range ms {
		if m.Up {
			return true
		}
	}
	return false
}
