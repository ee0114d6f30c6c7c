package maintenance

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testpushgateway"
)

// Bad input is one line naming what is wrong, exit 2, before any
// connection: none of these endpoints exists.
func TestCommandsRejectBadInput(t *testing.T) {
	missingDir := filepath.Join(t.TempDir(), "no-such-dir", "etcd.db")
	file := filepath.Join(t.TempDir(), "etcd.db")
	cases := []struct {
		register func(*kingpin.Application, *strings.Builder) cli.Command
		args     []string
		want     string
	}{
		{snapshotCmd, []string{"snapshot", "save", missingDir}, "FILE: directory"},
		{snapshotCmd, []string{"snapshot", "save", t.TempDir()}, "is a directory"},
		{snapshotCmd, []string{"snapshot", "save", file, "--etcd.endpoints="}, "--etcd.endpoints"},
		{snapshotCmd, []string{"snapshot", "save", file, "--etcd.endpoints=ftp://x:1"}, "--etcd.endpoints"},
		{snapshotCmd, []string{"snapshot", "save", file, "--timeout=0s"}, "--timeout"},
		{snapshotCmd, []string{"snapshot", "save", file, "--pushgateway.url=localhost:9091"}, "--pushgateway.url"},
		{snapshotCmd, []string{"snapshot", "save", file, "--cluster.name="}, "--cluster.name"},
		{defragCmd, []string{"defrag", "--etcd.endpoints="}, "--etcd.endpoints"},
		{defragCmd, []string{"defrag", "--min-free-bytes=0", "--min-free-ratio=0"}, "--force"},
		{defragCmd, []string{"defrag", "--min-free-bytes=lots"}, "--min-free-bytes"},
		{defragCmd, []string{"defrag", "--min-free-ratio=1.5"}, "--min-free-ratio"},
		{defragCmd, []string{"defrag", "--min-free-ratio=-0.1"}, "--min-free-ratio"},
		{defragCmd, []string{"defrag", "--keep-revisions=10"}, "--keep-revisions"},
		{defragCmd, []string{"defrag", "--compact", "--keep-revisions=-1"}, "--keep-revisions"},
		{defragCmd, []string{"defrag", "--compact", "--keep-revisions=1.5"}, "--keep-revisions"},
		{defragCmd, []string{"defrag", "--compact", "--keep-revisions=1e30"}, "--keep-revisions"},
		{defragCmd, []string{"defrag", "--defrag-timeout=0s"}, "--defrag-timeout"},
		{defragCmd, []string{"defrag", "--wait-healthy-timeout=-1s"}, "--wait-healthy-timeout"},
		{defragCmd, []string{"defrag", "--etcd.quota-backend-bytes=0"}, "--etcd.quota-backend-bytes"},
	}
	for _, tc := range cases {
		_, code, err := runCommand(t, tc.register, append(tc.args, "--etcd.dial-timeout=100ms")...)
		switch {
		case err == nil:
			t.Errorf("%v: accepted", tc.args)
		case code != cli.ExitUsage:
			t.Errorf("%v: exit %d (%v), want %d", tc.args, code, err, cli.ExitUsage)
		case !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n"):
			t.Errorf("%v: %q, want one line naming %s", tc.args, err, tc.want)
		}
	}
	// A missing FILE is kingpin's to report; main exits 2 on parse errors.
	if _, code, err := runCommand(t, snapshotCmd, "snapshot", "save"); err == nil || code != cli.ExitUsage {
		t.Errorf("snapshot save without FILE: exit %d, %v", code, err)
	}
}

// main turns on kingpin's default environment variables, whose names leave
// out the command: variables meant for something else must not turn a
// defragmentation into a forced one or a dry run into a real one.
func TestCommandIgnoresEnvironment(t *testing.T) {
	t.Setenv("ETCD_MONITOR_FORCE", "true")
	t.Setenv("ETCD_MONITOR_MIN_FREE_BYTES", "1MiB")
	_, code, err := runCommand(t, defragCmd, "defrag", "--min-free-bytes=0", "--min-free-ratio=0", "--etcd.endpoints=127.0.0.1:1")
	if code != cli.ExitUsage || err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("exit %d, %v: ETCD_MONITOR_FORCE was taken for --force", code, err)
	}
}

// Nothing answers: exit 3, as for the other commands, not 1.
func TestCommandsUnreachable(t *testing.T) {
	addr := freeport.Addr(t)
	file := filepath.Join(t.TempDir(), "etcd.db")
	for _, tc := range []struct {
		register func(*kingpin.Application, *strings.Builder) cli.Command
		args     []string
	}{
		{snapshotCmd, []string{"snapshot", "save", file, "--etcd.endpoints=" + addr, "--etcd.request-timeout=1s"}},
		{defragCmd, []string{"defrag", "--etcd.endpoints=" + addr, "--etcd.request-timeout=1s"}},
	} {
		_, code, err := runCommand(t, tc.register, tc.args...)
		if code != cli.ExitUnreachable || !strings.Contains(err.Error(), addr) {
			t.Errorf("%s: exit %d (%v), want %d naming %s", tc.args[0], code, err, cli.ExitUnreachable, addr)
		}
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("a failed save left FILE")
	}
}

