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
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
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
	for _, b := range testetcd.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			all = append(all, runStack(t, tl, b)...)
		})
	}
	report(t, all)
}

// timing is how long one notification took after its fault, and where
// the time went: until Prometheus had the monitor's view of the fault,
// until the alert changed state in Prometheus, until a person had it.
type timing struct {
	backend, step string
	n             notification
	after         time.Duration
	seen, alert   time.Duration // -1: not found
}

// trace names, for one step, the PromQL that turns true when Prometheus has
// the monitor's view of the fault, and when the alert has changed state.
type trace struct {
	seen, alert string
}

type recorder struct {
	t       *testing.T
	s       *stack
	backend string
	got     []timing
	traces  []stepTrace
}

type stepTrace struct {
	step  string
	start time.Time
	tr    trace
}

// expect waits for each notification of step, which began at start, and
// fails the test for any that does not arrive within notifyWithin.
func (r *recorder) expect(step string, start time.Time, tr trace, ms ...match) []notification {
	r.t.Helper()
	var out []notification
	r.traces = append(r.traces, stepTrace{step, start, tr})
	for _, m := range ms {
		m.after = start
		n, ok := r.s.sinks.waitFor(r.t, m, start.Add(notifyWithin))
		if !ok {
			r.t.Errorf("%s: no notification %s within %s; received:\n%s\nwhat Prometheus sees:\n%s",
				step, m, notifyWithin, r.s.sinks.dump(), r.s.diagnose())
			continue
		}
		d := n.At.Sub(start)
		r.t.Logf("%s: %s %s %s after %.1fs", step, n.Receiver, n.Status, n.Alert, d.Seconds())
		r.got = append(r.got, timing{backend: r.backend, step: step, n: n, after: d})
		out = append(out, n)
	}
	return out
}

// finish traces each step through Prometheus' data, once all of it is
// there (a step's last evaluation may not be queryable the moment its
// notification arrives).
func (r *recorder) finish() []timing {
	time.Sleep(2 * evalInterval)
	for _, st := range r.traces {
		seen, alert := r.s.firstTrue(st.tr.seen, st.start), r.s.firstTrue(st.tr.alert, st.start)
		for i := range r.got {
			if r.got[i].step == st.step {
				r.got[i].seen, r.got[i].alert = seen, alert
			}
		}
	}
	return r.got
}

