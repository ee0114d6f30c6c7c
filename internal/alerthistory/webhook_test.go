package alerthistory_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/api"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
)

var update = flag.Bool("update", false, "save the captured webhook body as the fuzz fixture")

// TestRealAlertmanagerWebhook runs the pinned alertmanager with a webhook
// receiver pointing at the monitor's API, its bearer token from a
// credentials_file as the shipped alertmanager.yml has it, fires and
// resolves an alert through Alertmanager's own API, and checks that the
// exact requests Alertmanager sends pass the token and media type checks
// and are kept. The first body is saved as the fixture the fuzz target
// starts from.
func TestRealAlertmanagerWebhook(t *testing.T) {
	amBin := testbin.Require(t, "run `make tools`", "alertmanager")
	store := alerthistory.New(100, collector.LabelCluster, slog.New(slog.DiscardHandler))
	const token = "am-webhook-token-3f9c"
	a := api.New(api.Options{Alerts: store, WebhookToken: []byte(token)})
	var mu sync.Mutex
	var bodies [][]byte
	var codes []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec := httptest.NewRecorder()
		r.Body = io.NopCloser(bytes.NewReader(b))
		a.ServeHTTP(rec, r)
		mu.Lock()
		bodies = append(bodies, b)
		codes = append(codes, rec.Code)
		mu.Unlock()
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()

	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "webhook_token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`route:
  receiver: monitor
  group_by: [alertname, etcd_cluster]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: monitor
    webhook_configs:
      - url: %s/api/v1/alerts
        send_resolved: true
        http_config:
          authorization:
            credentials_file: %s
`, srv.URL, tokenFile)
	if err := os.WriteFile(filepath.Join(dir, "am.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeport.Addr(t)
	am := testproc.Start(t, "alertmanager", amBin, "--config.file="+filepath.Join(dir, "am.yml"), "--storage.path="+dir,
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	amURL := "http://" + addr
	am.WaitReady(t, amURL+"/-/ready", 30*time.Second)

	post := func(endsAt time.Time) {
		alert := []map[string]any{{
			"labels":      map[string]string{"alertname": "EtcdMemberUnreachable", "severity": "warning", "etcd_cluster": "prod-a", "member": "m2"},
			"annotations": map[string]string{"summary": "etcd member m2 of prod-a is unreachable"},
			"startsAt":    time.Now().Add(-time.Minute).UTC().Format(time.RFC3339),
		}}
		if !endsAt.IsZero() {
			alert[0]["endsAt"] = endsAt.UTC().Format(time.RFC3339)
		}
		b, _ := json.Marshal(alert)
		resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("posting to alertmanager: %d", resp.StatusCode)
		}
	}
	waitBodies := func(n int) {
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			got := len(bodies)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("alertmanager sent %d notifications, want %d; its log:\n%s", got, n, am.Output())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	post(time.Time{})
	waitBodies(1)
	post(time.Now().Add(-time.Second)) // resolved
	waitBodies(2)

	mu.Lock()
	defer mu.Unlock()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("notification %d answered %d: %s", i, c, bodies[i])
		}
	}
	if *update {
		if err := os.WriteFile(filepath.Join("testdata", "alertmanager-v0.28.1-webhook.json"), bodies[0], 0o644); err != nil {
			t.Errorf("saving the fixture: %v", err)
		}
	}
	h := store.List(alerthistory.Filter{})
	if len(h) < 2 || h[0].Status != "resolved" || h[len(h)-1].Status != "firing" {
		t.Fatalf("history, newest first: %+v", h)
	}
	e := h[len(h)-1]
	if e.AlertName != "EtcdMemberUnreachable" || e.Cluster != "prod-a" || e.Severity != "warning" || e.Member != "m2" || !strings.Contains(e.Summary, "unreachable") || e.Receiver != "monitor" {
		t.Errorf("kept entry: %+v", e)
	}
	if got := store.List(alerthistory.Filter{Status: "firing", Cluster: "prod-a", AlertName: "EtcdMemberUnreachable"}); len(got) != 1 {
		t.Errorf("filtered history: %+v", got)
	}
}
