package main

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// --probe.buckets=fleet leaves three classic buckets of the probe histogram
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
		{"fleet", []string{"+Inf", "0.01", "0.1", "1"}},
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

// One slot for every round of the process: the rounds queue in the monitor,
// and the wait shows as the monitor's own lateness, while the member stays
// up and healthy.
func TestMaxRoundsInFlightFlag(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 1})
	base, _ := startServe(t, "--etcd.endpoints="+c.Endpoints()[0], "--probe.interval=100ms",
		"--health-check-interval=100ms", "--rounds.max-in-flight=1")
	deadline := time.Now().Add(30 * time.Second)
	for {
		body := scrape(t, base+"/metrics")
		_, late := seriesValue(body, "etcd_monitor_rounds_late_total")
		_, skipped := seriesValue(body, "etcd_monitor_rounds_skipped_total")
		healthy, _ := seriesValue(body, "etcd_monitor_member_healthy")
		if (late || skipped) && healthy == "1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("with one slot for every round, no late or skipped round counted (or the member not healthy) within 30s:\n%s", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
