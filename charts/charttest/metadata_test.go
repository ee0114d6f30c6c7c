package charttest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/etcd-monitor/etcd-monitor/dashboards"
)

// TestChartMetadata: Chart.yaml has what chart-testing's lint requires of a
// published chart, maintainers, pointing at the project's home.
func TestChartMetadata(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(ChartDir(), "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		Home        string `json:"home"`
		Maintainers []struct {
			Name, Email, URL string
		} `json:"maintainers"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatalf("Chart.yaml: %v", err)
	}
	if len(chart.Maintainers) == 0 {
		t.Fatal("Chart.yaml lists no maintainers (chart-testing's lint requires them)")
	}
	for _, m := range chart.Maintainers {
		if m.Name == "" || m.URL != chart.Home {
			t.Errorf("maintainer %+v: want a name and the project's home %s", m, chart.Home)
		}
	}
}

// TestDashboardJobsDocumented: the dashboards select fixed job names, not
// the values; the README row of each job name value must say which one its
// dashboard selects, and that value's default must be it.
func TestDashboardJobsDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(ChartDir(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	values, err := os.ReadFile(filepath.Join(ChartDir(), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var defaults struct {
		ServiceMonitor struct{ JobName string } `json:"serviceMonitor"`
		EtcdMetrics    struct{ JobName string } `json:"etcdMetrics"`
	}
	if err := yaml.Unmarshal(values, &defaults); err != nil {
		t.Fatal(err)
	}
	jobRE := regexp.MustCompile(`job=\\"([^"\\]*)\\"`)
	for _, c := range []struct{ dashboard, key, def string }{
		{"etcd-monitor-overview.json", "serviceMonitor.jobName", defaults.ServiceMonitor.JobName},
		{"etcd-monitor-etcd.json", "etcdMetrics.jobName", defaults.EtcdMetrics.JobName},
	} {
		b, err := fs.ReadFile(dashboards.FS(), c.dashboard)
		if err != nil {
			t.Fatal(err)
		}
		var jobs []string
		for _, m := range jobRE.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(jobs, m[1]) {
				jobs = append(jobs, m[1])
			}
		}
		if len(jobs) != 1 || jobs[0] != c.def {
			t.Errorf("dashboard %s selects jobs %v, want only %s's default %q", c.dashboard, jobs, c.key, c.def)
			continue
		}
		var row string
		for _, line := range strings.Split(string(readme), "\n") {
			if strings.HasPrefix(line, "| `"+c.key+"` |") {
				row = line
			}
		}
		if want := fmt.Sprintf(`job="%s" and stays empty under another name`, jobs[0]); !strings.Contains(row, want) {
			t.Errorf("README row of %s does not say the dashboard selects %q whatever the value (%q):\n%s", c.key, jobs[0], want, row)
		}
	}
}
