package alertmanager

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testsink"
)

// TestDeliveryAndInhibition runs the real Alertmanager on alertmanager.yml,
// changed only where a deployment changes it (secret files, the PagerDuty
// and webhook URLs, the SMTP relay) to point at loopback sinks, and with
// 1s grouping so it finishes in seconds. It posts alerts to the API and
// checks what each receiver gets, and that inhibited alerts reach nobody.
func TestDeliveryAndInhibition(t *testing.T) {
	bin := testbin.Require(t, installHint, "alertmanager")
	sinks := startSinks(t)
	am := startAlertmanager(t, bin, testConfig(t, sinks))

	// Routing by severity, cluster "a".
	routing := []testAlert{
		{id: "crit", name: "EtcdNoLeader", sev: "critical", cluster: "a"},
		{id: "warn", name: "EtcdMemberPartitioned", sev: "warning", cluster: "a", member: "etcd-2"},
		{id: "info", name: "EtcdDatabaseFragmented", sev: "info", cluster: "a", member: "etcd-0"},
	}
	// Inhibiting alerts go first, so they are known before their targets.
	sources := []testAlert{
		{id: "b-quorum", name: "EtcdQuorumLost", sev: "critical", cluster: "b"},
		{id: "d-down", name: "EtcdMemberUnreachable", sev: "warning", cluster: "d", member: "etcd-1"},
		{id: "e-nospace", name: "EtcdNoSpaceAlarm", sev: "critical", cluster: "e"},
		{id: "f-crit", name: "EtcdProbeLatencyHigh", sev: "critical", cluster: "f", member: "etcd-1", extra: map[string]string{"operation": "put"}},
	}
	inhibited := []testAlert{
		// Quorum lost on b silences its member, leader and probe alerts.
		{id: "b-member", name: "EtcdMemberUnreachable", sev: "warning", cluster: "b", member: "etcd-1"},
		{id: "b-leader", name: "EtcdNoLeader", sev: "critical", cluster: "b"},
		{id: "b-probe", name: "EtcdProbeErrorsHigh", sev: "warning", cluster: "b", member: "etcd-2"},
		// etcd-1 of d is down: its probe, TLS and partition alerts.
		{id: "d-probe", name: "EtcdProbeLatencyHigh", sev: "critical", cluster: "d", member: "etcd-1", extra: map[string]string{"operation": "get"}},
		{id: "d-tls", name: "EtcdCertificateExpiring", sev: "warning", cluster: "d", endpointOnly: "https://etcd-1:2379", extra: map[string]string{"role": "server"}},
		{id: "d-part", name: "EtcdMemberPartitioned", sev: "warning", cluster: "d", member: "etcd-1"},
		// NOSPACE on e: probe errors.
		{id: "e-probe", name: "EtcdProbeErrorsHigh", sev: "warning", cluster: "e", member: "etcd-0"},
		// The critical probe latency of f/etcd-1/put silences its warning.
		{id: "f-warn", name: "EtcdProbeLatencyHigh", sev: "warning", cluster: "f", member: "etcd-1", extra: map[string]string{"operation": "put"}},
	}
	delivered := []testAlert{
		// Another cluster: quorum lost on b does not reach c.
		{id: "c-member", name: "EtcdMemberUnreachable", sev: "warning", cluster: "c", member: "etcd-1"},
		// Not a member, leader or probe alert.
		{id: "b-size", name: "EtcdDatabaseSizeHigh", sev: "warning", cluster: "b", member: "etcd-0"},
		// Another member of d, and d's down member's size alert.
		{id: "d-probe-other", name: "EtcdProbeLatencyHigh", sev: "warning", cluster: "d", member: "etcd-2", extra: map[string]string{"operation": "get"}},
		{id: "d-size", name: "EtcdDatabaseSizeHigh", sev: "warning", cluster: "d", member: "etcd-1"},
		// NOSPACE does not explain latency.
		{id: "e-latency", name: "EtcdProbeLatencyHigh", sev: "warning", cluster: "e", member: "etcd-0", extra: map[string]string{"operation": "put"}},
		// The same alert's warning for another operation.
		{id: "f-warn-get", name: "EtcdProbeLatencyHigh", sev: "warning", cluster: "f", member: "etcd-1", extra: map[string]string{"operation": "get"}},
	}

	am.post(t, append(append([]testAlert{}, routing...), sources...))
	sinks.waitWebhook(t, ids(routing, sources)...)
	am.post(t, append(append([]testAlert{}, inhibited...), delivered...))
	sinks.waitWebhook(t, ids(delivered)...)
	// Give inhibited alerts every chance to leak: several group intervals.
	time.Sleep(3 * time.Second)

	for _, a := range inhibited {
		if sinks.webhookHas(a.id) {
			t.Errorf("%s (%s %s) was delivered although it should be inhibited", a.id, a.name, a.sev)
		}
	}
	status := am.statuses(t)
	for _, a := range inhibited {
		if s := status[a.id]; s.State != "suppressed" || len(s.InhibitedBy) == 0 {
			t.Errorf("%s: Alertmanager reports state %q inhibitedBy %v, want suppressed by an inhibition", a.id, s.State, s.InhibitedBy)
		}
	}
	for _, a := range append(append(append([]testAlert{}, routing...), sources...), delivered...) {
		if s := status[a.id]; s.State != "active" {
			t.Errorf("%s: state %q, want active", a.id, s.State)
		}
	}

	// Each severity reached exactly its receivers, through the real
	// integrations and the templates.
	for _, tc := range []struct {
		group                   string
		pagerduty, slack, email bool
	}{
		{"EtcdNoLeader@a", true, true, false},
		{"EtcdMemberPartitioned@a", false, true, true},
		{"EtcdDatabaseFragmented@a", false, false, true},
	} {
		got := sinks.groupsSeen()
		if got["pagerduty"][tc.group] != tc.pagerduty || got["slack"][tc.group] != tc.slack || got["email"][tc.group] != tc.email {
			t.Errorf("%s: pagerduty %v slack %v email %v, want %v %v %v", tc.group,
				got["pagerduty"][tc.group], got["slack"][tc.group], got["email"][tc.group], tc.pagerduty, tc.slack, tc.email)
		}
	}
	sinks.checkRendered(t)
}

