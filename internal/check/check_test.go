package check

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

// The command against a real cluster, through the built binary, is tested
// in cmd/etcd-monitor; here is what needs no etcd: refusals, a cluster
// nothing answers for, and how hand-built statuses are printed and judged.

type result struct {
	code int
	out  string
	err  error
	took time.Duration
}

// runCheck calls the command the way main does: a fresh application,
// parse, Run, and the exit code from the error.
func runCheck(t *testing.T, args ...string) result {
	t.Helper()
	app := kingpin.New("etcd-monitor", "").Terminate(nil).UsageWriter(io.Discard).ErrorWriter(io.Discard)
	var out bytes.Buffer
	cmd := register(app, &out)
	if _, err := app.Parse(append([]string{"check"}, args...)); err != nil {
		// main exits 2 on every parse error.
		return result{code: cli.ExitUsage, err: err}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	runErr := cmd.Run(ctx, slog.New(slog.DiscardHandler))
	r := result{code: cli.ExitCode(runErr), out: out.String(), err: runErr, took: time.Since(start)}
	t.Logf("check %s: exit %d in %s, err %v\n%s", strings.Join(args, " "), r.code, r.took.Round(time.Millisecond), runErr, r.out)
	return r
}

// Row of the member table: name, endpoint, status and role are single
// words; the DB cell has spaces, so the rest is matched loosely.
var rowRE = regexp.MustCompile(`(?m)^(m\d)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.*)$`)

func memberRows(out string) map[string][]string {
	rows := map[string][]string{}
	for _, m := range rowRE.FindAllStringSubmatch(out, -1) {
		rows[m[1]] = m[2:]
	}
	return rows
}

// Nothing listens: exit 3, and quickly, since a second round could only
// time out again.
func TestCheckUnreachable(t *testing.T) {
	eps := freeport.Addrs(t, 3)
	r := runCheck(t, "--etcd.endpoints="+strings.Join(eps, ","), "--etcd.dial-timeout=1s", "--etcd.request-timeout=2s")
	if r.code != cli.ExitUnreachable {
		t.Fatalf("exit %d (%v), want 3", r.code, r.err)
	}
	if r.err.Error() != "cluster default: unavailable: no member could be reached" {
		t.Errorf("error %q", r.err)
	}
	// One round is at most dial + a few request timeouts; two rounds and
	// the pause would be more than this.
	if r.took > 10*time.Second {
		t.Errorf("took %s", r.took)
	}
	if !strings.Contains(r.out, "cluster default: UNAVAILABLE\n") {
		t.Errorf("output %q", r.out)
	}
}

func TestCheckBadInput(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "bad.yml")
	if err := os.WriteFile(badFile, []byte("clusters:\n  - name: x\n    endpoints: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"--output=xml"}, "xml"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"extra-arg"}, "extra-arg"},
		{[]string{"--etcd.dial-timeout=0s"}, "--etcd.dial-timeout"},
		{[]string{"--etcd.endpoints=ftp://127.0.0.1:2379"}, "--etcd.endpoints"},
		{[]string{"--cluster.name="}, "--cluster.name"},
		{[]string{"--etcd.quota-backend-bytes=0"}, "--etcd.quota-backend-bytes"},
		{[]string{"--config.file=" + filepath.Join(dir, "missing.yml")}, "missing.yml"},
		{[]string{"--config.file=" + badFile}, "endpoints"},
	} {
		r := runCheck(t, tc.args...)
		if r.code != cli.ExitUsage {
			t.Errorf("%v: exit %d (%v), want 2", tc.args, r.code, r.err)
			continue
		}
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, r.err, tc.want)
		}
		if r.out != "" {
			t.Errorf("%v: printed %q", tc.args, r.out)
		}
	}
}

func TestVerdict(t *testing.T) {
	healthy := status.ClusterStatus{Cluster: "a", State: status.StateHealthy, Members: []status.MemberStatus{{Up: true}}}
	noQuorum := status.ClusterStatus{Cluster: "b", State: status.StateUnavailable, Members: []status.MemberStatus{{Up: true}, {}, {}},
		Problems: []string{"quorum lost: fewer than a quorum of members can serve a linearizable read", "member m1 cannot serve reads", "member m2 is down", "member m3 is down"}}
	alarm := status.ClusterStatus{Cluster: "c", State: status.StateDegraded, Members: []status.MemberStatus{{Up: true}}, Problems: []string{"alarm NOSPACE on member m1"}}
	for _, tc := range []struct {
		in   []status.ClusterStatus
		code int
		msg  string
	}{
		{[]status.ClusterStatus{healthy}, cli.ExitOK, ""},
		{[]status.ClusterStatus{healthy, alarm}, cli.ExitFailure, "cluster c: degraded: alarm NOSPACE on member m1"},
		// Members that answer but cannot serve are part of the story.
		{[]status.ClusterStatus{alarm, noQuorum}, cli.ExitUnreachable, "cluster c: degraded: alarm NOSPACE on member m1; cluster b: unavailable: " +
			"quorum lost: fewer than a quorum of members can serve a linearizable read; member m1 cannot serve reads; member m2 is down (and 1 more)"},
	} {
		err := verdict(tc.in)
		if got := cli.ExitCode(err); got != tc.code {
			t.Errorf("exit %d, want %d", got, tc.code)
		}
		if err != nil && err.Error() != tc.msg {
			t.Errorf("message %q, want %q", err, tc.msg)
		}
	}
}

