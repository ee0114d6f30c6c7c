// Package testbin finds the real external programs that tests run (promtool,
// prometheus, alertmanager, amtool, pushgateway, etcd 3.4, chromium).
//
// On a laptop a missing program skips the test with a message saying how to
// get it; in CI (CI=true) a missing program fails the test, so a skipped test
// can never be counted as a pass there.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RepoRoot returns the module root (where go.mod is), found from this file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Lookup returns the path of name: first ./bin of the repository (where the
// Makefile installs pinned tools), then $PATH. Empty when not found.
func Lookup(name string) string {
	p := filepath.Join(RepoRoot(), "bin", name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return ""
}

// InCI reports whether the tests run in CI, where nothing may be skipped for
// a missing tool.
func InCI() bool { return os.Getenv("CI") == "true" }

// Require returns the path of the first of names found, or skips the test
// (fails it in CI) with how to install it.
func Require(t testing.TB, how string, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p := Lookup(n); p != "" {
			return p
		}
	}
	if InCI() {
		t.Fatalf("%v not found and CI=true: %s", names, how)
	}
	t.Skipf("%v not found: %s", names, how)
	return ""
}
