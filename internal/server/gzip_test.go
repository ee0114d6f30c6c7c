package server

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestGzipHandler: what a client sees of a compressed response, by what it
// accepts and by the status the handler answers with.
func TestGzipHandler(t *testing.T) {
	body := strings.Repeat("etcd_monitor_member_up{etcd_cluster=\"a\"} 1\n", 1000)
	h := &gzipHandler{h: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("fail") != "" {
			http.Error(w, "nothing gathered", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	})}
	for _, tc := range []struct {
		name, accept, target string
		gzipped              bool
		want                 string
	}{
		{"as Prometheus asks", "gzip", "/metrics", true, body},
		{"among others, with a weight", "br;q=1.0, GZIP;q=0.5, identity", "/metrics", true, body},
		{"refused", "gzip;q=0, identity", "/metrics", false, body},
		{"not asked", "", "/metrics", false, body},
		{"an error stays plain", "gzip", "/metrics?fail=1", false, "nothing gathered\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tc.target, nil)
			if tc.accept != "" {
				req.Header.Set("Accept-Encoding", tc.accept)
			}
			// Twice: the second response reuses the first's writer.
			for range 2 {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				res := rec.Result()
				if got := res.Header.Get("Vary"); got != "Accept-Encoding" {
					t.Errorf("Vary %q", got)
				}
				var r io.Reader = res.Body
				if enc := res.Header.Get("Content-Encoding"); (enc == "gzip") != tc.gzipped {
					t.Fatalf("Content-Encoding %q, want gzip: %v", enc, tc.gzipped)
				}
				if tc.gzipped {
					zr, err := gzip.NewReader(res.Body)
					if err != nil {
						t.Fatal(err)
					}
					r = zr
				}
				got, err := io.ReadAll(r)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != tc.want {
					t.Fatalf("body %d bytes %.40q…, want %d bytes %.40q…", len(got), got, len(tc.want), tc.want)
				}
			}
		})
	}
}
