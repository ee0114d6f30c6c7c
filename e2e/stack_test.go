package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/httpget"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// Timing of the test stack. The fast rule profile assumes scrape and
// evaluation intervals of 5s or less. Rules are evaluated every second;
// scrapes every 2s, as with 1s (whose timeout is 1s too) a loaded test
// machine misses scrapes of the monitor, and a missed scrape marks its
// series stale, which resolves every alert over them.
const (
	scrapeInterval = 2 * time.Second
	evalInterval   = time.Second
	// Grafana's $__rate_interval is at least four scrape intervals.
	rateInterval = 4 * scrapeInterval
	// The monitor checks and probes every second, each etcd request under
	// 2s: a member that does not answer costs at most that.
	checkInterval  = time.Second
	requestTimeout = 2 * time.Second
	// A quota small enough that NOSPACE takes a few dozen writes.
	quotaBytes = 4 << 20
)

// stack is everything a user deploys, on loopback.
type stack struct {
	cluster    *localetcd.Cluster
	name       string // etcd_cluster
	sinks      *sinks
	monitorURL string
	amURL      string
	pushURL    string
	prom       *promAPI
	promURL    string
	started    time.Time
}

type tools struct {
	prometheus, alertmanager, pushgateway string
}

func requireTools(t *testing.T) tools {
	return tools{
		prometheus:   testbin.Require(t, installHint, "prometheus"),
		alertmanager: testbin.Require(t, installHint, "alertmanager"),
		pushgateway:  testbin.Require(t, installHint, "pushgateway", "prometheus-pushgateway"),
	}
}

func startStack(t *testing.T, tl tools, b testetcd.Backend, name string) *stack {
	t.Helper()
	s := &stack{name: name, started: time.Now()}
	c := testetcd.Start(t, localetcd.Options{
		Members: 3, FastElections: true, Binary: b.Binary, QuotaBackendBytes: quotaBytes, Token: name,
	})
	s.cluster = c
	s.sinks = startSinks(t)
	dir := t.TempDir()

	// Pushgateway.
	pushAddr := freeport.Addr(t)
	s.pushURL = "http://" + pushAddr
	pg := testproc.Start(t, "pushgateway", tl.pushgateway, "--web.listen-address="+pushAddr, "--log.level=warn")

	// Alertmanager's configuration (the shipped one, pointed at the sinks
	// and the monitor) is written first: the monitor is given the token
	// file Alertmanager's webhook sends, as a deployment does.
	monAddr := freeport.Addr(t)
	s.monitorURL = "http://" + monAddr
	amConfig := s.sinks.AlertmanagerConfig(t, dir, "e2e-routing-key", s.monitorURL+"/api/v1/alerts")

	// etcd-monitor, as a user runs it.
	mon := testproc.Start(t, "etcd-monitor", monitorBin, append(serveArgs(c, name, monAddr),
		// etcd before 3.6 does not report its quota.
		"--etcd.quota-backend-bytes="+strconv.Itoa(quotaBytes),
		"--alerts.webhook-token-file="+webhookTokenFile(t, amConfig))...)

	// Alertmanager with the shipped configuration, pointed at the sinks.
	amAddr := freeport.Addr(t)
	s.amURL = "http://" + amAddr
	am := testproc.Start(t, "alertmanager", tl.alertmanager,
		"--config.file="+amConfig,
		"--storage.path="+filepath.Join(dir, "alertmanager"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=", // no gossip
		"--log.level=warn")

	// Prometheus with the shipped (fast) rules.
	promAddr := freeport.Addr(t)
	s.promURL = "http://" + promAddr
	s.prom = newPromAPI(s.promURL)
	pr := testproc.Start(t, "prometheus", tl.prometheus,
		"--config.file="+promConfig(t, dir, name, monAddr, amAddr, pushAddr, c),
		"--storage.tsdb.path="+filepath.Join(dir, "prometheus"),
		"--web.listen-address="+promAddr,
		"--log.level=warn")

	pg.WaitReady(t, s.pushURL+"/-/ready", 15*time.Second)
	mon.WaitReady(t, s.monitorURL+"/health", 15*time.Second)
	am.WaitReady(t, s.amURL+"/-/ready", 15*time.Second)
	pr.WaitReady(t, s.promURL+"/-/ready", 30*time.Second)
	s.waitTargetsUp(t)
	return s
}

// serveArgs runs `etcd-monitor serve` on the cluster c, named name,
// listening on addr, at the test timing.
func serveArgs(c *localetcd.Cluster, name, addr string) []string {
	return []string{"serve",
		"--etcd.endpoints=" + strings.Join(c.Endpoints(), ","),
		"--cluster.name=" + name,
		"--web.listen-address=" + addr,
		"--health-check-interval=" + checkInterval.String(),
		"--probe.interval=" + checkInterval.String(),
		"--etcd.request-timeout=" + requestTimeout.String(),
		"--etcd.dial-timeout=" + requestTimeout.String(),
		"--log.level=warn",
	}
}

// promConfig writes the Prometheus configuration a user writes: scrape the
// monitor (job etcd-monitor), every member's own /metrics (job etcd, with
// the cluster's name as etcd_cluster) and the Pushgateway, load the rules,
// send to Alertmanager.
func promConfig(t *testing.T, dir, name, monAddr, amAddr, pushAddr string, c *localetcd.Cluster) string {
	t.Helper()
	var members []string
	for _, ep := range c.Endpoints() {
		u, err := url.Parse(ep)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, u.Host)
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval": scrapeInterval.String(), "scrape_timeout": scrapeInterval.String(),
			"evaluation_interval": evalInterval.String(),
		},
		"rule_files": []string{filepath.Join(repoRoot, "rules", "etcd-monitor-fast.rules.yml")},
		"alerting": map[string]any{"alertmanagers": []any{
			map[string]any{"static_configs": []any{map[string]any{"targets": []string{amAddr}}}},
		}},
		"scrape_configs": []any{
			map[string]any{"job_name": "etcd-monitor", "static_configs": []any{map[string]any{"targets": []string{monAddr}}}},
			map[string]any{"job_name": "etcd", "static_configs": []any{map[string]any{
				"targets": members, "labels": map[string]string{"etcd_cluster": name},
			}}},
			map[string]any{"job_name": "pushgateway", "honor_labels": true, "static_configs": []any{map[string]any{"targets": []string{pushAddr}}}},
		},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, filepath.Join(dir, "prometheus.yml"), string(b))
}

