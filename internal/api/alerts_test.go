package api

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
)

const validWebhook = `{"version":"4","status":"firing","receiver":"webhook","alerts":[{"status":"firing","labels":{"alertname":"EtcdNoLeader","etcd_cluster":"prod","severity":"critical"},"annotations":{"summary":"no leader"}}]}`

func alertsServer(t *testing.T, opts Options) (*httptest.Server, *alerthistory.Store) {
	t.Helper()
	if opts.Alerts == nil {
		opts.Alerts = alerthistory.New(1000, "etcd_cluster", slog.New(slog.DiscardHandler))
	}
	srv := httptest.NewServer(New(opts))
	t.Cleanup(srv.Close)
	return srv, opts.Alerts
}

// chunked hides the length, so the server learns the size only by reading.
type chunked struct{ io.Reader }

// The webhook's answers to hostile and mistaken posts. Before: any media
// type was taken (text/plain: 200, so a web page could post from a
// browser), bodies over the limit got 400 "unexpected EOF", and no token
// could be required.
func TestAlertWebhookInput(t *testing.T) {
	huge := `{"version":"4","status":"firing","alerts":[],"pad":"` + strings.Repeat("x", alerthistory.MaxBody) + `"}`
	cases := []struct {
		name        string
		token       string // the monitor's; "" for none
		contentType string
		auth        string
		body        io.Reader
		status      int
		errHas      string
	}{
		{"valid", "", "application/json", "", strings.NewReader(validWebhook), 200, ""},
		{"charset parameter", "", "application/json; charset=utf-8", "", strings.NewReader(validWebhook), 200, ""},
		{"text/plain", "", "text/plain", "", strings.NewReader(validWebhook), 415, "want application/json"},
		{"form", "", "application/x-www-form-urlencoded", "", strings.NewReader(validWebhook), 415, "want application/json"},
		{"no content type", "", "", "", strings.NewReader(validWebhook), 415, "want application/json"},
		{"broken media type", "", "application/json; =", "", strings.NewReader(validWebhook), 415, "want application/json"},
		{"broken JSON", "", "application/json", "", strings.NewReader("{"), 400, "not an Alertmanager webhook payload"},
		{"bad status", "", "application/json", "", strings.NewReader(`{"version":"4","status":"x"}`), 400, `status "x"`},
		{"over the limit, with length", "", "application/json", "", strings.NewReader(huge), 413, "larger than 1048576 bytes"},
		{"over the limit, chunked", "", "application/json", "", chunked{strings.NewReader(huge)}, 413, "larger than 1048576 bytes"},
		{"token: none sent", "s3cret", "application/json", "", strings.NewReader(validWebhook), 401, "Authorization: Bearer"},
		{"token: wrong", "s3cret", "application/json", "Bearer s3cre", strings.NewReader(validWebhook), 401, "Authorization: Bearer"},
		{"token: basic auth", "s3cret", "application/json", "Basic czNjcmV0Og==", strings.NewReader(validWebhook), 401, "Authorization: Bearer"},
		{"token: right", "s3cret", "application/json", "Bearer s3cret", strings.NewReader(validWebhook), 200, ""},
		{"token: scheme in lower case", "s3cret", "application/json", "bearer s3cret", strings.NewReader(validWebhook), 200, ""},
		{"token: wrong, huge body", "s3cret", "application/json", "Bearer nope", strings.NewReader(huge), 401, "Authorization: Bearer"},
		{"token: right, text/plain", "s3cret", "text/plain", "Bearer s3cret", strings.NewReader(validWebhook), 415, "want application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, store := alertsServer(t, Options{WebhookToken: []byte(tc.token)})
			req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/alerts", tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("answered %q", ct)
			}
			kept := store.Len()
			if tc.status != 200 {
				var e errorBody
				if err := json.Unmarshal(b, &e); err != nil || e.Status != tc.status || !strings.Contains(e.Error, tc.errHas) || strings.Contains(e.Error, "\n") {
					t.Errorf("error body %s, want one line with %q", b, tc.errHas)
				}
				if kept != 0 {
					t.Errorf("refused, yet %d alerts kept", kept)
				}
				if tc.token != "" && strings.Contains(string(b), tc.token) {
					t.Errorf("the answer shows the token: %s", b)
				}
				if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			if kept != 1 {
				t.Errorf("%d alerts kept, want 1", kept)
			}
		})
	}
}

type historyPage struct {
	Alerts     []alerthistory.Entry `json:"alerts"`
	NextCursor uint64               `json:"next_cursor"`
}