func runStack(t *testing.T, tl tools, b testetcd.Backend) []timing {
	name := "e2e-" + b.Name
	s := startStack(t, tl, b, name)
	checkWebhookAuth(t, s)
	ctx := context.Background()
	sel := fmt.Sprintf(`{job="etcd-monitor",etcd_cluster=%q}`, name)
	s.waitValue(t, "max(etcd_monitor_cluster_members_healthy"+sel+")", func(v float64) bool { return v == 3 }, 30*time.Second)
	s.waitValue(t, "min(etcd_monitor_cluster_has_quorum"+sel+")", func(v float64) bool { return v == 1 }, 30*time.Second)

	runBenchmarks(t, s)
	checkDashboards(t, s)
	if t.Failed() {
		return nil
	}

	rec := &recorder{t: t, s: s, backend: b.Name}
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
	rec.expect("one member stopped", start, trace{
		seen:  fmt.Sprintf(`etcd_monitor_member_up{etcd_cluster=%q,member=%q} == 0`, name, f1.Name),
		alert: fmt.Sprintf(`ALERTS{alertname="EtcdMemberUnreachable",alertstate="firing",etcd_cluster=%q,member=%q}`, name, f1.Name)},
		match{receiver: "slack", status: "firing", alert: "EtcdMemberUnreachable", cluster: name, contains: "member " + f1.Name},
		match{receiver: "email", status: "firing", alert: "EtcdMemberUnreachable", cluster: name, contains: "member " + f1.Name})

	// 2. A second member stops: quorum is lost, which pages, and explains
	// (inhibits) the member alerts.
	secondStop := time.Now()
	if err := f2.Stop(); err != nil {
		t.Fatal(err)
	}
	lost := rec.expect("second member stopped (quorum lost)", secondStop, trace{
		seen:  fmt.Sprintf(`max(etcd_monitor_cluster_members_healthy{etcd_cluster=%q}) < 2`, name),
		alert: fmt.Sprintf(`ALERTS{alertname="EtcdQuorumLost",alertstate="firing",etcd_cluster=%q}`, name)},
		match{receiver: "pagerduty", status: "firing", alert: "EtcdQuorumLost", cluster: name})
	checkInhibited(t, s, f1, f2)
	// From the moment Alertmanager has quorum lost (it has sent it), the
	// alerts it explains reach nobody. (Before, they may: an alert whose
	// "for" ran out between the second stop and quorum lost firing is
	// notified, as it should be.)
	lostAt := secondStop.Add(notifyWithin)
	if len(lost) > 0 {
		lostAt = lost[0].At
	}

	// 3. Recovery, one member at a time: quorum comes back first, then the
	// last member. (Both at once may resolve the member alerts while quorum
	// lost still inhibits them, and Alertmanager drops resolved
	// notifications of inhibited alerts.)
	recover1 := time.Now()
	if err := f2.Restart(); err != nil {
		t.Fatal(err)
	}
	rec.expect("second member back (quorum regained)", recover1, trace{
		seen:  fmt.Sprintf(`max(etcd_monitor_cluster_members_healthy{etcd_cluster=%q}) >= 2`, name),
		alert: fmt.Sprintf(`absent(ALERTS{alertname="EtcdQuorumLost",alertstate="firing",etcd_cluster=%q})`, name)},
		match{receiver: "pagerduty", status: "resolved", alert: "EtcdQuorumLost", cluster: name})
	// Until quorum lost resolves: normally when quorum is back, earlier if
	// it flapped (a missed scrape of the monitor resolves it).
	lostUntil := recover1
	if n, ok := s.sinks.find(match{receiver: "pagerduty", status: "resolved", alert: "EtcdQuorumLost", cluster: name, after: lostAt}); ok && n.At.Before(recover1) {
		t.Logf("EtcdQuorumLost resolved at %s while quorum was still lost, and fired again: %s", n.At.Format("15:04:05.000"), s.scrapeHealth())
		lostUntil = n.At
	}
	checkNoneDuring(t, s, lostAt, lostUntil, inhibitedByQuorumLost)
	recover2 := time.Now()
	if err := f1.Restart(); err != nil {
		t.Fatal(err)
	}
	answered := answers(f1, recover2)
	rec.expect("first member back", recover2, trace{
		seen:  fmt.Sprintf(`etcd_monitor_member_up{etcd_cluster=%q,member=%q} == 1`, name, f1.Name),
		alert: fmt.Sprintf(`absent(ALERTS{alertname="EtcdMemberUnreachable",alertstate="firing",etcd_cluster=%q})`, name)},
		match{receiver: "slack", status: "resolved", alert: "EtcdMemberUnreachable", cluster: name},
		match{receiver: "email", status: "resolved", alert: "EtcdMemberUnreachable", cluster: name})
	if d := <-answered; d > 0 {
		t.Logf("%s answered a new client %.1fs after its restart", f1.Name, d.Seconds())
	}
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
	rec.expect("NOSPACE alarm", start, trace{
		seen:  fmt.Sprintf(`count(etcd_monitor_member_alarm{etcd_cluster=%q,alarm="NOSPACE"}) > 0`, name),
		alert: fmt.Sprintf(`ALERTS{alertname="EtcdNoSpaceAlarm",alertstate="firing",etcd_cluster=%q}`, name)},
		match{receiver: "pagerduty", status: "firing", alert: "EtcdNoSpaceAlarm", cluster: name},
		match{receiver: "slack", status: "firing", alert: "EtcdNoSpaceAlarm", cluster: name})
	start = time.Now()
	freeSpace(t, s.cluster)
	rec.expect("NOSPACE cleared", start, trace{
		seen:  fmt.Sprintf(`absent(etcd_monitor_member_alarm{etcd_cluster=%q,alarm="NOSPACE"})`, name),
		alert: fmt.Sprintf(`absent(ALERTS{alertname="EtcdNoSpaceAlarm",alertstate="firing",etcd_cluster=%q})`, name)},
		match{receiver: "pagerduty", status: "resolved", alert: "EtcdNoSpaceAlarm", cluster: name},
		match{receiver: "slack", status: "resolved", alert: "EtcdNoSpaceAlarm", cluster: name})

	checkHistory(t, s)
	t.Logf("Prometheus: %s", s.scrapeHealth())
	if bad := s.sinks.Rejected(); len(bad) > 0 {
		t.Errorf("sinks got payloads they could not read: %v", bad)
	}
	if t.Failed() {
		t.Logf("notifications received:\n%s", s.sinks.dump())
	}
	return rec.finish()
}

