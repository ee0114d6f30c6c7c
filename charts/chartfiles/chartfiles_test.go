package chartfiles

import (
	"testing"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/golden"
)

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
	golden.Files(t, chartDir, files, DashboardDir+"/*.json",
		"make chart (or go test ./charts/chartfiles -run '^TestGeneratedFilesUpToDate$' -update)")
}
