package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testsink"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// shippedTimingEnv enables TestShippedQuorumLossPagesWithin90s. It takes
// three to four minutes of wall time (a 30s scrape interval cannot be
// hurried), so it is a measurement run on demand, recorded in
// docs/performance-e2e.md, not part of `make test`; e2e/ checks the same
// pipeline with the fast profile on every run.
const shippedTimingEnv = "ETCD_MONITOR_SHIPPED_TIMING"

// The deployment the 90 s target is stated for: the shipped rules and
// Alertmanager timers, Prometheus scraping and evaluating every 30s, the
// monitor at its defaults (a check every 10s, 5s per etcd request).
const (
	timingScrape = 30 * time.Second
	quorumTarget = 90 * time.Second
)

// TestShippedQuorumLossPagesWithin90s stops two members of three and
// measures when PagerDuty is told, with rules/etcd-monitor.rules.yml and
// alertmanager/alertmanager.yml as shipped (only the receivers' URLs and
// secret files point at loopback sinks).
//
//	ETCD_MONITOR_SHIPPED_TIMING=1 go test ./rules -run TestShippedQuorumLossPagesWithin90s -v
//
// ETCD_BIN=/usr/bin/etcd runs the members as etcd processes instead of
// in-process.
func TestShippedQuorumLossPagesWithin90s(t *testing.T) {
	if os.Getenv(shippedTimingEnv) == "" {
		t.Skipf("a 4-minute measurement with the shipped timers: set %s=1 to run it", shippedTimingEnv)
	}
	prometheus := testbin.Require(t, installHint, "prometheus")
	alertmanager := testbin.Require(t, installHint, "alertmanager")
	dir := t.TempDir()
	monitor := filepath.Join(dir, "etcd-monitor")
	build := exec.Command("go", "build", "-o", monitor, "./cmd/etcd-monitor")
	build.Dir = testbin.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building etcd-monitor: %v\n%s", err, out)
	}

	// etcd's own raft timing (100ms heartbeat, 1s election), as deployed.
	c := testetcd.Start(t, localetcd.Options{Members: 3, Binary: os.Getenv("ETCD_BIN"), Token: "timing"})
	sinks := testsink.Start(t)

	monAddr := freeport.Addr(t)
	mon := testproc.Start(t, "etcd-monitor", monitor, "serve",
		"--etcd.endpoints="+strings.Join(c.Endpoints(), ","),
		"--cluster.name=timing",
		"--web.listen-address="+monAddr,
		"--log.level=warn")

	amAddr := freeport.Addr(t)
	am := testproc.Start(t, "alertmanager", alertmanager,
		"--config.file="+shippedAlertmanagerConfig(t, dir, sinks),
		"--storage.path="+filepath.Join(dir, "alertmanager"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=",
		"--log.level=warn")

	promAddr := freeport.Addr(t)
	prom := testproc.Start(t, "prometheus", prometheus,
		"--config.file="+timingPromConfig(t, dir, monAddr, amAddr, c),
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus"),
		"--web.listen-address="+promAddr,
		"--log.level=warn")
	mon.WaitReady(t, "http://"+monAddr+"/health", 30*time.Second)
	am.WaitReady(t, "http://"+amAddr+"/-/ready", 30*time.Second)
	prom.WaitReady(t, "http://"+promAddr+"/-/ready", 60*time.Second)

	ctx := context.Background()
	promURL := "http://" + promAddr
	// Two scrapes of a healthy cluster, so the fault lands at an arbitrary
	// phase of the scrape and evaluation cycles.
	if !waitfor.Poll(context.Background(), 3*timingScrape, time.Second, func() bool {
		n, _ := promCount(ctx, promURL, `count_over_time(etcd_monitor_cluster_has_quorum{etcd_cluster="timing"}[5m]) >= 2`)
		return n == 1
	}) {
		t.Fatalf("Prometheus has not scraped the monitor's healthy view twice in %s", 3*timingScrape)
	}

	fault := time.Now()
	for _, m := range c.Members()[1:] {
		if err := m.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("stopped 2 of 3 members at %s", fault.Format("15:04:05.000"))

	var seen, firing, paged time.Duration
	ok := waitfor.Poll(context.Background(), 4*time.Minute, 250*time.Millisecond, func() bool {
		if seen == 0 {
			if n, _ := promCount(ctx, promURL, `etcd_monitor_cluster_has_quorum{etcd_cluster="timing"} == 0`); n > 0 {
				seen = time.Since(fault)
			}
		}
		if firing == 0 {
			if n, _ := promCount(ctx, promURL, `ALERTS{alertname="EtcdQuorumLost",alertstate="firing"}`); n > 0 {
				firing = time.Since(fault)
			}
		}
		for _, n := range sinks.All() {
			if n.Receiver == "pagerduty" && n.Status == "firing" && n.Alert == "EtcdQuorumLost" {
				paged = n.At.Sub(fault)
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("PagerDuty not told of the quorum loss within 4m (Prometheus saw it after %s, alert firing after %s); received: %v",
			seen, firing, sinks.All())
	}
	t.Logf("quorum lost -> in Prometheus %.1fs, EtcdQuorumLost firing %.1fs, PagerDuty %.1fs (target %s)",
		seen.Seconds(), firing.Seconds(), paged.Seconds(), quorumTarget)
	if paged > quorumTarget {
		t.Errorf("PagerDuty was told %.1fs after quorum was lost, over the %s target", paged.Seconds(), quorumTarget)
	}
}

// shippedAlertmanagerConfig is alertmanager/alertmanager.yml pointed at the
// sinks, with the shipped grouping timers (testsink shortens them for the
// e2e tests; here they are what is measured).
func shippedAlertmanagerConfig(t *testing.T, dir string, sinks *testsink.Sinks) string {
	t.Helper()
	path := sinks.AlertmanagerConfig(t, dir, "timing-routing-key", sinks.HTTP.URL+"/webhook")
	var shipped, cfg map[string]any
	for p, v := range map[string]*map[string]any{
		filepath.Join(testbin.RepoRoot(), "alertmanager", "alertmanager.yml"): &shipped,
		path: &cfg,
	} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	cfg["route"] = shipped["route"]
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func timingPromConfig(t *testing.T, dir, monAddr, amAddr string, c *localetcd.Cluster) string {
	t.Helper()
	var members []string
	for _, ep := range c.Endpoints() {
		u, err := url.Parse(ep)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, u.Host)
	}
	abs, err := filepath.Abs(FileDefault)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval": timingScrape.String(), "scrape_timeout": "10s",
			"evaluation_interval": timingScrape.String(),
		},
		"rule_files": []string{abs},
		"alerting": map[string]any{"alertmanagers": []any{
			map[string]any{"static_configs": []any{map[string]any{"targets": []string{amAddr}}}},
		}},
		"scrape_configs": []any{
			map[string]any{"job_name": "etcd-monitor", "static_configs": []any{map[string]any{"targets": []string{monAddr}}}},
			map[string]any{"job_name": "etcd", "static_configs": []any{map[string]any{
				"targets": members, "labels": map[string]string{"etcd_cluster": "timing"},
			}}},
		},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// promCount returns how many series an instant query returns now.
func promCount(ctx context.Context, base, expr string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?"+url.Values{"query": {expr}}.Encode(), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, err
	}
	if out.Status != "success" {
		return 0, fmt.Errorf("query %s: status %s", expr, out.Status)
	}
	return len(out.Data.Result), nil
}