// answers reports when a restarted member first answers a new client (0
// if not within 30s), to tell its own start-up from the monitor's
// reconnection in the timings.
func answers(m *localetcd.Member, start time.Time) <-chan time.Duration {
	ch := make(chan time.Duration, 1)
	go func() {
		defer close(ch)
		cli, err := m.Client()
		if err != nil {
			return
		}
		defer cli.Close()
		for time.Since(start) < 30*time.Second {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err := cli.Status(ctx, m.ClientURL)
			cancel()
			if err == nil {
				ch <- time.Since(start)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return ch
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
	ok := waitfor.Poll(ctx, 30*time.Second, 250*time.Millisecond, func() bool {
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
	for _, n := range s.sinks.All() {
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
	// A member defragmented before it has applied the writes, the delete
	// and the compaction keeps (or regains) its size, and raises NOSPACE
	// again at its next write: wait for every member to catch up first.
	waitApplied(ctx, t, cli, c.Endpoints())
	for _, ep := range c.Endpoints() {
		if _, err := cli.Defragment(ctx, ep); err != nil {
			t.Fatalf("defragmenting %s: %v", ep, err)
		}
	}
	// A write refused while applying raises its alarm through raft on its
	// own: disarm until the list stays empty once everything is applied.
	for i := 0; ; i++ {
		if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{}); err != nil {
			t.Fatalf("disarming: %v", err)
		}
		waitApplied(ctx, t, cli, c.Endpoints())
		al, err := cli.AlarmList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(al.Alarms) == 0 {
			break
		}
		if i == 2 {
			t.Fatalf("alarms back after disarming 3 times: %v", al.Alarms)
		}
		t.Logf("alarms raised again after disarming: %v", al.Alarms)
	}
	for _, ep := range c.Endpoints() {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			t.Fatalf("status of %s: %v", ep, err)
		}
		if st.DbSize > quotaBytes/2 {
			t.Errorf("%s: %d KiB after defragmenting, of a %d KiB quota", ep, st.DbSize>>10, quotaBytes>>10)
		}
	}
}

// waitApplied waits until every member has applied what the cluster had
// committed when it was called.
func waitApplied(ctx context.Context, t *testing.T, cli *clientv3.Client, eps []string) {
	t.Helper()
	var target uint64
	for _, ep := range eps {
		st, err := cli.Status(ctx, ep)
		if err != nil {
			t.Fatalf("status of %s: %v", ep, err)
		}
		target = max(target, st.RaftIndex)
	}
	var behind []string
	ok := waitfor.Poll(ctx, 20*time.Second, 50*time.Millisecond, func() bool {
		behind = nil
		for _, ep := range eps {
			st, err := cli.Status(ctx, ep)
			if err != nil || st.RaftAppliedIndex < target {
				behind = append(behind, ep)
			}
		}
		return len(behind) == 0
	})
	if !ok {
		t.Fatalf("members %v did not apply up to raft index %d in 20s", behind, target)
	}
}

// checkHistory: the webhook receiver (the monitor's alert history) got the
// same alerts, firing and resolved, through Alertmanager with its token.
func checkHistory(t *testing.T, s *stack) {
	t.Helper()
	want := []string{"EtcdMemberUnreachable", "EtcdQuorumLost", "EtcdNoSpaceAlarm"}
	var missing []string
	var h []historyEntry
	waitfor.Poll(context.Background(), 10*time.Second, 250*time.Millisecond, func() bool {
		var err error
		h, err = s.alertHistory(context.Background())
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
	checkWebhookDelivered(t, s, h)
}

// report logs the measured times as a Markdown table, and writes it to
// $E2E_TIMINGS_FILE when set (docs/performance-e2e.md quotes a run).
func report(t *testing.T, all []timing) {
	if len(all) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintln(&b, "| etcd | fault | notification | in Prometheus | alert changed | notified |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|")
	secs := func(d time.Duration) string {
		if d < 0 {
			return "?"
		}
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	for _, tm := range all {
		fmt.Fprintf(&b, "| %s | %s | %s %s %s | %s | %s | %.1f s |\n", tm.backend, tm.step, tm.n.Receiver, tm.n.Status, tm.n.Alert,
			secs(tm.seen), secs(tm.alert), tm.after.Seconds())
	}
	t.Logf("fault → notification:\n%s", b.String())
	if f := os.Getenv("E2E_TIMINGS_FILE"); f != "" {
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
