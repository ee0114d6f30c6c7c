// Package golden checks generated files against the copies committed next to
// them (the rule files, dashboards and chart copies users deploy), and
// rewrites those copies when the test runs with -update.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// update is registered once here, so a test package that uses golden must not
// define its own -update flag.
var update = flag.Bool("update", false, "rewrite the committed generated files instead of comparing them")

// Files compares want (file names relative to dir, and their generated
// content) with the files in dir. Committed files matching stale (a glob
// relative to dir, or "" for none) that the generator no longer writes are
// errors too. With -update, the files are written and the stale ones removed.
// regenerate says how a user rewrites them, for the error messages.
func Files(t testing.TB, dir string, want map[string][]byte, stale, regenerate string) {
	t.Helper()
	names := make([]string, 0, len(want))
	for name := range want {
		names = append(names, name)
	}
	slices.Sort(names)
	var extra []string
	if stale != "" {
		present, err := filepath.Glob(filepath.Join(dir, stale))
		if err != nil {
			t.Fatalf("golden: bad pattern %q: %v", stale, err)
		}
		for _, p := range present {
			if rel, _ := filepath.Rel(dir, p); want[filepath.ToSlash(rel)] == nil {
				extra = append(extra, p)
			}
		}
	}
	if *update {
		for _, p := range extra {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(dir, name), want[name], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	for _, name := range names {
		path := filepath.Join(dir, name)
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v; regenerate with: %s", err, regenerate)
			continue
		}
		if !bytes.Equal(got, want[name]) {
			t.Errorf("%s differs from a fresh render (first difference at line %d); regenerate with: %s",
				path, FirstDiffLine(got, want[name]), regenerate)
		}
	}
	for _, p := range extra {
		t.Errorf("%s is no longer generated: remove it, or regenerate with: %s", p, regenerate)
	}
}

// FirstDiffLine is the 1-based number of the first line where a and b differ.
func FirstDiffLine(a, b []byte) int {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return i + 1
		}
	}
	return min(len(al), len(bl)) + 1
}
