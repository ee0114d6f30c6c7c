package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder keeps what Files reports instead of failing the real test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, format)
}

func TestFilesReportsDriftAndStale(t *testing.T) {
	dir := t.TempDir()
	for name, s := range map[string]string{"a.json": "1\n2\n", "old.json": "x"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &recorder{TB: t}
	Files(r, dir, map[string][]byte{"a.json": []byte("1\n3\n"), "b.json": []byte("new")}, "*.json", "make it")
	got := strings.Join(r.errs, "|")
	if len(r.errs) != 3 || !strings.Contains(got, "differs") || !strings.Contains(got, "no longer generated") {
		t.Errorf("want a drift, a missing and a stale file reported, got %q", r.errs)
	}
	r = &recorder{TB: t}
	Files(r, dir, map[string][]byte{"a.json": []byte("1\n2\n")}, "a.json", "make it")
	if len(r.errs) != 0 {
		t.Errorf("identical files reported: %q", r.errs)
	}
}

func TestFirstDiffLine(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"a\nb\n", "a\nc\n", 2}, {"a", "b", 1}, {"a\n", "a\nb", 2}} {
		if got := FirstDiffLine([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("FirstDiffLine(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
