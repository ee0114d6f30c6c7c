package rules

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
)

// parse runs the subcommand the way main does and captures stdout.
func runCommand(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := kingpin.New("etcd-monitor", "").DefaultEnvars() // as main does
	app.Terminate(nil)
	cmd := Register(app)
	selected, err := app.Parse(append([]string{"rules"}, args...))
	if err != nil {
		return "", cli.Usagef("%v", err)
	}
	if selected != cmd.Clause.FullCommand() {
		t.Fatalf("selected %q", selected)
	}
	// Run writes to os.Stdout; swap it for a pipe.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r)
		done <- b.Bytes()
	}()
	runErr := cmd.Run(context.Background(), nil)
	os.Stdout = stdout
	w.Close()
	return string(<-done), runErr
}

func TestCommandDefaultsToTheDefaultRuleFile(t *testing.T) {
	out, err := runCommand(t)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(FileDefault)
	if out != string(want) {
		t.Error("`etcd-monitor rules` does not print rules/etcd-monitor.rules.yml")
	}
	out, err = runCommand(t, "--profile=fast", "--format=prometheusrule")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "kind: PrometheusRule") || !strings.Contains(out, "profile fast") {
		t.Errorf("fast PrometheusRule output:\n%.300s", out)
	}
}

func TestCommandOutputDir(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, "cluster_label: cluster\n")
	if _, err := runCommand(t, "--config="+cfg, "--output-dir="+dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{FileDefault, FileFast, FilePrometheusRule} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "by (cluster, member, endpoint)") {
			t.Errorf("%s does not use the configured cluster label", name)
		}
	}
}

func TestCommandOutputFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.yml")
	if _, err := runCommand(t, "--output="+p); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want, _ := os.ReadFile(FileDefault)
	if !bytes.Equal(got, want) {
		t.Error("--output file differs from the committed default rules")
	}
}

func TestCommandPrintConfig(t *testing.T) {
	out, err := runCommand(t, "--print-config")
	if err != nil {
		t.Fatal(err)
	}
	if out != DefaultConfigYAML {
		t.Error("--print-config does not print rules/config.yml")
	}
}

func TestCommandBadInputIsUsageError(t *testing.T) {
	bad := writeConfig(t, "thresholds:\n  nope: 1\n")
	for _, args := range [][]string{
		{"--config=" + bad},
		{"--config=" + filepath.Join(t.TempDir(), "missing.yml")},
		{"--profile=slow"},
		{"--format=json"},
		{"--output-dir=" + t.TempDir(), "--profile=fast"},
	} {
		_, err := runCommand(t, args...)
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		if code := cli.ExitCode(err); code != cli.ExitUsage {
			t.Errorf("%v: exit code %d, want %d (%v)", args, code, cli.ExitUsage, err)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error is not one line: %q", args, err)
		}
	}
}

// main turns on kingpin's default environment variables; another
// subcommand's ETCD_MONITOR_CONFIG must not leak into rules.
func TestCommandIgnoresEnvironment(t *testing.T) {
	t.Setenv("ETCD_MONITOR_CONFIG", filepath.Join(t.TempDir(), "serve-config.yml"))
	t.Setenv("ETCD_MONITOR_PROFILE", "fast")
	out, err := runCommand(t)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "(profile default)") {
		t.Error("rules picked up ETCD_MONITOR_PROFILE")
	}
}

func TestCommandHelpShowsPlaceholders(t *testing.T) {
	app := kingpin.New("etcd-monitor", "")
	cmd := Register(app)
	for _, f := range cmd.Clause.Model().Flags {
		if strings.Contains(f.Help, "`") {
			t.Errorf("--%s help has backticks, which kingpin turns into a placeholder: %q", f.Name, f.Help)
		}
	}
}
