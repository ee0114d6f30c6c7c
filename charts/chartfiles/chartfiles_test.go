package chartfiles

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the chart's generated files")

// chartDir is charts/etcd-monitor, next to this package.
const chartDir = "../etcd-monitor"

// TestGeneratedFilesUpToDate fails when the chart's copies of the rules or
// dashboards differ from a fresh render (someone edited them, or rules/ or
// dashboards/ changed without `make chart`), and when the chart holds a
// generated file that is no longer generated (a dashboard removed).
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := Files(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("generated %d files, want the rules and at least one dashboard", len(files))
	}
	if *update {
		stale, _ := filepath.Glob(filepath.Join(chartDir, DashboardDir, "*.json"))
		for _, p := range stale {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(chartDir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	const how = "; run `make chart` (or go test ./charts/chartfiles -run '^TestGeneratedFilesUpToDate$' -update)"
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(chartDir, name))
		if err != nil {
			t.Errorf("%s: %v%s", name, err, how)
			continue
		}
		if !bytes.Equal(got, files[name]) {
			t.Errorf("charts/etcd-monitor/%s differs from the generator's output%s", name, how)
		}
	}
	present, _ := filepath.Glob(filepath.Join(chartDir, DashboardDir, "*.json"))
	for _, p := range present {
		rel, _ := filepath.Rel(chartDir, p)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			t.Errorf("charts/etcd-monitor/%s is no longer generated (its dashboard is gone)%s", rel, how)
		}
	}
}