// waitTargetsUp waits until Prometheus scrapes the monitor, the three
// members and the Pushgateway, and has loaded the rules.
func (s *stack) waitTargetsUp(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var last string
	ok := waitfor.Poll(ctx, 30*time.Second, 200*time.Millisecond, func() bool {
		ts, err := s.prom.targets(ctx)
		if err != nil {
			last = err.Error()
			return false
		}
		up := map[string]int{}
		var down []string
		for _, tg := range ts {
			if tg.Health == "up" {
				up[tg.Job]++
			} else {
				down = append(down, fmt.Sprintf("%s %s %s %s", tg.Job, tg.URL, tg.Health, tg.LastError))
			}
		}
		last = fmt.Sprintf("up %v, not up %v", up, down)
		return up["etcd-monitor"] == 1 && up["etcd"] == 3 && up["pushgateway"] == 1
	})
	if !ok {
		t.Fatalf("Prometheus targets not all up after 30s: %s", last)
	}
	groups, rules, failing, err := s.prom.rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if groups == 0 || rules == 0 {
		t.Fatalf("Prometheus loaded %d rule groups, %d rules", groups, rules)
	}
	t.Logf("Prometheus scrapes the monitor, 3 etcd members and the Pushgateway; %d rules in %d groups loaded", rules, groups)
	if len(failing) > 0 {
		t.Errorf("rules failing to evaluate: %v", failing)
	}
}

// value returns the single value expr has now, waiting up to timeout for
// want (a nil want takes any value).
func (s *stack) waitValue(t *testing.T, expr string, want func(float64) bool, timeout time.Duration) float64 {
	t.Helper()
	ctx := context.Background()
	var last string
	var v float64
	ok := waitfor.Poll(ctx, timeout, 250*time.Millisecond, func() bool {
		r, err := s.prom.query(ctx, expr, time.Now())
		if err != nil {
			last = err.Error()
			return false
		}
		if len(r.Series) != 1 || len(r.Series[0].Value) != 2 {
			last = fmt.Sprintf("%d series", len(r.Series))
			return false
		}
		f, err := strconv.ParseFloat(fmt.Sprint(r.Series[0].Value[1]), 64)
		if err != nil {
			last = err.Error()
			return false
		}
		v, last = f, fmt.Sprint(f)
		return want == nil || want(f)
	})
	if !ok {
		t.Fatalf("%s: no satisfying value after %s (last: %s)", expr, timeout, last)
	}
	return v
}

