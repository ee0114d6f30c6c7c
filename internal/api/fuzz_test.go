package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

// FuzzAPI sends arbitrary requests to every route: no input may panic the
// handler, and every answer is JSON; the only 5xx is 503 for a cluster not
// checked yet. The alert webhook requires its token and application/json
// before anything else, and the history stays within its bounds.
func FuzzAPI(f *testing.F) {
	// One cluster checked, one not yet: both paths of every handler.
	const token = "fuzz-token"
	alerts := alerthistory.New(10, "etcd_cluster", slog.New(slog.DiscardHandler), alerthistory.MaxBytes(alerthistory.MinMaxBytes))
	one := statustest.New("a").Set(statustest.Healthy("a", time.Now()))
	two := statustest.New("b c")
	a := New(Options{
		Clusters:     []status.Source{one, two},
		Alerts:       alerts,
		WebhookToken: []byte(token),
	})
	fixture, _ := os.ReadFile("../alerthistory/testdata/alertmanager-v0.28.1-webhook.json")
	for _, p := range []string{"/health", "/api/v1/cluster/status", "/api/v1/cluster/leader?cluster=a", "/api/v1/metrics/current?cluster=b%20c",
		"/api/v1/metrics/latency", "/api/v1/alerts/history?limit=3&status=firing", "/api/v1/clusters?name=a*&state=unhealthy,healthy&limit=1&offset=1", "/api/v1/demo/members/m1/stop", "/api/v1/x"} {
		f.Add("GET", p, "", "", []byte(nil))
	}
	f.Add("GET", "/api/v1/alerts/history?limit=500&cursor=3", "", "", []byte(nil))
	f.Add("POST", "/api/v1/alerts", "application/json", "Bearer "+token, fixture)
	f.Add("POST", "/api/v1/alerts", "application/json; charset=utf-8", "Bearer "+token, fixture)
	f.Add("POST", "/api/v1/alerts", "text/plain", "Bearer "+token, fixture)
	f.Add("POST", "/api/v1/alerts", "application/json", "Bearer x", fixture)
	f.Add("POST", "/api/v1/alerts", "application/json", "Bearer "+token, append([]byte(`{"version":"4","x":"`), bytes.Repeat([]byte("x"), alerthistory.MaxBody)...))
	f.Add("POST", "/api/v1/performance/benchmark?cluster=a", "application/json", "", []byte(`{"workload":"write"}`))
	f.Fuzz(func(t *testing.T, method, target, contentType, auth string, body []byte) {
		if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") || !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \t\r\n#") {
			return // not a request an HTTP server would parse
		}
		req, err := http.NewRequest(method, "http://x"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body.String())
		}
		if method == http.MethodPost && req.URL.Path == "/api/v1/alerts" {
			mt, _, _ := mime.ParseMediaType(contentType)
			switch {
			case !bearerMatches(auth, []byte(token)):
				if rec.Code != http.StatusUnauthorized {
					t.Fatalf("webhook without the token: %d", rec.Code)
				}
			case mt != "application/json":
				if rec.Code != http.StatusUnsupportedMediaType {
					t.Fatalf("webhook with Content-Type %q: %d", contentType, rec.Code)
				}
			case len(body) > alerthistory.MaxBody && rec.Code != http.StatusRequestEntityTooLarge && rec.Code != http.StatusBadRequest:
				t.Fatalf("webhook body of %d bytes: %d", len(body), rec.Code)
			}
		}
		if alerts.Len() > 10 || alerts.Bytes() > alerthistory.MinMaxBytes {
			t.Fatalf("history of %d entries, %d bytes", alerts.Len(), alerts.Bytes())
		}
		if strings.HasPrefix(req.URL.Path, "/api/v1/alerts/history") && rec.Body.Len() > 2<<20 {
			t.Fatalf("history answer of %d bytes", rec.Body.Len())
		}
		// ServeMux redirects unclean paths (/api/./x) before any handler.
		api := strings.HasPrefix(req.URL.Path, "/api/") || req.URL.Path == "/health"
		if api && (rec.Code < 300 || rec.Code >= 400) {
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: not JSON: %q", method, target, rec.Body.String())
			}
		}
	})
}