type testAlert struct {
	id, name, sev, cluster, member string
	endpointOnly                   string // alerts keyed by endpoint without a member (TLS)
	extra                          map[string]string
}

func ids(lists ...[]testAlert) []string {
	var out []string
	for _, l := range lists {
		for _, a := range l {
			out = append(out, a.id)
		}
	}
	return out
}

func (a testAlert) payload() map[string]any {
	labels := map[string]string{"alertname": a.name, "severity": a.sev, "etcd_cluster": a.cluster, "test_id": a.id}
	where := "etcd cluster " + a.cluster
	if a.member != "" {
		labels["member"] = a.member
		labels["endpoint"] = "https://" + a.member + ":2379"
		where += ": member " + a.member
	}
	if a.endpointOnly != "" {
		labels["endpoint"] = a.endpointOnly
	}
	for k, v := range a.extra {
		labels[k] = v
	}
	return map[string]any{
		"labels": labels,
		"annotations": map[string]string{
			"summary":     where + ": " + a.name,
			"description": "test alert " + a.id + " with value 42",
			"value":       "42",
			"runbook_url": "https://github.com/etcd-monitor/etcd-monitor/blob/main/docs/runbooks.md#" + strings.ToLower(a.name),
		},
		"startsAt":     time.Now().Add(-time.Minute).UTC().Format(time.RFC3339),
		"generatorURL": "http://prometheus.test/graph",
	}
}

// sinks stands in for Slack, PagerDuty, the SMTP relay and etcd-monitor's
// alert-history webhook.
type sinks struct{ *testsink.Sinks }

func startSinks(t *testing.T) *sinks { return &sinks{testsink.Start(t)} }

