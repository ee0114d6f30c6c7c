package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
)

// forgedAlert is the alert name of the notifications checkWebhookAuth
// posts without Alertmanager's token: none may reach the history.
const forgedAlert = "E2EForgedAlert"

// webhookTokenFile returns the credentials_file the webhook receiver of
// Alertmanager's configuration sends as its bearer token, for the monitor's
// --alerts.webhook-token-file: one file for both, as a deployment has it.
func webhookTokenFile(t *testing.T, amConfig string) string {
	t.Helper()
	b, err := os.ReadFile(amConfig)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Receivers []struct {
			Name           string `yaml:"name"`
			WebhookConfigs []struct {
				HTTPConfig struct {
					Authorization struct {
						CredentialsFile string `yaml:"credentials_file"`
					} `yaml:"authorization"`
				} `yaml:"http_config"`
			} `yaml:"webhook_configs"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, r := range cfg.Receivers {
		if r.Name == "webhook" && len(r.WebhookConfigs) == 1 {
			if f := r.WebhookConfigs[0].HTTPConfig.Authorization.CredentialsFile; f != "" {
				return f
			}
		}
	}
	t.Fatalf("%s: the webhook receiver sends no http_config.authorization.credentials_file", amConfig)
	return ""
}

// checkWebhookAuth: the monitor refuses notifications that lack
// Alertmanager's token, so the alerts checkHistory finds came through
// Alertmanager with the token it read from the shared file.
func checkWebhookAuth(t *testing.T, s *stack) {
	t.Helper()
	// What Alertmanager would post, with a name no rule has.
	payload, err := json.Marshal(map[string]any{
		"version": "4", "status": "firing", "receiver": "webhook", "groupKey": "{}:{alertname=\"" + forgedAlert + "\"}",
		"groupLabels": map[string]string{"alertname": forgedAlert}, "externalURL": "http://forged.invalid",
		"alerts": []any{map[string]any{
			"status":      "firing",
			"labels":      map[string]string{"alertname": forgedAlert, "etcd_cluster": s.name, "severity": "critical"},
			"annotations": map[string]string{"summary": "forged"},
			"startsAt":    time.Now().UTC().Format(time.RFC3339), "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "0123456789abcdef",
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	body := string(payload)
	for _, auth := range []string{"", "Bearer not-the-token", "Basic YWRtaW46YWRtaW4="} {
		req, err := http.NewRequest(http.MethodPost, s.monitorURL+"/api/v1/alerts", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(got), "--alerts.webhook-token-file") {
			t.Errorf("POST /api/v1/alerts with Authorization %q: %d %s, want 401 naming --alerts.webhook-token-file",
				auth, resp.StatusCode, testproc.Tail(string(got), 300))
		}
	}
}

// checkWebhookDelivered: Alertmanager delivered every webhook notification
// (the monitor took its token), and no forged alert is in the history.
func checkWebhookDelivered(t *testing.T, s *stack, h []historyEntry) {
	t.Helper()
	for _, e := range h {
		if e.AlertName == forgedAlert {
			t.Errorf("the alert history holds %s, posted without Alertmanager's token", forgedAlert)
		}
	}
	sent, failed, err := s.amWebhookNotifications(context.Background())
	if err != nil {
		t.Errorf("Alertmanager's metrics: %v", err)
		return
	}
	if sent == 0 || failed != 0 {
		t.Errorf("Alertmanager's webhook notifications to the monitor: %v sent, %v failed; want all delivered", sent, failed)
	}
}

// amWebhookNotifications reads Alertmanager's own counters of webhook
// notifications: attempted, and failed (a 401 from the monitor is one).
func (s *stack) amWebhookNotifications(ctx context.Context) (sent, failed float64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.amURL+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, `integration="webhook"`) {
			continue
		}
		f := strings.Fields(line)
		v, perr := strconv.ParseFloat(f[len(f)-1], 64)
		if perr != nil {
			continue
		}
		switch {
		case strings.HasPrefix(line, "alertmanager_notifications_total{"):
			sent += v
		case strings.HasPrefix(line, "alertmanager_notifications_failed_total{"):
			failed += v
		}
	}
	return sent, failed, nil
}
