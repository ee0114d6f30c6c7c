package alerthistory

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzDecode: no body makes the webhook decoder (and the store behind it)
// panic, and whatever it accepts is a valid notification.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"x"}}]}`))
	f.Add([]byte(`{"version":"4","status":"resolved","alerts":[]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := Decode(bytes.NewReader(body))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			return
		}
		if w.Version != "4" || len(w.Alerts) == 0 {
			t.Fatalf("accepted %q", body)
		}
		s := New(3, "etcd_cluster", slog.New(slog.DiscardHandler))
		s.Add(w, time.Now())
		if got := s.List(Filter{}); len(got) == 0 || len(got) > 3 {
			t.Fatalf("history of %d entries", len(got))
		}
	})
}
