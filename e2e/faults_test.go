package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
)

// notifyWithin is the promise: a person hears of a fault within a minute.
const notifyWithin = 60 * time.Second

// TestStack runs the whole pipeline (etcd → etcd-monitor → Prometheus with
// the shipped rules → Alertmanager with the shipped configuration → Slack,
// PagerDuty, email and the monitor's webhook) through real faults of a real
// 3-member cluster, once per etcd backend, and checks the dashboards and the
// benchmark's results on the way.
func TestStack(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped with -short")
	}
	tl := requireTools(t)
	var all []timing
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			all = append(all, runStack(t, tl, b)...)
		})
	}
	report(t, all)
}

// timing is how long one notification took after its fault.
type timing struct {
	backend, step string
	n             notification
	after         time.Duration
}

type recorder struct {
	t       *testing.T
	s       *stack
	backend string
	got     []timing
}

// expect waits for each notification of step, which began at start, and
// fails the test for any that does not arrive within notifyWithin.
func (r *recorder) expect(step string, start time.Time, ms ...match) []notification {
	r.t.Helper()
	var out []notification
	for _, m := range ms {
		m.after = start
		n, ok := r.s.sinks.waitFor(r.t, m, start.Add(notifyWithin))
		if !ok {
			r.t.Errorf("%s: no notification %s within %s; received:\n%s", step, m, notifyWithin, r.s.sinks.dump())
			continue
		}
		d := n.At.Sub(start)
		r.t.Logf("%s: %s %s %s after %.1fs", step, n.Receiver, n.Status, n.Alert, d.Seconds())
		r.got = append(r.got, timing{backend: r.backend, step: step, n: n, after: d})
		out = append(out, n)
	}
	return out
}

func runStack(t *testing.T, tl tools, b backend) []timing {
	name := "e2e-" + b.name
	s := startStack(t, tl, b, name)
	ctx := context.Background()
	sel := fmt.Sprintf(`{job="etcd-monitor",etcd_cluster=%q}`, name)
	s.waitValue(t, "max(etcd_monitor_cluster_members_healthy"+sel+")", func(v float64) bool { return v == 3 }, 30*time.Second)
	s.waitValue(t, "min(etcd_monitor_cluster_has_quorum"+sel+")", func(v float64) bool { return v == 1 }, 30*time.Second)

	runBenchmarks(t, s)
	checkDashboards(t, s)
	if t.Failed() {
		return nil
	}

	rec := &recorder{t: t, s: s, backend: b.name}
	leader, err := s.cluster.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var followers []*localetcd.Member
	for _, m := range s.cluster.Members() {
		if m != leader {
			followers = append(followers, m)
		}
	}
	f1, f2 := followers[0], followers[1]
	t.Logf("leader %s; stopping %s, then %s", leader.Name, f1.Name, f2.Name)

	// 1. One member stops: a warning to Slack and email.
	start := time.Now()
	if err := f1.Stop(); err != nil {
		t.Fatal(err)
	}
	rec.expect("one member stopped", start,
		match{receiver: "slack", status: "firing", alert: "EtcdMemberUnreachable", cluster: name, contains: "member " + f1.Name},
		match{receiver: "email", status: "firing", alert: "EtcdMemberUnreachable", cluster: name, contains: "member " + f1.Name})

	// 2. A second member stops: quorum is lost, which pages, and explains
	// (inhibits) the member alerts.
	secondStop := time.Now()
	if err := f2.Stop(); err != nil {
		t.Fatal(err)
	}
	rec.expect("second member stopped (quorum lost)", secondStop,
		match{receiver: "pagerduty", status: "firing", alert: "EtcdQuorumLost", cluster: name})
	checkInhibited(t, s, f1, f2)

	// 3. Recovery, one member at a time: quorum comes back first, then the
	// last member. (Both at once may resolve the member alerts while quorum
	// lost still inhibits them, and Alertmanager drops resolved
	// notifications of inhibited alerts.)
	recover1 := time.Now()
	if err := f2.Restart(); err != nil {
		t.Fatal(err)
	}
	rec.expect("second member back (quorum regained)", recover1,
		match{receiver: "pagerduty", status: "resolved", alert: "EtcdQuorumLost", cluster: name})
	checkNoneDuring(t, s, secondStop, recover1, inhibitedByQuorumLost)
	recover2 := time.Now()
	if err := f1.Restart(); err != nil {
		t.Fatal(err)
	}
	rec.expect("first member back", recover2,
		match{receiver: "slack", status: "resolved", alert: "EtcdMemberUnreachable", cluster: name},
		match{receiver: "email", status: "resolved", alert: "EtcdMemberUnreachable", cluster: name})
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = s.cluster.WaitHealthy(wctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}

	// 4. The backend reaches its quota: NOSPACE pages, and resolves once
	// space is freed and the alarm disarmed.
	start = time.Now()
	fillQuota(t, s.cluster)
	rec.expect("NOSPACE alarm", start,
		match{receiver: "pagerduty", status: "firing", alert: "EtcdNoSpaceAlarm", cluster: name},
		match{receiver: "slack", status: "firing", alert: "EtcdNoSpaceAlarm", cluster: name})
	start = time.Now()
	freeSpace(t, s.cluster)
	rec.expect("NOSPACE cleared", start,
		match{receiver: "pagerduty", status: "resolved", alert: "EtcdNoSpaceAlarm", cluster: name},
		match{receiver: "slack", status: "resolved", alert: "EtcdNoSpaceAlarm", cluster: name})

	checkHistory(t, s)
	if bad := s.sinks.rejected(); len(bad) > 0 {
		t.Errorf("sinks got payloads they could not read: %v", bad)
	}
	if t.Failed() {
		t.Logf("notifications received:\n%s", s.sinks.dump())
	}
	return rec.got
}

