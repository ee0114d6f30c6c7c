package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/etcd-monitor/etcd-monitor/benchmark"
)

// section returns the Markdown section of file under heading (a "## "
// line), up to the next heading of that level.
func section(t *testing.T, file, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, file))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no section %q", file, heading)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// TestReadmeServeFlags: every flag `serve --help` shows is in README's
// table of serve's flags.
func TestReadmeServeFlags(t *testing.T) {
	out, err := exec.Command(monitorBin, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("serve --help: %v\n%s", err, out)
	}
	table := section(t, "README.md", "## Flags of `serve`")
	flags := regexp.MustCompile(`(?m)^ {2,8}--(?:\[no-\])?([a-z][a-z0-9.-]*)`).FindAllStringSubmatch(string(out), -1)
	if len(flags) < 20 {
		t.Fatalf("serve --help lists %d flags:\n%s", len(flags), out)
	}
	for _, f := range flags {
		switch f[1] {
		case "help", "help-long", "help-man", "version":
			continue
		}
		if !strings.Contains(table, "`--"+f[1]+"`") && !strings.Contains(table, "`--[no-]"+f[1]+"`") {
			t.Errorf("README.md's table of serve's flags lacks --%s", f[1])
		}
	}
}

// TestReadmeAPI: every route of the REST API (internal/api) and the
// lifecycle endpoint are in README's REST API table.
func TestReadmeAPI(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "internal", "api", "api.go"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"POST /-/reload"}
	for _, m := range regexp.MustCompile(`a\.route\("([^"]+)", http\.Method(\w+)`).FindAllStringSubmatch(string(src), -1) {
		if strings.HasPrefix(m[1], "/api/v1/demo/") {
			continue // the demo's own, under Commands
		}
		want = append(want, strings.ToUpper(m[2])+" "+m[1])
	}
	if len(want) < 10 {
		t.Fatalf("found only %v in internal/api/api.go", want)
	}
	table := section(t, "README.md", "## REST API")
	for _, w := range want {
		if !strings.Contains(table, "| `"+w+"` |") {
			t.Errorf("README.md's REST API table lacks `%s`", w)
		}
	}
}

// TestReadmeLayout: every path README's Layout table names exists, and
// every directory of the tree (internal's packages one by one) is named.
func TestReadmeLayout(t *testing.T) {
	table := section(t, "README.md", "## Layout")
	var named []string
	for _, line := range strings.Split(table, "\n") {
		cell, _, ok := strings.Cut(strings.TrimPrefix(line, "| "), " |")
		if !ok || !strings.HasPrefix(line, "| `") {
			continue
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cell, -1) {
			p := strings.TrimSuffix(strings.TrimSuffix(m[1], "*"), "/")
			named = append(named, p)
			if _, err := os.Stat(filepath.Join(repoRoot, p)); err != nil {
				t.Errorf("README.md's Layout names %s, which does not exist", m[1])
			}
		}
	}
	covered := func(dir string) bool {
		for _, n := range named {
			if n == dir || strings.HasPrefix(dir, n+"/") {
				return true
			}
		}
		return false
	}
	// The top level, and one level down where the table names parts.
	var dirs []string
	for _, parent := range []string{".", "internal", "charts", "cmd", "scripts"} {
		entries, err := os.ReadDir(filepath.Join(repoRoot, parent))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			name := e.Name()
			if !e.IsDir() || strings.HasPrefix(name, ".") || name == "bin" || (parent == "." && name == "internal") {
				continue
			}
			dirs = append(dirs, filepath.ToSlash(filepath.Join(parent, name)))
		}
	}
	under := func(dir string) bool {
		for _, n := range named {
			if strings.HasPrefix(n, dir+"/") {
				return true
			}
		}
		return false
	}
	for _, d := range dirs {
		// docs/ is linked all over; a directory listed part by part
		// (charts/, cmd/, scripts/) is checked one level down.
		if !covered(d) && d != "docs" && (strings.Contains(d, "/") || !under(d)) {
			t.Errorf("README.md's Layout does not name %s/", d)
		}
	}
}

// TestBenchmarkDocBounds: docs/benchmark.md's flag table states the bounds
// benchmark.Config.Validate enforces.
func TestBenchmarkDocBounds(t *testing.T) {
	table := section(t, "docs/benchmark.md", "## Flags")
	for _, bound := range []string{
		thousands(benchmark.MaxClients), thousands(benchmark.MaxConns), thousands(benchmark.MaxKeySpaceSize),
		strconv.Itoa(benchmark.MaxInFlightBytes>>20) + " MiB",
		strconv.FormatFloat(float64(benchmark.MaxRequestBytes)/(1<<20), 'f', -1, 64) + " MiB",
	} {
		if !strings.Contains(table, bound) {
			t.Errorf("docs/benchmark.md's flag table does not state the bound %s", bound)
		}
	}
}

// thousands writes n with commas, as the docs do (10,000).
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
