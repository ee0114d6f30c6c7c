package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Names of the dashboard files, which are the committed ones.
const (
	FileOverview  = "etcd-monitor-overview.json"
	FileEtcd      = "etcd-monitor-etcd.json"
	FileBenchmark = "etcd-monitor-benchmark.json"
)

var builders = []struct {
	file  string
	build func() *dashboard.DashboardBuilder
}{
	{FileOverview, overview},
	{FileEtcd, etcdInternals},
	{FileBenchmark, benchmarkView},
}

// Render returns the dashboards' JSON by file name.
func Render() (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, b := range builders {
		d, err := b.build().Build()
		if err != nil {
			return nil, fmt.Errorf("building %s: %w", b.file, err)
		}
		finish(&d)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		// PromQL has < and >, Grafana reads them either way; keep them readable.
		enc.SetEscapeHTML(false)
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("rendering %s: %w", b.file, err)
		}
		out[b.file] = buf.Bytes()
	}
	return out, nil
}
