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
// panic, whatever it accepts is a valid notification, a body over MaxBody
// is refused as too large, and what is kept stays within the per-alert and
// total bounds.
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
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"x","` +
		strings.Repeat("n", 300) + `":"` + strings.Repeat("\u00e9", 2000) + `"},"annotations":{"summary":"` + strings.Repeat("s", 5000) + `"}}]}`))
	f.Add(append([]byte(`{"version":"4","pad":"`), bytes.Repeat([]byte("x"), MaxBody)...))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := Decode(bytes.NewReader(body))
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error %q", err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if len(body) > MaxBody {
			t.Fatalf("accepted a body of %d bytes", len(body))
		}
		if w.Version != "4" || len(w.Alerts) == 0 {
			t.Fatalf("accepted %q", body)
		}
		s := New(3, "etcd_cluster", slog.New(slog.DiscardHandler), MaxBytes(MinMaxBytes))
		s.Add(w, time.Now())
		got := s.List(Filter{})
		if len(got) == 0 || len(got) > 3 || s.Bytes() > MinMaxBytes {
			t.Fatalf("history of %d entries, %d bytes", len(got), s.Bytes())
		}
		for _, e := range got {
			if e.Size() > MaxEntryBytes || len(e.Labels) > MaxFields || len(e.Annotations) > MaxFields {
				t.Fatalf("entry of %d bytes, %d labels, %d annotations", e.Size(), len(e.Labels), len(e.Annotations))
			}
			for k, v := range e.Labels {
				if len(k) > MaxNameBytes || len(v) > MaxLabelValueBytes {
					t.Fatalf("label of %d+%d bytes", len(k), len(v))
				}
			}
			for k, v := range e.Annotations {
				if len(k) > MaxNameBytes || len(v) > MaxAnnotationValueBytes {
					t.Fatalf("annotation of %d+%d bytes", len(k), len(v))
				}
			}
		}
	})
}
