package alertmanager

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/testbin"

	"github.com/etcd-monitor/etcd-monitor/internal/testsink"
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
	if t.Failed() {
		t.Logf("alertmanager log:\n%s", am.log.String())
	}
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
type sinks struct {
	http *httptest.Server
	smtp net.Listener

	mu       sync.Mutex
	webhook  map[string]bool            // test_id delivered
	groups   map[string]map[string]bool // receiver -> alertname@cluster
	rendered map[string][]string        // receiver -> bodies
}

var (
	titleRe = regexp.MustCompile(`\] (Etcd\w+) on etcd cluster (\S+)`)
	pdRe    = regexp.MustCompile(`\] (Etcd\w+): `)
)

func startSinks(t *testing.T) *sinks {
	t.Helper()
	s := &sinks{webhook: map[string]bool{}, groups: map[string]map[string]bool{}, rendered: map[string][]string{}}
	s.http = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.http.Close)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.smtp = l
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go testsink.ServeSMTP(c, s.recordMail)
		}
	}()
	return s
}

func (s *sinks) record(receiver, group, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups[receiver] == nil {
		s.groups[receiver] = map[string]bool{}
	}
	s.groups[receiver][group] = true
	s.rendered[receiver] = append(s.rendered[receiver], body)
}

func (s *sinks) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch r.URL.Path {
	case "/webhook":
		var p struct {
			Alerts []struct {
				Labels map[string]string `json:"labels"`
			} `json:"alerts"`
			GroupLabels map[string]string `json:"groupLabels"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		for _, a := range p.Alerts {
			s.webhook[a.Labels["test_id"]] = true
		}
		s.mu.Unlock()
		s.record("webhook", p.GroupLabels["alertname"]+"@"+p.GroupLabels["etcd_cluster"], string(body))
	case "/slack":
		var p struct {
			Attachments []struct {
				Title string `json:"title"`
				Text  string `json:"text"`
			} `json:"attachments"`
		}
		if err := json.Unmarshal(body, &p); err != nil || len(p.Attachments) == 0 {
			http.Error(w, "bad slack payload", http.StatusBadRequest)
			return
		}
		if m := titleRe.FindStringSubmatch(p.Attachments[0].Title); m != nil {
			s.record("slack", m[1]+"@"+m[2], p.Attachments[0].Title+"\n"+p.Attachments[0].Text)
		}
		_, _ = w.Write([]byte("ok"))
	case "/pagerduty":
		var p struct {
			RoutingKey string `json:"routing_key"`
			Payload    struct {
				Summary       string            `json:"summary"`
				Severity      string            `json:"severity"`
				CustomDetails map[string]string `json:"custom_details"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if m := pdRe.FindStringSubmatch(p.Payload.Summary); m != nil {
			s.record("pagerduty", m[1]+"@"+p.Payload.CustomDetails["cluster"],
				fmt.Sprintf("key=%s severity=%s %s %v", p.RoutingKey, p.Payload.Severity, p.Payload.Summary, p.Payload.CustomDetails))
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"success","message":"Event processed"}`))
	default:
		http.NotFound(w, r)
	}
}

func (s *sinks) recordMail(raw []byte) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	text := ""
	if _, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type")); err == nil && params["boundary"] != "" {
		mr := multipart.NewReader(msg.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p) // quoted-printable is decoded by NextPart
			if strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain") {
				text = string(b)
			}
		}
	}
	if m := titleRe.FindStringSubmatch(subject); m != nil {
		s.record("email", m[1]+"@"+m[2], "Subject: "+subject+"\n"+text)
	}
}

func (s *sinks) webhookHas(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhook[id]
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

func (s *sinks) groupsSeen() map[string]map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[string]bool{}
	for r, g := range s.groups {
		out[r] = map[string]bool{}
		for k, v := range g {
			out[r][k] = v
		}
	}
	return out
}

// checkRendered looks at what people would read: each integration got the
// templates' cluster, member, value and runbook link.
func (s *sinks) checkRendered(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	want := map[string][]string{
		"slack":     {"EtcdMemberPartitioned on etcd cluster a", "cluster a, member etcd-2", "value: `42`", "runbooks.md#etcdmemberpartitioned|runbook>"},
		"email":     {"Subject: [FIRING:1] EtcdMemberPartitioned on etcd cluster a", "cluster a, member etcd-2", "value: 42", "runbook: https://github.com/etcd-monitor/etcd-monitor/blob/main/docs/runbooks.md#etcdmemberpartitioned"},
		"pagerduty": {"key=test-routing-key", "severity=critical", "[FIRING:1] EtcdNoLeader: etcd cluster a: EtcdNoLeader (value 42)", "runbooks.md#etcdnoleader"},
	}
	for receiver, needles := range want {
		all := strings.Join(s.rendered[receiver], "\n---\n")
		for _, n := range needles {
			if !strings.Contains(all, n) {
				t.Errorf("%s notifications do not contain %q:\n%s", receiver, n, all)
			}
		}
	}
}

// testConfig is alertmanager.yml with what a deployment changes: secret
// files, endpoints and timings.
func testConfig(t *testing.T, s *sinks) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	secret := func(name, value string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	global := cfg["global"].(map[string]any)
	global["smtp_smarthost"] = s.smtp.Addr().String()
	global["smtp_require_tls"] = false
	global["smtp_auth_password_file"] = secret("smtp_password", "not-sent")
	templates, err := filepath.Abs("templates")
	if err != nil {
		t.Fatal(err)
	}
	cfg["templates"] = []any{filepath.Join(templates, "*.tmpl")}
	route := cfg["route"].(map[string]any)
	route["group_wait"] = "1s"
	route["group_interval"] = "1s"
	seen := map[string]bool{}
	for _, r := range cfg["receivers"].([]any) {
		rcv := r.(map[string]any)
		name := rcv["name"].(string)
		seen[name] = true
		switch name {
		case "pagerduty":
			c := rcv["pagerduty_configs"].([]any)[0].(map[string]any)
			c["url"] = s.http.URL + "/pagerduty"
			c["routing_key_file"] = secret("pagerduty_routing_key", "test-routing-key")
		case "slack":
			c := rcv["slack_configs"].([]any)[0].(map[string]any)
			c["api_url_file"] = secret("slack_api_url", s.http.URL+"/slack")
		case "webhook":
			c := rcv["webhook_configs"].([]any)[0].(map[string]any)
			c["url"] = s.http.URL + "/webhook"
		}
	}
	for _, n := range []string{"pagerduty", "slack", "email", "webhook"} {
		if !seen[n] {
			t.Fatalf("%s has no receiver %q", configFile, n)
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return secret("alertmanager.yml", string(out))
}

type runningAM struct {
	url string
	log *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func startAlertmanager(t *testing.T, bin, config string) *runningAM {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	am := &runningAM{url: "http://" + addr, log: &syncBuffer{}}
	cmd := exec.Command(bin,
		"--config.file="+config,
		"--storage.path="+t.TempDir(),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // no gossip port
		"--log.level=info")
	cmd.Stdout, cmd.Stderr = am.log, am.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(am.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return am
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager not ready on %s:\n%s", addr, am.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
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