func TestDefragCommandDryRun(t *testing.T) {
	c := shared.Cluster(t)
	out, code, err := runCommand(t, defragCmd, "defrag", "--etcd.endpoints="+strings.Join(c.Endpoints(), ","), "--dry-run", "--force")
	if err != nil || code != 0 {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	if !strings.Contains(out, "Plan (") || !strings.Contains(out, "Dry run: nothing changed.") {
		t.Errorf("output:\n%s", out)
	}
}

// snapshot save through the command pushes the series the
// EtcdSnapshotTooOld rule reads, in the group job + etcd_cluster.
func TestSnapshotCommandPushes(t *testing.T) {
	gw := testpushgateway.Start(t)
	c := shared.Cluster(t)
	file := filepath.Join(t.TempDir(), "etcd.db")
	before := time.Now()
	out, code, err := runCommand(t, snapshotCmd, "snapshot", "save", file,
		"--etcd.endpoints="+strings.Join(c.Endpoints(), ","), "--pushgateway.url="+gw, "--cluster.name=snap-test")
	if err != nil || code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	if !strings.HasPrefix(out, "Snapshot saved to "+file+": ") || !strings.Contains(out, "revision ") {
		t.Errorf("output: %q", out)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}

	fams := testpushgateway.Metrics(t, gw)
	value := func(name string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil || len(f.Metric) != 1 {
			t.Fatalf("%s: %v, want one series", name, f)
		}
		labels := map[string]string{}
		for _, l := range f.Metric[0].Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["job"] != DefaultPushJob || labels["etcd_cluster"] != "snap-test" {
			t.Errorf("%s labels %v, want job=%s etcd_cluster=snap-test", name, labels, DefaultPushJob)
		}
		return f.Metric[0].GetGauge().GetValue()
	}
	ts := value(MetricLastSuccess)
	if ts < float64(before.Unix()) || ts > float64(time.Now().Unix()+1) {
		t.Errorf("%s = %v, want between %d and now", MetricLastSuccess, ts, before.Unix())
	}
	if got := value(MetricSize); got != float64(fi.Size()) {
		t.Errorf("%s = %v, want %d", MetricSize, got, fi.Size())
	}
	if got := value(MetricDuration); got <= 0 || got > time.Since(before).Seconds() {
		t.Errorf("%s = %v", MetricDuration, got)
	}
	if got := value(MetricRevision); got < 1 {
		t.Errorf("%s = %v", MetricRevision, got)
	}

	// A failure afterwards adds its timestamp and leaves the success alone,
	// so the age the alert computes keeps growing.
	_, code, _ = runCommand(t, snapshotCmd, "snapshot", "save", file, "--etcd.endpoints="+freeport.Addr(t),
		"--etcd.request-timeout=1s", "--pushgateway.url="+gw, "--cluster.name=snap-test")
	if code == 0 {
		t.Fatal("save from a closed port succeeded")
	}
	fams = testpushgateway.Metrics(t, gw)
	if fams[MetricLastFailure] == nil || fams[MetricLastSuccess] == nil {
		t.Errorf("after a failure: failure %v, success %v; want both", fams[MetricLastFailure], fams[MetricLastSuccess])
	}
	if value(MetricLastSuccess) != ts {
		t.Error("the failure changed the last success timestamp")
	}
}

// The rules shipped in rules/ read the series under the names pushed here.
func TestRulesReadThePushedSnapshotMetric(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testbin.RepoRoot(), "rules", "etcd-monitor.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("alert: EtcdSnapshotTooOld"))
	if i < 0 {
		t.Fatal("no EtcdSnapshotTooOld alert in rules/etcd-monitor.rules.yml")
	}
	rule := string(b[i:min(len(b), i+600)])
	if !strings.Contains(rule, MetricLastSuccess) || !strings.Contains(rule, "etcd_cluster") {
		t.Errorf("EtcdSnapshotTooOld does not read %s by etcd_cluster:\n%s", MetricLastSuccess, rule)
	}
}

// kingpin turns backticks in help into a placeholder name.
func TestCommandHelpHasNoBackticks(t *testing.T) {
	app := kingpin.New("etcd-monitor", "")
	for _, c := range []cli.Command{RegisterDefrag(app), RegisterSnapshot(app)} {
		for _, f := range c.Clause.Model().Flags {
			if strings.Contains(f.Help, "`") {
				t.Errorf("%s --%s help has backticks: %q", c.Clause.FullCommand(), f.Name, f.Help)
			}
		}
	}
}