func getHistory(t *testing.T, url string) (historyPage, int, int) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p historyPage
	if resp.StatusCode == 200 {
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return p, resp.StatusCode, len(b)
}

// The history comes in pages: 100 entries by default, ?limit= up to
// alerthistory.MaxPage, ?cursor= the previous page's next_cursor, and no
// page much beyond 1 MiB of JSON whatever the limit. Before, one GET
// returned every entry kept (503 MB in the report of the attack).
func TestAlertHistoryPages(t *testing.T) {
	srv, store := alertsServer(t, Options{})
	post := func(labels map[string]string, ann map[string]string) {
		w := &alerthistory.Webhook{Alerts: []alerthistory.WebhookAlert{{Status: "firing", Labels: labels, Annotations: ann}}}
		store.Add(w, time.Now())
	}
	for i := range 250 {
		post(map[string]string{"alertname": fmt.Sprint("A", i), "etcd_cluster": "prod"}, nil)
	}
	cases := []struct {
		query  string
		status int
		n      int
		more   bool
	}{
		{"", 200, 100, true},
		{"?limit=500", 200, 250, false},
		{"?limit=7", 200, 7, true},
		{"?limit=0", 400, 0, false},
		{"?limit=501", 400, 0, false},
		{"?limit=x", 400, 0, false},
		{"?cursor=x", 400, 0, false},
		{"?cursor=0", 400, 0, false},
		{"?cursor=11", 200, 10, false},
		{"?status=sleeping", 400, 0, false},
		{"?alertname=A3", 200, 1, false},
	}
	for _, tc := range cases {
		p, status, _ := getHistory(t, srv.URL+"/api/v1/alerts/history"+tc.query)
		if status != tc.status || len(p.Alerts) != tc.n || (p.NextCursor != 0) != tc.more {
			t.Errorf("%q: %d, %d alerts, next %d; want %d, %d alerts, more %v", tc.query, status, len(p.Alerts), p.NextCursor, tc.status, tc.n, tc.more)
		}
	}
	// Walking the cursor sees every entry once.
	seen := map[uint64]bool{}
	for url := srv.URL + "/api/v1/alerts/history?limit=60"; ; {
		p, _, _ := getHistory(t, url)
		for _, e := range p.Alerts {
			if seen[e.ID] {
				t.Fatalf("entry %d twice", e.ID)
			}
			seen[e.ID] = true
		}
		if p.NextCursor == 0 {
			break
		}
		url = fmt.Sprintf("%s/api/v1/alerts/history?limit=60&cursor=%d", srv.URL, p.NextCursor)
	}
	if len(seen) != 250 {
		t.Errorf("the pages held %d entries, want 250", len(seen))
	}

	// Entries of the largest size: the page stops near 1 MiB and says
	// where to go on.
	big := strings.Repeat("\x01", alerthistory.MaxAnnotationValueBytes) // 6 bytes each as JSON
	for i := range 300 {
		post(map[string]string{"alertname": fmt.Sprint("B", i)}, map[string]string{"summary": big, "description": big, "x": big})
	}
	p, status, size := getHistory(t, srv.URL+"/api/v1/alerts/history?limit=500")
	if status != 200 || p.NextCursor == 0 || len(p.Alerts) == 0 || len(p.Alerts) == 500 {
		t.Fatalf("big entries: %d, %d alerts, next %d", status, len(p.Alerts), p.NextCursor)
	}
	if size > 2*maxHistoryBytes {
		t.Errorf("a page of %d bytes", size)
	}
	next, _, _ := getHistory(t, fmt.Sprintf("%s/api/v1/alerts/history?limit=500&cursor=%d", srv.URL, p.NextCursor))
	if len(next.Alerts) == 0 || next.Alerts[0].ID >= p.Alerts[len(p.Alerts)-1].ID {
		t.Errorf("the next page starts at %+v", next.Alerts)
	}
}

func TestBearerMatches(t *testing.T) {
	for _, tc := range []struct {
		header string
		ok     bool
	}{
		{"Bearer tok", true}, {"BEARER tok", true}, {"Bearer  tok ", true},
		{"Bearer to", false}, {"Bearer tokk", false}, {"Bearer", false}, {"tok", false}, {"Basic tok", false}, {"", false},
	} {
		if got := bearerMatches(tc.header, []byte("tok")); got != tc.ok {
			t.Errorf("%q: %v", tc.header, got)
		}
	}
}
