package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

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

// poll calls f every interval until it returns true or timeout passes;
// it reports whether f succeeded.
func poll(ctx context.Context, timeout, interval time.Duration, f func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(interval):
		}
	}
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
