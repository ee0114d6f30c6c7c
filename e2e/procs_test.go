package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
)

const installHint = "run `make tools` (Prometheus, Alertmanager) and install Debian's prometheus-pushgateway"

var repoRoot = testbin.RepoRoot()

// monitorBin is the etcd-monitor binary built once for the package by
// TestMain.
var monitorBin string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	monitorBin = filepath.Join(dir, "etcd-monitor")
	cmd := exec.Command("go", "build", "-o", monitorBin, "./cmd/etcd-monitor")
	cmd.Dir = repoRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building etcd-monitor: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
