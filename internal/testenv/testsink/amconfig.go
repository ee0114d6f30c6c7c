package testsink

import (
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
)

// WebhookToken is the bearer token AlertmanagerConfig's webhook sends, for
// a monitor started with --alerts.webhook-token-file.
const WebhookToken = "test-webhook-token"

// AlertmanagerConfig writes into dir the shipped alertmanager.yml with
// what a deployment changes pointed at s: the SMTP relay, the secret files
// (PagerDuty's routing key is routingKey), the PagerDuty and Slack URLs,
// and the webhook's URL (webhookURL: s's own /webhook, or the monitor's
// alert API). For tests only, grouping waits 1s instead of 30s (10s)/5m, so a
// notification follows its alert at once. Routes, receivers, inhibitions
// and templates are the shipped ones. It returns the file's path.
func (s *Sinks) AlertmanagerConfig(t testing.TB, dir, routingKey, webhookURL string) string {
	t.Helper()
	shipped := filepath.Join(testbin.RepoRoot(), "alertmanager")
	b, err := os.ReadFile(filepath.Join(shipped, "alertmanager.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets")
	if err := os.MkdirAll(secrets, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := func(name, value string) string {
		p := filepath.Join(secrets, name)
		if err := os.WriteFile(p, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	global := cfg["global"].(map[string]any)
	global["smtp_smarthost"] = s.SMTP.Addr().String()
	global["smtp_require_tls"] = false
	global["smtp_auth_password_file"] = secret("smtp_password", "not-sent")
	cfg["templates"] = []any{filepath.Join(shipped, "templates", "*.tmpl")}
	route := cfg["route"].(map[string]any)
	route["group_wait"] = "1s"
	route["group_interval"] = "1s"
	for _, r := range route["routes"].([]any) { // critical routes set their own group_wait
		if sub := r.(map[string]any); sub["group_wait"] != nil {
			sub["group_wait"] = "1s"
		}
	}
	seen := map[string]bool{}
	for _, r := range cfg["receivers"].([]any) {
		rcv := r.(map[string]any)
		name := rcv["name"].(string)
		seen[name] = true
		switch name {
		case "pagerduty":
			c := rcv["pagerduty_configs"].([]any)[0].(map[string]any)
			c["url"] = s.HTTP.URL + "/pagerduty"
			c["routing_key_file"] = secret("pagerduty_routing_key", routingKey)
		case "slack":
			c := rcv["slack_configs"].([]any)[0].(map[string]any)
			c["api_url_file"] = secret("slack_api_url", s.HTTP.URL+"/slack")
		case "webhook":
			c := rcv["webhook_configs"].([]any)[0].(map[string]any)
			c["url"] = webhookURL
			c["http_config"] = map[string]any{"authorization": map[string]any{"credentials_file": secret("webhook_token", WebhookToken)}}
		}
	}
	for _, n := range []string{"pagerduty", "slack", "email", "webhook"} {
		if !seen[n] {
			t.Fatalf("alertmanager/alertmanager.yml has no receiver %q", n)
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
