package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// --probe.buckets=fleet leaves four classic buckets of the probe histogram
// (a fleet's scrape is mostly these buckets), and none keeps only the +Inf
// bucket, sum and count in the text format (the native histogram carries
// the distribution in protobuf).
func TestProbeBucketsFlag(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 1})
	le := regexp.MustCompile(`etcd_monitor_probe_duration_seconds_bucket\{[^}]*operation="put"[^}]*le="([^"]+)"`)
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{"fleet", []string{"+Inf", "0.01", "0.05", "0.1", "1"}},
		{"none", []string{"+Inf"}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			base, _ := startServe(t, "--etcd.endpoints="+c.Endpoints()[0], "--probe.interval=200ms",
				"--health-check-interval=500ms", "--probe.buckets="+tc.spec)
			deadline := time.Now().Add(30 * time.Second)
			for {
				body := scrape(t, base+"/metrics")
				if n, ok := seriesValue(body, "etcd_monitor_probe_duration_seconds_count", `operation="put"`); ok && n != "0" {
					var got []string
					for _, m := range le.FindAllStringSubmatch(body, -1) {
						got = append(got, m[1])
					}
					slices.Sort(got)
					if !slices.Equal(got, tc.want) {
						t.Errorf("--probe.buckets=%s: put buckets %q, want %q", tc.spec, got, tc.want)
					}
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("no successful put probe within 30s:\n%s", body)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// One slot for every round of the process, and a cluster whose member hangs
// (it accepts connections and never answers): its rounds hold the slot for
// their whole timeout, the healthy cluster's rounds wait for it, and the
// wait shows as the monitor's own lateness while that cluster's member
// stays up and healthy (that no timeout is charged for the wait is
// collector's TestStarvedMonitorCountsItselfNotEtcd).
func TestMaxRoundsInFlightFlag(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 1})
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hang.Close() })
	go func() {
		var held []net.Conn // accepted and never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			conn, err := hang.Accept()
			if err != nil {
				return
			}
			held = append(held, conn)
		}
	}()
	cfg := filepath.Join(t.TempDir(), "clusters.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`clusters:
  - name: healthy
    endpoints: [%s]
  - name: hung
    endpoints: [http://%s]
`, c.Endpoints()[0], hang.Addr())), 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startServe(t, "--config.file="+cfg, "--probe.interval=200ms", "--health-check-interval=200ms",
		"--etcd.request-timeout=1s", "--rounds.max-in-flight=1")
	deadline := time.Now().Add(60 * time.Second)
	for {
		body := scrape(t, base+"/metrics")
		_, late := seriesValue(body, "etcd_monitor_rounds_late_total", `etcd_cluster="healthy"`)
		_, skipped := seriesValue(body, "etcd_monitor_rounds_skipped_total", `etcd_cluster="healthy"`)
		healthy, _ := seriesValue(body, "etcd_monitor_member_healthy", `etcd_cluster="healthy"`)
		if (late || skipped) && healthy == "1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("with one slot held by a hung cluster, no late or skipped round of the healthy one (or its member not healthy) within 60s:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
