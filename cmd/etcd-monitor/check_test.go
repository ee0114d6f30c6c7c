package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// checkTimeout bounds one `etcd-monitor check`: two rounds with 4 s request
// timeouts, on a loaded machine.
const checkTimeout = 90 * time.Second

// `etcd-monitor check` against a real cluster, as an operator runs it: flags
// or a config file become checkers, two rounds run, and the report on stdout
// and the exit code follow. How statuses are printed and judged is tested
// from hand-built snapshots in internal/check.
func TestCheckRealCluster(t *testing.T) {
	c := testetcd.StartWithin(t, 2*time.Minute, localetcd.Options{Members: 3, FastElections: true})

	t.Run("healthy table", func(t *testing.T) {
		// Only the first endpoint: the others are found through the member
		// list. Generous request timeout: the test machines are loaded.
		stdout, stderr, code := runCmdWithin(t, checkTimeout, nil, "check",
			"--etcd.endpoints="+c.Member(0).ClientURL, "--etcd.request-timeout=4s", "--cluster.name=main")
		t.Logf("check: exit %d\n%s", code, stdout)
		if code != 0 {
			t.Fatalf("exit %d, want 0; stderr %s", code, stderr)
		}
		for _, want := range []string{
			"cluster main: HEALTHY\n",
			"  quorum 2 of 3, tolerates 1 failure; leader m",
			"; alarms: none\n",
			"MEMBER  ENDPOINT",
			"STATUS  ROLE",
			"DB", "RAFT-LAG", "PROBE-P99", "VERSION",
		} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if strings.Contains(stdout, "problem:") {
			t.Error("a healthy cluster lists problems")
		}
		leaders := 0
		for _, m := range c.Members() {
			// name, endpoint, status, role, then DB ("12.0 KiB of 2.0 GiB
			// (0%)"), lag, probe p99 ("1.23 ms") and version.
			row := tableRow(stdout, m.Name)
			if len(row) < 4 {
				t.Fatalf("no row for %s", m.Name)
			}
			if row[1] != m.ClientURL || row[2] != "UP" {
				t.Errorf("%s: row %q", m.Name, row)
			}
			switch row[3] {
			case "leader":
				leaders++
			case "follower":
			default:
				t.Errorf("%s: role %q", m.Name, row[3])
			}
			if rest := strings.Join(row[4:], " "); !strings.Contains(rest, " of 2.0 GiB (") || !strings.Contains(rest, " ms") {
				t.Errorf("%s: DB, lag, p99: %q", m.Name, rest)
			}
		}
		if leaders != 1 {
			t.Errorf("%d leaders in the table", leaders)
		}
	})

	// Several clusters from a file, one of them dead: the worst wins, both
	// are reported, the error names the dead one, and JSON is an array.
	t.Run("config file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "clusters.yml")
		cfg := fmt.Sprintf("clusters:\n  - name: live\n    endpoints: [%q]\n  - name: gone\n    endpoints: [%q]\n    dial_timeout: 1s\n    request_timeout: 2s\n",
			c.Member(0).ClientURL, freeport.Addr(t))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := runCmdWithin(t, checkTimeout, nil, "check", "--config.file="+path, "--etcd.request-timeout=4s")
		t.Logf("check: exit %d\n%s", code, stdout)
		if code != 3 {
			t.Fatalf("exit %d, want 3; stderr %s", code, stderr)
		}
		for _, want := range []string{"cluster live: HEALTHY\n", "cluster gone: UNAVAILABLE\n", "problem: no member could be reached"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if last := lastLine(stderr); last != "etcd-monitor check: cluster gone: unavailable: no member could be reached" {
			t.Errorf("last line on stderr %q", last)
		}

		stdout, _, code = runCmdWithin(t, checkTimeout, nil, "check", "--config.file="+path, "--etcd.request-timeout=4s", "-o", "json")
		if code != 3 {
			t.Errorf("-o json: exit %d, want 3", code)
		}
		var list []status.ClusterStatus
		if err := json.Unmarshal([]byte(stdout), &list); err != nil {
			t.Fatalf("JSON of a config file run is not a list: %v\n%s", err, stdout)
		}
		if len(list) != 2 || list[0].State != status.StateHealthy || list[1].State != status.StateUnavailable {
			t.Errorf("statuses %+v", list)
		}
	})
}

// tableRow is the whitespace-separated cells of the table row of member
// name, nil if there is none.
func tableRow(out, name string) []string {
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}
