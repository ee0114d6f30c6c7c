package collector

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

func TestPhaseIsStableAndSpread(t *testing.T) {
	const iv = 5 * time.Second
	if a, b := phase("tenant-1", iv), phase("tenant-1", iv); a != b {
		t.Fatalf("phase of one name differs between calls: %s, %s", a, b)
	}
	if phase("tenant-1", iv) == phase("tenant-2", iv) {
		t.Errorf("two names share a phase")
	}
	// A thousand clusters (and their members) fall evenly into tenths of
	// the interval: no tenth holds more than twice its share.
	for _, suffix := range []string{"", "/8e9e05c52164694d"} {
		var tenths [10]int
		for i := range 1000 {
			p := phase(fmt.Sprintf("tenant-%d%s", i, suffix), iv)
			if p < 0 || p >= iv {
				t.Fatalf("phase %s outside [0, %s)", p, iv)
			}
			tenths[p*10/iv]++
		}
		for i, n := range tenths {
			if n < 50 || n > 200 {
				t.Errorf("keys%s: tenth %d of the interval holds %d of 1000 phases: %v", suffix, i, n, tenths)
			}
		}
	}
	// Slots lie on the grid and come strictly after the given time.
	ph := phase("tenant-1", iv)
	for _, at := range []time.Time{time.Unix(0, 0), time.Now(), time.Unix(1700000000, 123), time.Unix(0, int64(ph))} {
		s := nextSlot(at, iv, ph)
		if !s.After(at) || s.Sub(at) > iv {
			t.Errorf("nextSlot(%v) = %v: not within (t, t+interval]", at, s)
		}
		if (s.UnixNano()-int64(ph))%int64(iv) != 0 {
			t.Errorf("nextSlot(%v) = %v is not on the grid of phase %s", at, s, ph)
		}
	}
}

// TestStarvedMonitorCountsItselfNotEtcd holds the only slot of the
// scheduler, as a monitor with too much to do would, while the members are
// healthy: the rounds that could not run are counted as the monitor's
// (skipped, then late), and no member is charged a failed probe or marked
// down for it.
func TestStarvedMonitorCountsItselfNotEtcd(t *testing.T) {
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	sched := NewScheduler(1)
	pm := NewProbeMetrics()
	// Checks every 2 s: the late check round asserted below has to win the
	// freed slot from the probe rounds waiting with it, within what is left
	// of its interval (see below).
	const checkInterval = 2 * time.Second
	ch := NewChecker(ClusterConfig{
		Name: "starved", Conn: connFor(t, c.Endpoints()), HealthCheckInterval: checkInterval,
		// A probe timeout of a second: what is asserted is that time spent
		// waiting for the monitor's own slot is never charged to etcd, not
		// that a race-instrumented etcd on a loaded machine always answers
		// within a quarter second (one run saw a real 250 ms timeout).
		Probe: ProbeConfig{Interval: time.Second, Timeout: time.Second, Write: true},
	}, testLogger(t), WithProbeMetrics(pm), WithScheduler(sched))
	ch.Start()
	t.Cleanup(ch.Close)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewClusterCollector(Checkers{ch}), pm, sched)
	waitfor.Until(t, 15*time.Second, "probes succeeding on every member", func() bool {
		for _, m := range c.Members() {
			if histCount(t, reg, m.Name, OpGet) < 2 {
				return false
			}
		}
		return true
	})

	// Starve it: the test takes the one slot, wherever the rounds are.
	if !sched.acquire(context.Background()) {
		t.Fatal("no slot")
	}
	// A round counts as run once it has its slot: none can from here on.
	ran := func() (check, probe float64) {
		return counterSum(t, reg, "etcd_monitor_rounds_total", map[string]string{"kind": KindCheck}),
			counterSum(t, reg, "etcd_monitor_rounds_total", map[string]string{"kind": KindProbe})
	}
	checksStarved, probesStarved := ran()
	failuresBefore := counterSum(t, reg, "etcd_monitor_probe_failures_total", nil)
	var checksNow, probesNow float64
	waitfor.Until(t, 15*time.Second, "skipped check and probe rounds counted", func() bool {
		checksNow, probesNow = ran()
		return counterSum(t, reg, "etcd_monitor_rounds_skipped_total", map[string]string{"kind": KindCheck}) >= 2 &&
			counterSum(t, reg, "etcd_monitor_rounds_skipped_total", map[string]string{"kind": KindProbe}) >= 6
	})
	if checksNow != checksStarved || probesNow != probesStarved {
		t.Errorf("rounds counted as run while no slot was free: check %v -> %v, probe %v -> %v", checksStarved, checksNow, probesStarved, probesNow)
	}
	getsStarved := histCount(t, reg, c.Member(0).Name, OpGet)
	// Free the slot a quarter interval after a check slot: the check round
	// waiting since that slot is then late (it waited longer than
	// lateAfter, a tenth of the interval), and has the other three
	// quarters to get the slot before its deadline, the next slot. The
	// skip counted when the previous round gave up marks the slot (seen
	// within the 20 ms poll).
	skips := func() float64 {
		return counterSum(t, reg, "etcd_monitor_rounds_skipped_total", map[string]string{"kind": KindCheck})
	}
	skipsBefore := skips()
	waitfor.Until(t, 15*time.Second, "the next check slot", func() bool { return skips() > skipsBefore })
	lateBefore := counterSum(t, reg, "etcd_monitor_rounds_late_total", map[string]string{"kind": KindCheck})
	time.Sleep(checkInterval / 4)
	sched.release()

	// Fed again: the check round that waited for the slot started late,
	// and every member is probed again.
	waitfor.Until(t, 15*time.Second, "probes again and a late check round counted", func() bool {
		return histCount(t, reg, c.Member(0).Name, OpGet) >= getsStarved+2 &&
			counterSum(t, reg, "etcd_monitor_rounds_late_total", map[string]string{"kind": KindCheck}) > lateBefore
	})
	waitfor.Until(t, 15*time.Second, "check and probe rounds counted as run again", func() bool {
		c2, p2 := ran()
		return c2 > checksStarved && p2 >= probesStarved+2
	})
	if d := counterSum(t, reg, "etcd_monitor_probe_failures_total", nil) - failuresBefore; d != 0 {
		t.Errorf("%v probe failures charged to the members while the monitor starved", d)
	}
	s := ch.Snapshot()
	if s.HealthyVoting != 3 {
		t.Errorf("members not all healthy after the monitor starved:\n%s", describe(s))
	}
	t.Logf("skipped: check %v, probe %v; late: check %v, probe %v",
		counterSum(t, reg, "etcd_monitor_rounds_skipped_total", map[string]string{"kind": KindCheck}),
		counterSum(t, reg, "etcd_monitor_rounds_skipped_total", map[string]string{"kind": KindProbe}),
		counterSum(t, reg, "etcd_monitor_rounds_late_total", map[string]string{"kind": KindCheck}),
		counterSum(t, reg, "etcd_monitor_rounds_late_total", map[string]string{"kind": KindProbe}))
}