// amAlert is Alertmanager's view of one alert.
type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// amAlerts returns the alerts Alertmanager holds for alertname in the
// stack's cluster.
func (s *stack) amAlerts(ctx context.Context, alertname string) ([]amAlert, error) {
	q := url.Values{"filter": {`alertname="` + alertname + `"`, `etcd_cluster="` + s.name + `"`}}
	var out []amAlert
	err := httpget.DoJSON(ctx, http.DefaultClient, s.amURL+"/api/v2/alerts?"+q.Encode(), &out)
	return out, err
}

// historyEntry is one alert the monitor's webhook received.
type historyEntry struct {
	Status    string `json:"status"`
	AlertName string `json:"alertname"`
	Cluster   string `json:"cluster"`
	Member    string `json:"member"`
}

func (s *stack) alertHistory(ctx context.Context) ([]historyEntry, error) {
	var out struct {
		Alerts []historyEntry `json:"alerts"`
	}
	err := httpget.DoJSON(ctx, http.DefaultClient, s.monitorURL+"/api/v1/alerts/history?cluster="+url.QueryEscape(s.name), &out)
	return out.Alerts, err
}

// diagnose reports the series that explain the alerts of the test, for a
// failure message.
func (s *stack) diagnose() string {
	ctx := context.Background()
	var b strings.Builder
	for _, expr := range []string{
		`etcd_monitor_member_up`, `etcd_monitor_member_healthy`, `etcd_monitor_cluster_has_quorum`,
		`etcd_monitor_member_alarm`, `etcd_monitor_member_db_size_bytes`, `etcd_monitor_member_db_quota_bytes`,
		`time() - etcd_monitor_last_check_timestamp_seconds`, `ALERTS{alertstate="firing"}`,
	} {
		r, err := s.prom.query(ctx, expr, time.Now())
		if err != nil {
			fmt.Fprintf(&b, "  %s: %v\n", expr, err)
			continue
		}
		for _, sr := range r.Series {
			delete(sr.Metric, "job")
			delete(sr.Metric, "instance")
			delete(sr.Metric, "etcd_cluster")
			v := ""
			if len(sr.Value) == 2 {
				v = fmt.Sprint(sr.Value[1])
			}
			fmt.Fprintf(&b, "  %s %v = %s\n", expr, sr.Metric, v)
		}
	}
	return b.String()
}

// scrapeHealth says how Prometheus' scrapes of the monitor went since the
// stack started: missed scrapes resolve alerts and restart their "for".
func (s *stack) scrapeHealth() string {
	ctx := context.Background()
	window := fmt.Sprintf("[%ds]", int(time.Since(s.started).Seconds())+1)
	get := func(expr string) string {
		r, err := s.prom.query(ctx, expr, time.Now())
		if err != nil || len(r.Series) != 1 || len(r.Series[0].Value) != 2 {
			return "?"
		}
		return fmt.Sprint(r.Series[0].Value[1])
	}
	return fmt.Sprintf("%s scrapes of the monitor, %s failed, slowest %ss",
		get(`count_over_time(up{job="etcd-monitor"}`+window+`)`),
		get(`count_over_time(up{job="etcd-monitor"}`+window+`) - sum_over_time(up{job="etcd-monitor"}`+window+`)`),
		get(`max_over_time(scrape_duration_seconds{job="etcd-monitor"}`+window+`)`))
}

// firstTrue is how long after start expr first returned something, as far
// as Prometheus' data says (to its resolution: scrapes every 2s, rules
// every second); -1 if never.
func (s *stack) firstTrue(expr string, start time.Time) time.Duration {
	r, err := s.prom.queryRange(context.Background(), expr, start, time.Now(), 200*time.Millisecond)
	if err != nil {
		return -1
	}
	first := -1.0
	for _, sr := range r.Series {
		if len(sr.Values) == 0 || len(sr.Values[0]) != 2 {
			continue
		}
		ts, ok := sr.Values[0][0].(float64)
		if ok && (first < 0 || ts < first) {
			first = ts
		}
	}
	if first < 0 {
		return -1
	}
	return time.Duration(first*float64(time.Second)) - time.Duration(start.UnixNano())
}
