package check

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/api"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testetcd"
)

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

// One real cluster serves every case that needs a live one, in an order
// that only ever makes it sicker.
func TestCheckRealCluster(t *testing.T) {
	c := testetcd.StartWithin(t, 2*time.Minute, localetcd.Options{Members: 3, FastElections: true})
	// Only the first endpoint: the others are found through the member
	// list, as an operator would call it.
	// Generous request timeout: the test machines are loaded.
	flags := []string{"--etcd.endpoints=" + c.Member(0).ClientURL, "--etcd.request-timeout=4s", "--cluster.name=main"}

	t.Run("healthy table", func(t *testing.T) {
		r := runCheck(t, flags...)
		if r.code != cli.ExitOK {
			t.Fatalf("exit %d (%v), want 0", r.code, r.err)
		}
		for _, want := range []string{
			"cluster main: HEALTHY\n",
			"  quorum 2 of 3, tolerates 1 failure; leader m",
			"; alarms: none\n",
			"MEMBER  ENDPOINT",
			"STATUS  ROLE",
			"DB", "RAFT-LAG", "PROBE-P99", "VERSION",
		} {
			if !strings.Contains(r.out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Contains(r.out, "problem:") {
			t.Error("a healthy cluster lists problems")
		}
		rows := memberRows(r.out)
		leaders := 0
		for _, m := range c.Members() {
			row, ok := rows[m.Name]
			if !ok {
				t.Fatalf("no row for %s", m.Name)
			}
			if row[0] != m.ClientURL || row[1] != "UP" {
				t.Errorf("%s: row %q", m.Name, row)
			}
			if row[2] == "leader" {
				leaders++
			} else if row[2] != "follower" {
				t.Errorf("%s: role %q", m.Name, row[2])
			}
			if !strings.Contains(row[3], " of 2.0 GiB (") || !strings.Contains(row[3], " ms") {
				t.Errorf("%s: DB, lag, p99: %q", m.Name, row[3])
			}
		}
		if leaders != 1 {
			t.Errorf("%d leaders in the table", leaders)
		}
	})

	t.Run("json", func(t *testing.T) {
		r := runCheck(t, append(flags, "--output=json")...)
		if r.code != cli.ExitOK {
			t.Fatalf("exit %d (%v), want 0", r.code, r.err)
		}
		var s api.ClusterStatus
		dec := json.NewDecoder(strings.NewReader(r.out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("output is not an api.ClusterStatus: %v", err)
		}
		if s.Cluster != "main" || s.State != api.StateHealthy || !s.Healthy || len(s.Members) != 3 || s.QuorumSize != 2 || s.FailureTolerance != 1 {
			t.Errorf("status %+v", s)
		}
	})

	// Several clusters from a file, one of them dead: the worst wins, both
	// are reported, and JSON is an array.
	t.Run("config file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "clusters.yml")
		cfg := fmt.Sprintf("clusters:\n  - name: live\n    endpoints: [%q]\n  - name: gone\n    endpoints: [%q]\n    dial_timeout: 1s\n    request_timeout: 2s\n",
			c.Member(0).ClientURL, freeport.Addr(t))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runCheck(t, "--config.file="+path, "--etcd.request-timeout=4s")
		if r.code != cli.ExitUnreachable {
			t.Fatalf("exit %d (%v), want 3", r.code, r.err)
		}
		for _, want := range []string{"cluster live: HEALTHY\n", "cluster gone: UNAVAILABLE\n", "problem: no member could be reached"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if msg := r.err.Error(); msg != "cluster gone: unavailable: no member could be reached" {
			t.Errorf("error %q", msg)
		}
		r = runCheck(t, "--config.file="+path, "--etcd.request-timeout=4s", "-o", "json")
		var list []api.ClusterStatus
		if err := json.Unmarshal([]byte(r.out), &list); err != nil {
			t.Fatalf("JSON of a config file run is not a list: %v", err)
		}
		if len(list) != 2 || list[0].State != api.StateHealthy || list[1].State != api.StateUnavailable {
			t.Errorf("statuses %+v", list)
		}
	})

	t.Run("member stopped", func(t *testing.T) {
		stopped := c.Member(2)
		if err := stopped.Stop(); err != nil {
			t.Fatal(err)
		}
		r := runCheck(t, flags...)
		if r.code != cli.ExitFailure {
			t.Fatalf("exit %d (%v), want 1", r.code, r.err)
		}
		want := "cluster main: degraded: member " + stopped.Name + " is down"
		if !strings.HasPrefix(r.err.Error(), want) {
			t.Errorf("error %q, want it to start %q", r.err, want)
		}
		for _, want := range []string{"cluster main: DEGRADED\n", "quorum 2 of 3, tolerates 0 failures", "  problem: member " + stopped.Name + " is down\n"} {
			if !strings.Contains(r.out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		row := memberRows(r.out)[stopped.Name]
		if len(row) < 4 || row[1] != "DOWN" || row[2] != "-" || !strings.HasPrefix(row[3], "-  ") {
			t.Errorf("stopped member's row %q", row)
		}
		if !strings.Contains(r.out, "\n  "+stopped.Name+": ") {
			t.Error("no reason given for the stopped member")
		}
	})
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
	healthy := api.ClusterStatus{Cluster: "a", State: api.StateHealthy, Members: []api.MemberStatus{{Up: true}}}
	noQuorum := api.ClusterStatus{Cluster: "b", State: api.StateUnavailable, Members: []api.MemberStatus{{Up: true}, {}, {}},
		Problems: []string{"quorum lost: no member can serve a linearizable read", "member m1 cannot serve reads", "member m2 is down", "member m3 is down"}}
	alarm := api.ClusterStatus{Cluster: "c", State: api.StateDegraded, Members: []api.MemberStatus{{Up: true}}, Problems: []string{"alarm NOSPACE on member m1"}}
	for _, tc := range []struct {
		in   []api.ClusterStatus
		code int
		msg  string
	}{
		{[]api.ClusterStatus{healthy}, cli.ExitOK, ""},
		{[]api.ClusterStatus{healthy, alarm}, cli.ExitFailure, "cluster c: degraded: alarm NOSPACE on member m1"},
		// Members that answer but cannot serve are part of the story.
		{[]api.ClusterStatus{alarm, noQuorum}, cli.ExitUnreachable, "cluster c: degraded: alarm NOSPACE on member m1; cluster b: unavailable: " +
			"quorum lost: no member can serve a linearizable read; member m1 cannot serve reads; member m2 is down (and 1 more)"},
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
