// Package testpushgateway runs a real Prometheus Pushgateway (Debian's
// prometheus-pushgateway) for tests of commands that push their results,
// and reads back what was pushed.
package testpushgateway

import (
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
)

// InstallHint says how to get the Pushgateway when it is missing.
const InstallHint = "apt-get install prometheus-pushgateway (Debian's package; the Go module proxy does not serve it)"

// Start runs a Pushgateway on a free loopback port, killed when the test
// ends, and returns its URL once it is ready (within 15s). Without the
// program the test is skipped, or fails in CI.
func Start(t testing.TB) string {
	t.Helper()
	bin := testbin.Require(t, InstallHint, "prometheus-pushgateway", "pushgateway")
	addr := freeport.Addr(t)
	p := testproc.Start(t, "pushgateway", bin, "--web.listen-address="+addr)
	url := "http://" + addr
	p.WaitReady(t, url+"/-/ready", 15*time.Second)
	return url
}

// Metrics returns what the Pushgateway at url exposes, by metric name.
func Metrics(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}