// inhibitedByQuorumLost are the alerts alertmanager.yml silences while its
// cluster has lost quorum.
var inhibitedByQuorumLost = []string{
	"EtcdMemberUnreachable", "EtcdMemberPartitioned", "EtcdQuorumAtRisk", "EtcdRaftIndexLag", "EtcdRaftApplyLag",
	"EtcdNoLeader", "EtcdFrequentLeaderChanges", "EtcdProposalsFailing", "EtcdGRPCRequestsFailing",
	"EtcdProbeLatencyHigh", "EtcdProbeErrorsHigh", "EtcdProbeLatencyRegressed",
}

// checkInhibited: while quorum is lost, both stopped members' alerts fire in
// Prometheus and reach Alertmanager, which holds them suppressed by the
// quorum-lost alert, as it does every other alert quorum lost explains.
func checkInhibited(t *testing.T, s *stack, stopped ...*localetcd.Member) {
	t.Helper()
	ctx := context.Background()
	var last string
	ok := poll(ctx, 30*time.Second, 250*time.Millisecond, func() bool {
		alerts, err := s.amAlerts(ctx, "EtcdMemberUnreachable")
		if err != nil {
			last = err.Error()
			return false
		}
		state := map[string]string{}
		for _, a := range alerts {
			st := a.Status.State
			if st == "suppressed" && len(a.Status.InhibitedBy) == 0 {
				st = "silenced"
			}
			state[a.Labels["member"]] = st
		}
		last = fmt.Sprint(state)
		for _, m := range stopped {
			if state[m.Name] != "suppressed" {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Errorf("EtcdMemberUnreachable of %s not both inhibited in Alertmanager after 30s: %s", names(stopped), last)
		return
	}
	t.Logf("Alertmanager holds EtcdMemberUnreachable of %s suppressed by EtcdQuorumLost", names(stopped))
	for _, n := range inhibitedByQuorumLost {
		alerts, err := s.amAlerts(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range alerts {
			if a.Status.State == "active" {
				t.Errorf("%s %v is active in Alertmanager while quorum is lost: it should be inhibited", n, a.Labels)
			}
		}
	}
}

// checkNoneDuring: no firing notification of these alerts reached a person
// between from and to.
func checkNoneDuring(t *testing.T, s *stack, from, to time.Time, alerts []string) {
	t.Helper()
	for _, n := range s.sinks.all() {
		if n.Cluster == s.name && n.Status == "firing" && !n.At.Before(from) && n.At.Before(to) && slices.Contains(alerts, n.Alert) {
			t.Errorf("%s reached %s while quorum was lost (it should be inhibited):\n%s", n.Alert, n.Receiver, n.Body)
		}
	}
}

func names(ms []*localetcd.Member) string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return strings.Join(out, " and ")
}

// fillQuota writes 64 KiB values until etcd refuses with "database space
// exceeded", which raises the NOSPACE alarm.
func fillQuota(t *testing.T, c *localetcd.Cluster) {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	val := strings.Repeat("x", 64<<10)
	for i := 0; i < 4*quotaBytes/len(val); i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/e2e/nospace/%04d", i), val)
		cancel()
		if errors.Is(err, rpctypes.ErrNoSpace) {
			t.Logf("NOSPACE after %d writes of 64 KiB", i)
			return
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	t.Fatalf("no NOSPACE after writing %d KiB to a %d KiB quota", 4*quotaBytes>>10, quotaBytes>>10)
}

// freeSpace is the runbook's recovery: delete, compact, defragment every
// member, disarm.
func freeSpace(t *testing.T, c *localetcd.Cluster) {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cli.Delete(ctx, "/e2e/nospace/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("deleting: %v", err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compacting: %v", err)
	}
	for _, ep := range c.Endpoints() {
		if _, err := cli.Defragment(ctx, ep); err != nil {
			t.Fatalf("defragmenting %s: %v", ep, err)
		}
	}
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{}); err != nil {
		t.Fatalf("disarming: %v", err)
	}
	al, err := cli.AlarmList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(al.Alarms) > 0 {
		t.Fatalf("alarms left after disarming: %v", al.Alarms)
	}
}

// checkHistory: the webhook receiver (the monitor's alert history) got the
// same alerts, firing and resolved.
func checkHistory(t *testing.T, s *stack) {
	t.Helper()
	want := []string{"EtcdMemberUnreachable", "EtcdQuorumLost", "EtcdNoSpaceAlarm"}
	var missing []string
	poll(context.Background(), 10*time.Second, 250*time.Millisecond, func() bool {
		h, err := s.alertHistory(context.Background())
		if err != nil {
			missing = []string{err.Error()}
			return false
		}
		seen := map[string]bool{}
		for _, e := range h {
			seen[e.AlertName+" "+e.Status] = true
		}
		missing = nil
		for _, a := range want {
			for _, st := range []string{"firing", "resolved"} {
				if !seen[a+" "+st] {
					missing = append(missing, a+" "+st)
				}
			}
		}
		return len(missing) == 0
	})
	if len(missing) > 0 {
		t.Errorf("the monitor's alert history (webhook receiver) lacks %v", missing)
	}
}

// report logs the measured times as a Markdown table, and writes it to
// $E2E_TIMINGS_FILE when set (docs/performance-e2e.md quotes a run).
func report(t *testing.T, all []timing) {
	if len(all) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintln(&b, "| etcd | fault | notification | after |")
	fmt.Fprintln(&b, "|---|---|---|---|")
	for _, tm := range all {
		fmt.Fprintf(&b, "| %s | %s | %s %s %s | %.1f s |\n", tm.backend, tm.step, tm.n.Receiver, tm.n.Status, tm.n.Alert, tm.after.Seconds())
	}
	t.Logf("fault → notification:\n%s", b.String())
	if f := os.Getenv("E2E_TIMINGS_FILE"); f != "" {
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