// printed renders hand-built snapshots the way Run prints its statuses.
func printed(t *testing.T, format string, list bool, snaps ...*collector.Snapshot) string {
	t.Helper()
	var statuses []status.ClusterStatus
	for _, s := range snaps {
		statuses = append(statuses, status.Build(statustest.New(s.Cluster).Set(s).SetLatency(
			statustest.Latency("m1", collector.OpGet, 2, 1500*time.Microsecond),
			statustest.Latency("m2", collector.OpGet, 2, 2*time.Millisecond),
			statustest.Latency("m3", collector.OpGet, 2, 12300*time.Microsecond),
		)))
	}
	var b bytes.Buffer
	var err error
	if format == OutputJSON {
		err = printJSON(&b, statuses, list)
	} else {
		err = printTable(&b, statuses)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s output:\n%s", format, b.String())
	return b.String()
}

func TestTableHealthy(t *testing.T) {
	out := printed(t, OutputTable, false, statustest.Healthy("main", time.Now()))
	want := `cluster main: HEALTHY
  quorum 2 of 3, tolerates 1 failure; leader m1; alarms: none
MEMBER  ENDPOINT               STATUS  ROLE      DB                        RAFT-LAG  PROBE-P99  VERSION
m1      http://127.0.0.1:2379  UP      leader    12.0 MiB of 2.0 GiB (1%)  0         1.50 ms    3.5.0
m2      http://127.0.0.1:2389  UP      follower  12.0 MiB of 2.0 GiB (1%)  0         2.00 ms    3.5.0
m3      http://127.0.0.1:2399  UP      follower  12.0 MiB of 2.0 GiB (1%)  0         12.3 ms    3.5.0
`
	if out != want {
		t.Errorf("table:\n%s\nwant:\n%s", out, want)
	}
}

// A stopped member: DEGRADED, the problem, a row of dashes where nothing is
// known, and why it is down after the table.
func TestTableMemberDown(t *testing.T) {
	s := statustest.Down(statustest.Healthy("main", time.Now()), "m3", "dial tcp 127.0.0.1:2399: connect: connection refused")
	out := printed(t, OutputTable, false, s)
	for _, want := range []string{
		"cluster main: DEGRADED\n",
		"  quorum 2 of 3, tolerates 0 failures; leader m1; alarms: none\n",
		"  problem: member m3 is down\n",
		"  problem: no failure tolerance: one more member lost ends quorum\n",
		"\n  m3: dial tcp 127.0.0.1:2399: connect: connection refused\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	row := memberRows(out)["m3"]
	if len(row) < 4 || row[0] != "http://127.0.0.1:2399" || row[1] != "DOWN" || row[2] != "-" || strings.Join(strings.Fields(row[3]), " ") != "- - - -" {
		t.Errorf("stopped member's row %q", row)
	}
	err := verdict([]status.ClusterStatus{status.Build(statustest.New("main").Set(s))})
	if cli.ExitCode(err) != cli.ExitFailure || err.Error() != "cluster main: degraded: member m3 is down; no failure tolerance: one more member lost ends quorum" {
		t.Errorf("verdict %v (exit %d)", err, cli.ExitCode(err))
	}
}

// JSON is the API's cluster/status: one object for one cluster from flags,
// an array whenever the clusters come from a config file.
func TestJSON(t *testing.T) {
	s := statustest.Healthy("main", time.Now())
	var one status.ClusterStatus
	dec := json.NewDecoder(strings.NewReader(printed(t, OutputJSON, false, s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&one); err != nil {
		t.Fatalf("output is not a status.ClusterStatus: %v", err)
	}
	if one.Cluster != "main" || one.State != status.StateHealthy || !one.Healthy || len(one.Members) != 3 || one.QuorumSize != 2 ||
		one.FailureTolerance != 1 || one.Members[2].ProbeP99Ms == nil || *one.Members[2].ProbeP99Ms != 12.3 {
		t.Errorf("status %+v", one)
	}
	var list []status.ClusterStatus
	if err := json.Unmarshal([]byte(printed(t, OutputJSON, true, s)), &list); err != nil || len(list) != 1 {
		t.Errorf("a config file's single cluster is not a list of one: %v %d", err, len(list))
	}
	other := statustest.Healthy("other", time.Now())
	if err := json.Unmarshal([]byte(printed(t, OutputJSON, false, s, other)), &list); err != nil || len(list) != 2 || list[1].Cluster != "other" {
		t.Errorf("two clusters are not a list of two: %v %+v", err, list)
	}
}
