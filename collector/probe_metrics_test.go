package collector

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestProbeBucketsOption: the classic buckets of probe_duration_seconds as
// a scrape in the text format shows them, by default, for fleets, and off.
func TestProbeBucketsOption(t *testing.T) {
	head := `# HELP etcd_monitor_probe_duration_seconds Latency of successful synthetic probe requests, from when the request is sent, as a client of this member sees it.
# TYPE etcd_monitor_probe_duration_seconds histogram
`
	labels := `endpoint="http://127.0.0.1:2379",etcd_cluster="c",member="m1",operation="get"`
	for _, tc := range []struct {
		name string
		opts []ProbeMetricsOption
		want string
	}{
		{"fleet", []ProbeMetricsOption{WithProbeBuckets(FleetProbeBuckets)}, head +
			`etcd_monitor_probe_duration_seconds_bucket{` + labels + `,le="0.01"} 1
etcd_monitor_probe_duration_seconds_bucket{` + labels + `,le="0.05"} 1
etcd_monitor_probe_duration_seconds_bucket{` + labels + `,le="0.1"} 1
etcd_monitor_probe_duration_seconds_bucket{` + labels + `,le="1"} 1
etcd_monitor_probe_duration_seconds_bucket{` + labels + `,le="+Inf"} 1
etcd_monitor_probe_duration_seconds_sum{` + labels + `} 0.003
etcd_monitor_probe_duration_seconds_count{` + labels + `} 1
`},
		{"native only", []ProbeMetricsOption{WithProbeBuckets([]float64{})}, head +
			`etcd_monitor_probe_duration_seconds_bucket{` + labels + `,le="+Inf"} 1
etcd_monitor_probe_duration_seconds_sum{` + labels + `} 0.003
etcd_monitor_probe_duration_seconds_count{` + labels + `} 1
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pm := NewProbeMetrics(tc.opts...)
			pm.duration.WithLabelValues("c", "m1", "http://127.0.0.1:2379", OpGet).Observe(0.003)
			if err := testutil.CollectAndCompare(pm, strings.NewReader(tc.want), "etcd_monitor_probe_duration_seconds"); err != nil {
				t.Error(err)
			}
		})
	}
	pm := NewProbeMetrics()
	pm.duration.WithLabelValues("c", "m1", "http://127.0.0.1:2379", OpGet).Observe(0.003)
	if n := testutil.CollectAndCount(pm, "etcd_monitor_probe_duration_seconds"); n != 1 {
		t.Fatalf("%d histograms", n)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(pm)
	mfs, _ := reg.Gather()
	if got := len(mfs[0].GetMetric()[0].GetHistogram().GetBucket()); got != len(DefaultProbeBuckets) {
		t.Errorf("default: %d classic buckets, want %d", got, len(DefaultProbeBuckets))
	}
}

func TestParseProbeBuckets(t *testing.T) {
	for in, want := range map[string][]float64{
		"default": DefaultProbeBuckets, "": DefaultProbeBuckets, "fleet": FleetProbeBuckets,
		"none": {}, "0.005, 0.05,0.5": {0.005, 0.05, 0.5},
	} {
		got, err := ParseProbeBuckets(in)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) || (got == nil) != (want == nil) {
			t.Errorf("ParseProbeBuckets(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"0.1,0.01", "fast", "0.1,,1", "-1", "0", "NaN", "0.1,Inf"} {
		if got, err := ParseProbeBuckets(in); err == nil {
			t.Errorf("ParseProbeBuckets(%q) = %v, want an error", in, got)
		}
	}
}
