package collector

import (
	"testing"
	"time"
)

// The window keeps exactly the samples of its span, answers over them, and
// a series' array does not grow with time: an hour of probes every 5 s
// keeps 61 samples (both ends of 5 minutes) in an array of 64.
func TestLatencyWindowKeepsItsSpan(t *testing.T) {
	w := newLatencyWindow(5 * time.Minute)
	t0 := w.epoch.Add(time.Second)
	var at time.Time
	for i := range 720 { // an hour at 5 s
		at = t0.Add(time.Duration(i) * 5 * time.Second)
		w.add("m0", OpPut, at, time.Duration(1+i%10)*time.Millisecond)
	}
	s := w.samples[[2]string{"m0", OpPut}]
	if len(s) != 61 || cap(s) > 64 {
		t.Errorf("after an hour: %d samples in an array of %d, want 61 in at most 64", len(s), cap(s))
	}
	if first := s[0].at; at.Sub(w.epoch)-first != 5*time.Minute {
		t.Errorf("oldest sample %v before the newest, want 5m", at.Sub(w.epoch)-first)
	}
	if n := w.count(at.Add(-time.Minute), at, OpPut, OpDelete); n != 12 {
		t.Errorf("count over the last minute = %d, want 12", n)
	}
	sum := w.summaries(at, time.Minute, false)
	if len(sum) != 1 || sum[0].Count != 13 || sum[0].Member != "m0" || sum[0].P99 != 10*time.Millisecond {
		t.Errorf("summaries over the last minute = %+v, want 13 samples of m0 with p99 10ms", sum)
	}
	if got := w.summaries(at.Add(10*time.Minute), time.Minute, true); len(got) != 0 {
		t.Errorf("ten minutes later the last minute holds %+v, want nothing", got)
	}
}