// webhookHas reports whether the alert with test_id id reached the webhook.
func (s *sinks) webhookHas(id string) bool {
	for _, n := range s.All() {
		if n.Receiver != "webhook" {
			continue
		}
		for _, labels := range n.Alerts {
			if labels["test_id"] == id {
				return true
			}
		}
	}
	return false
}

func (s *sinks) waitWebhook(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var missing []string
		for _, id := range want {
			if !s.webhookHas(id) {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook never received %v", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// groupsSeen returns, by receiver, the groups (alertname@cluster) that
// reached it.
func (s *sinks) groupsSeen() map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, n := range s.All() {
		if out[n.Receiver] == nil {
			out[n.Receiver] = map[string]bool{}
		}
		out[n.Receiver][n.Alert+"@"+n.Cluster] = true
	}
	return out
}

// checkRendered looks at what people would read: each integration got the
// templates' cluster, member, value and runbook link.
func (s *sinks) checkRendered(t *testing.T) {
	t.Helper()
	rendered := map[string][]string{}
	for _, n := range s.All() {
		rendered[n.Receiver] = append(rendered[n.Receiver], n.Body)
	}
	want := map[string][]string{
		"slack":     {"EtcdMemberPartitioned on etcd cluster a", "cluster a, member etcd-2", "value: `42`", "runbooks.md#etcdmemberpartitioned|runbook>"},
		"email":     {"Subject: [FIRING:1] EtcdMemberPartitioned on etcd cluster a", "cluster a, member etcd-2", "value: 42", "runbook: https://github.com/etcd-monitor/etcd-monitor/blob/main/docs/runbooks.md#etcdmemberpartitioned"},
		"pagerduty": {"key=test-routing-key", "severity=critical", "[FIRING:1] EtcdNoLeader: etcd cluster a: EtcdNoLeader (value 42)", "runbooks.md#etcdnoleader"},
	}
	for receiver, needles := range want {
		all := strings.Join(rendered[receiver], "\n---\n")
		for _, n := range needles {
			if !strings.Contains(all, n) {
				t.Errorf("%s notifications do not contain %q:\n%s", receiver, n, all)
			}
		}
	}
}

// testConfig is alertmanager.yml with what a deployment changes (secret
// files, endpoints) pointed at the sinks, and 1s grouping.
func testConfig(t *testing.T, s *sinks) string {
	t.Helper()
	return s.AlertmanagerConfig(t, t.TempDir(), "test-routing-key", s.HTTP.URL+"/webhook")
}

type runningAM struct {
	url string
}

// startAlertmanager runs bin on config and returns once it is ready; its
// output is logged if the test fails.
func startAlertmanager(t *testing.T, bin, config string) *runningAM {
	t.Helper()
	addr := freeport.Addr(t)
	p := testproc.Start(t, "alertmanager", bin,
		"--config.file="+config,
		"--storage.path="+t.TempDir(),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip port
		"--log.level=info")
	am := &runningAM{url: "http://" + addr}
	p.WaitReady(t, am.url+"/-/ready", 15*time.Second)
	return am
}

func (am *runningAM) post(t *testing.T, alerts []testAlert) {
	t.Helper()
	var payload []map[string]any
	for _, a := range alerts {
		payload = append(payload, a.payload())
	}
	b, _ := json.Marshal(payload)
	resp, err := http.Post(am.url+"/api/v2/alerts", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /api/v2/alerts: %s %s", resp.Status, body)
	}
}

type alertStatus struct {
	State       string   `json:"state"`
	InhibitedBy []string `json:"inhibitedBy"`
}

// statuses returns Alertmanager's own view of each test alert.
func (am *runningAM) statuses(t *testing.T) map[string]alertStatus {
	t.Helper()
	resp, err := http.Get(am.url + "/api/v2/alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct {
		Labels map[string]string `json:"labels"`
		Status alertStatus       `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	out := map[string]alertStatus{}
	var seen []string
	for _, a := range list {
		out[a.Labels["test_id"]] = a.Status
		seen = append(seen, a.Labels["test_id"])
	}
	sort.Strings(seen)
	t.Logf("alertmanager holds %d alerts: %v", len(seen), seen)
	return out
}
