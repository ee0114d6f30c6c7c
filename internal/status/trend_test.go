package status_test

import (
	"math"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/status"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/statustest"
)

func TestRecorderSamples(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	src := statustest.New("main") // 10 s check interval
	r := status.NewRecorder([]status.Source{src})
	r.Record(t0)
	if tr, ok := r.Trend("main", t0); !ok || len(tr.Samples) != 0 || tr.Every != 10*time.Second {
		t.Fatalf("before the first check: %+v %v", tr, ok)
	}
	snap := statustest.Healthy("main", t0)
	snap.Members[1].DBSize, snap.Members[1].DBSizeInUse = 20<<20, 15<<20
	src.Set(snap).SetLatency(
		statustest.Latency("m1", collector.OpGet, 5, 2*time.Millisecond),
		statustest.Latency("m1", collector.OpPut, 5, 7*time.Millisecond),
	)
	r.Record(t0)
	r.Record(t0.Add(5 * time.Second)) // not due: ignored
	src.Set(statustest.NewLeader(statustest.Healthy("main", t0.Add(10*time.Second)), "m2", 3, t0.Add(10*time.Second)))
	r.Record(t0.Add(10 * time.Second))
	// The checker stopped publishing: a stale snapshot is a gap.
	r.Record(t0.Add(50 * time.Second))

	tr, ok := r.Trend("main", t0.Add(50*time.Second))
	if !ok || len(tr.Samples) != 3 {
		t.Fatalf("trend: %v %+v", ok, tr)
	}
	s := tr.Samples[0]
	if !s.At.Equal(t0) || s.P99[0] != 2 || s.P99[2] != 7 || !math.IsNaN(s.P99[1]) || !math.IsNaN(s.P99[3]) ||
		s.DBSize != 20<<20 || s.DBSizeInUse != 15<<20 || s.DBQuota != 2<<30 || s.LeaderChanges != 0 {
		t.Errorf("first sample: %+v", s)
	}
	if s := tr.Samples[1]; s.LeaderChanges != 1 || s.DBSize != 12<<20 {
		t.Errorf("second sample: %+v", s)
	}
	if s := tr.Samples[2]; s.DBSize != -1 || s.DBQuota != -1 || s.LeaderChanges != 1 {
		t.Errorf("sample of a stale snapshot: %+v", s)
	}
	// The probe window is the sample interval, at least one probe interval.
	for _, w := range src.Windows() {
		if w != 10*time.Second {
			t.Errorf("latency asked over %s, want 10s", w)
		}
	}
	if _, ok := r.Trend("other", t0); ok {
		t.Error("a trend for a cluster nobody watches")
	}
	var none *status.Recorder
	if _, ok := none.Trend("main", t0); ok {
		t.Error("a nil recorder has trends")
	}
}

// However long it runs and however short the check interval, a cluster's
// ring holds at most MaxTrendSamples fixed-size samples, and still covers
// the last hour.
func TestRecorderIsBounded(t *testing.T) {
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	src := statustest.New("fast").SetConfig(collector.ClusterConfig{HealthCheckInterval: time.Second})
	r := status.NewRecorder([]status.Source{src})
	var now time.Time
	for i := range 3 * 3600 {
		now = t0.Add(time.Duration(i) * time.Second)
		src.Set(statustest.Healthy("fast", now))
		r.Record(now)
	}
	tr, _ := r.Trend("fast", now)
	if tr.Every != 5*time.Second || len(tr.Samples) != status.MaxTrendSamples {
		t.Fatalf("every %s, %d samples; want 5s and %d", tr.Every, len(tr.Samples), status.MaxTrendSamples)
	}
	if first, last := tr.Samples[0].At, tr.Samples[len(tr.Samples)-1].At; now.Sub(last) >= tr.Every || now.Sub(first) < 59*time.Minute || now.Sub(first) > time.Hour {
		t.Errorf("samples from %s to %s, want the last hour up to %s", first, last, now)
	}
	for i := 1; i < len(tr.Samples); i++ {
		if !tr.Samples[i].At.After(tr.Samples[i-1].At) {
			t.Fatalf("samples out of order at %d", i)
		}
	}
	// Samples older than the hour are not returned.
	if tr, _ := r.Trend("fast", now.Add(30*time.Minute)); len(tr.Samples) > status.MaxTrendSamples/2+1 {
		t.Errorf("%d samples returned half an hour after the last", len(tr.Samples))
	}
}

// Start and Close: the sampling goroutine stops, and Close without Start
// (a monitor that never started) returns at once.
func TestRecorderStartClose(t *testing.T) {
	status.NewRecorder(nil).Close()
	r := status.NewRecorder([]status.Source{statustest.New("main")})
	r.Start()
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return")
	}
}
