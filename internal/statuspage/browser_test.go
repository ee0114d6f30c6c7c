//go:build unix

package statuspage

import (
	"bytes"
	"context"
	"image/png"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/alerthistory"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
)

// artifactDir keeps the screenshots for people to look at; it is
// git-ignored (testdata/.gitignore).
const artifactDir = "testdata/artifacts"

// The page as a real browser builds it: the DOM Chromium constructs from
// our HTML holds the member rows, the quorum text and the trend charts, and
// phone- and desktop-sized screenshots are kept as artifacts.
func TestPageInBrowser(t *testing.T) {
	chromium := testbin.Require(t, "apt-get install chromium", "chromium")
	src, trends := anHour(t, time.Now())
	alerts := alerthistory.New(100, collector.LabelCluster, slog.New(slog.DiscardHandler))
	addAlert(t, alerts, "resolved", "EtcdHighProbeLatency", "m2", "probe p99 on m2 above 100ms")
	h := newHandler(t, Options{Clusters: []status.Source{src}, Alerts: alerts, Trends: trends, Version: "test"})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if err := os.MkdirAll(artifactDir, 0o755); err != nil {
		t.Fatal(err)
	}

	dom := runChromium(t, chromium, "--dump-dom", srv.URL+"/")
	rows := memberRows(dom)
	for _, name := range []string{"m1", "m2", "m3"} {
		if r, ok := rows[name]; !ok || r.status != "UP" {
			t.Errorf("browser DOM: member %s row %+v", name, r)
		}
	}
	for _, want := range []string{"quorum 2 of 3, tolerates 1 failure", ">HEALTHY</span>", "EtcdHighProbeLatency"} {
		if !strings.Contains(dom, want) {
			t.Errorf("browser DOM lacks %q", want)
		}
	}
	// Chromium parsed the inline SVG as SVG: the charts come back from its
	// DOM well-formed, with their lines and bars.
	cs := charts(t, dom)
	if len(cs) != 3 || len(cs["Probe p99"].svg.Paths) != 4 || len(cs["DB size"].svg.Paths) != 2 || len(cs["Leader changes"].svg.Rects) != 2 {
		t.Errorf("browser DOM charts: %d, %+v", len(cs), cs)
	}
	screenshot(t, chromium, srv.URL, "statuspage-phone-healthy.png", 412, 915)
	screenshot(t, chromium, srv.URL, "statuspage-desktop-healthy.png", 1280, 900)
	// The charts' colours come from the stylesheet, dark scheme included.
	screenshot(t, chromium, srv.URL, "statuspage-desktop-dark.png", 1280, 900, "--force-dark-mode")

	addAlert(t, alerts, "firing", "EtcdMemberDown", "m1", "member m1 of etcd cluster main is down")
	src.Set(leaderStopped(time.Now()))
	dom = runChromium(t, chromium, "--dump-dom", srv.URL+"/")
	if r := memberRows(dom)["m1"]; r.status != "DOWN" {
		t.Errorf("browser DOM: stopped member m1 row %+v", r)
	}
	if !strings.Contains(dom, "quorum 2 of 3, tolerates 0 failures") {
		t.Error("browser DOM lacks the degraded quorum text")
	}
	screenshot(t, chromium, srv.URL, "statuspage-phone-degraded.png", 412, 915)
	// The whole page at phone width, to see the parts below the fold.
	screenshot(t, chromium, srv.URL, "statuspage-phone-degraded-full.png", 412, 2400)
}

// The fleet view of 1,000 clusters as Chromium builds it: every row in its
// DOM, the unhealthy first, and screenshots at desktop and phone width of
// the whole fleet and of a filtered view.
func TestFleetPageInBrowser(t *testing.T) {
	chromium := testbin.Require(t, "apt-get install chromium", "chromium")
	h := newHandler(t, Options{Clusters: statustest.FleetSources(1000, time.Now().Add(-3*time.Second)), Version: "test"})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if err := os.MkdirAll(artifactDir, 0o755); err != nil {
		t.Fatal(err)
	}
	dom := runChromium(t, chromium, "--dump-dom", srv.URL+"/")
	rows := fleetRows(dom)
	if len(rows) != 1000 || rows[0] != (fleetRowSeen{"tenant-0007", "unavailable"}) || rows[999].state != "healthy" {
		t.Errorf("browser DOM: %d fleet rows, first %+v", len(rows), rows[:min(len(rows), 1)])
	}
	for _, want := range []string{"<b>20</b> unavailable", "<b>920</b> healthy", `<input type="search" name="q"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("browser DOM lacks %q", want)
		}
	}
	screenshot(t, chromium, srv.URL, "statuspage-desktop-fleet.png", 1280, 900)
	screenshot(t, chromium, srv.URL, "statuspage-phone-fleet.png", 412, 915)
	// What the form sends: the phone screenshot of a filtered fleet.
	screenshotURL(t, chromium, srv.URL+"/?q=tenant-00&state=unhealthy", "statuspage-phone-fleet-filtered.png", 412, 915)
	// A row's link: one cluster's card, with the way back.
	screenshotURL(t, chromium, srv.URL+"/?cluster=tenant-0003", "statuspage-phone-fleet-cluster.png", 412, 915)
}

func screenshot(t *testing.T, chromium, url, name string, w, h int, extra ...string) {
	t.Helper()
	screenshotURL(t, chromium, url+"/", name, w, h, extra...)
}

func screenshotURL(t *testing.T, chromium, url, name string, w, h int, extra ...string) {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(artifactDir, name))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(path)
	runChromium(t, chromium, append([]string{"--screenshot=" + path, "--window-size=" + strconv.Itoa(w) + "," + strconv.Itoa(h), "--hide-scrollbars"}, append(extra, url)...)...)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot %s does not decode as PNG: %v", name, err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("screenshot %s is %dx%d, want %dx%d", name, b.Dx(), b.Dy(), w, h)
	}
	t.Logf("screenshot: %s", path)
}

// runChromium runs headless Chromium once and returns its stdout. It is
// bounded: Chromium can hang on a loaded machine, and its helper processes
// would keep the pipes open, so the whole process group is killed at the
// deadline.
func runChromium(t *testing.T, chromium string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	// Helpers left behind by a crashed browser die with their group.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err != nil {
		t.Fatalf("chromium %v: %v (after %s)\nstderr:\n%s", args, err, time.Since(start).Round(time.Millisecond), stderr.String())
	}
	t.Logf("chromium %s took %s", args[0], time.Since(start).Round(time.Millisecond))
	return stdout.String()
}
