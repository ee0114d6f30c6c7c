package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

func TestConfigFileTwoClustersOneDead(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 3, FastElections: true})
	dir := t.TempDir()
	// The second cluster: one endpoint refuses connections, the other
	// accepts them and never answers, like a hung process.
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	go func() {
		var held []net.Conn
		for {
			conn, err := hung.Accept()
			if err != nil {
				for _, c := range held {
					c.Close()
				}
				return
			}
			held = append(held, conn)
		}
	}()
	cfg := fmt.Sprintf(`clusters:
  - name: live
    endpoints: [%s]
    health_check_interval: 500ms
    probe:
      interval: 500ms
  - name: dead
    endpoints: [http://%s, http://%s]
    health_check_interval: 500ms
    dial_timeout: 3s
    request_timeout: 3s
`, strings.Join(c.Endpoints(), ", "), freeport.Addr(t), hung.Addr().String())
	path := filepath.Join(dir, "clusters.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, stderr, code := runCmd(t, nil, "serve", "--config.file="+path, "--config.check"); code != 0 || !strings.Contains(out, "configuration OK") {
		t.Fatalf("--config.check: %d %q %q", code, out, stderr)
	}
	base, _ := startServe(t, "--config.file="+path)

	// The dead cluster's requests hang for 3 s; the live one's checks
	// must keep their own pace regardless.
	var stamps []float64
	deadline := time.Now().Add(20 * time.Second)
	for len(stamps) < 8 && time.Now().Before(deadline) {
		body := scrape(t, base+"/metrics")
		if v, ok := seriesValue(body, "etcd_monitor_last_check_timestamp_seconds", `etcd_cluster="live"`, `member=""`); ok {
			f, _ := strconv.ParseFloat(v, 64)
			if len(stamps) == 0 || f != stamps[len(stamps)-1] {
				stamps = append(stamps, f)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(stamps) < 8 {
		t.Fatalf("live cluster checked only %d times in 20 s", len(stamps))
	}
	for i := 1; i < len(stamps); i++ {
		if gap := stamps[i] - stamps[i-1]; gap > 2 {
			t.Errorf("live cluster's checks %.1f s apart while the other cluster is dead", gap)
		}
	}
	body := scrape(t, base+"/metrics")
	if v, _ := seriesValue(body, "etcd_monitor_cluster_members_healthy", `etcd_cluster="live"`); v != "3" {
		t.Errorf("live cluster healthy members = %q", v)
	}
	if _, ok := seriesValue(body, "etcd_monitor_probe_duration_seconds_count", `etcd_cluster="live"`); !ok {
		t.Error("no probe results for the live cluster")
	}
	// The dead cluster's own first round takes its request timeouts.
	deadline = time.Now().Add(15 * time.Second)
	for {
		body = scrape(t, base+"/metrics")
		if v, _ := seriesValue(body, "etcd_monitor_member_up", `etcd_cluster="dead"`); v == "0" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead cluster never reported down:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestBadConfigFiles(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct{ body, want string }{
		"unknown field":     {"clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n    colour: blue\n", ":4: clusters[0].colour"},
		"missing endpoints": {"clusters:\n  - name: a\n", ":2: clusters[0]"},
		"duplicate names":   {"clusters:\n  - name: a\n    endpoints: [http://127.0.0.1:2379]\n  - name: a\n    endpoints: [http://127.0.0.1:2380]\n", ":4: clusters[1].name"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yml")
			if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, extra := range [][]string{nil, {"--config.check"}} {
				_, stderr, code := runCmd(t, nil, append([]string{"--config.file=" + path}, extra...)...)
				lines := strings.Split(strings.TrimSpace(stderr), "\n")
				if code != 2 || len(lines) != 1 || !strings.Contains(stderr, path+tc.want) {
					t.Errorf("%v: exit %d, stderr %q; want 2 and one line with %q", extra, code, stderr, path+tc.want)
				}
			}
		})
	}
}