// A member that leaves while its probe round is in flight (a slow
// member's rounds always are) is stopped without deadlocking the check
// round that noticed it: the round's end takes the prober set's lock.
func TestProberStopsMidRound(t *testing.T) {
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	pm := NewProbeMetrics()
	ch := NewChecker(ClusterConfig{
		Name: "main", Conn: connFor(t, c.Endpoints()), HealthCheckInterval: time.Hour,
		Probe: ProbeConfig{Interval: testProbeInterval, Timeout: time.Second, Write: true},
	}, testLogger(t), WithProbeMetrics(pm))
	t.Cleanup(ch.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	slow := c.Member(2)
	slow.DelayClient(300 * time.Millisecond)
	defer slow.DelayClient(0)
	s := ch.CheckOnce(ctx) // starts the probers; no loop re-adds them
	if len(s.Members) != 3 {
		t.Fatalf("want 3 members:\n%s", describe(s))
	}
	inFlight := func() bool {
		ch.probers.mu.Lock()
		defer ch.probers.mu.Unlock()
		for _, p := range ch.probers.probers {
			if p.member == slow.Name && p.running {
				return true
			}
		}
		return false
	}
	waitfor.Until(t, 15*time.Second, "a probe round in flight on the slow member", inFlight)
	without := *s
	without.Members = nil
	for _, m := range s.Members {
		if m.Name != slow.Name {
			without.Members = append(without.Members, m)
		}
	}
	done := make(chan struct{})
	go func() { defer close(done); ch.probers.reconcile(&without, ch.members) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		// Deadlocked: Close (in Cleanup) would wait for the same lock
		// until the test binary's timeout; end here, with every stack.
		panic("reconcile still waiting 10 s after a member with a round in flight left")
	}
	ch.probers.mu.Lock()
	n := len(ch.probers.probers)
	ch.probers.mu.Unlock()
	if n != 2 {
		t.Errorf("%d probers left, want 2", n)
	}
}
