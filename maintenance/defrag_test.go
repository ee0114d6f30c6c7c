package maintenance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// A fragmented cluster: the dry run changes nothing; the real run frees
// space on every member, followers first and the leader last, while a
// probe sees a writable, readable cluster the whole time.
func TestDefragRolling(t *testing.T) {
	c := shared.Cluster(t)
	conn := testetcd.Conn(t, c)
	cli := testetcd.Client(t, c)
	fragment(t, c, "/test/rolling/")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// History the dry run's --compact must leave alone.
	first, err := cli.Put(ctx, "/test/rolling-history", "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, "/test/rolling-history", "2"); err != nil {
		t.Fatal(err)
	}
	before := statuses(t, c)

	var out strings.Builder
	opts := testDefragOptions()
	opts.DryRun, opts.Compact = true, true
	rep, err := Defrag(ctx, conn, opts, &out, testLogger(t))
	t.Logf("dry run:\n%s", out.String())
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if len(rep.Members) != 3 || rep.Compaction != nil {
		t.Fatalf("dry run report: %+v", rep)
	}
	for _, m := range rep.Members {
		if m.Action != ActionPlanned {
			t.Errorf("dry run: %s %s (%s), want %q", m.Name, m.Action, m.Reason, ActionPlanned)
		}
	}
	if !strings.Contains(out.String(), "Dry run: nothing changed.") || !strings.Contains(out.String(), "Would compact to revision") {
		t.Errorf("dry run output lacks the verdict:\n%s", out.String())
	}
	for name, st := range statuses(t, c) {
		if st.DbSize != before[name].DbSize {
			t.Errorf("dry run changed %s: %d -> %d bytes", name, before[name].DbSize, st.DbSize)
		}
	}
	if _, err := cli.Get(ctx, "/test/rolling-history", clientv3.WithRev(first.Header.Revision)); err != nil {
		t.Errorf("dry run compacted: reading revision %d: %v", first.Header.Revision, err)
	}

	// The real run, watched by a probe and by who leads as each member
	// starts.
	leaderBefore, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type start struct {
		member   string
		isLeader bool
	}
	var starts []start
	opts = testDefragOptions()
	opts.BeforeMember = func(name string) {
		l, err := c.Leader(ctx)
		if err != nil {
			t.Errorf("who leads as %s starts: %v", name, err)
			return
		}
		starts = append(starts, start{name, l.Name == name})
	}
	p := startProbe(t, c, "/test/rolling-probe/")
	time.Sleep(200 * time.Millisecond)
	out.Reset()
	rep, err = Defrag(ctx, conn, opts, &out, testLogger(t))
	time.Sleep(200 * time.Millisecond)
	p.stop()
	t.Logf("run:\n%s", out.String())
	if err != nil {
		t.Fatalf("defrag: %v", err)
	}

	if errs := p.failures(); len(errs) > 0 {
		t.Errorf("the probe failed %d time(s) (succeeded %d), first: %v", len(errs), p.ok.Load(), errs[0])
	}
	if p.ok.Load() < 5 {
		t.Errorf("the probe succeeded only %d times", p.ok.Load())
	}
	if len(starts) != 3 {
		t.Fatalf("members started: %+v, want 3", starts)
	}
	for i, s := range starts[:2] {
		if s.isLeader {
			t.Errorf("member %d (%s) led the cluster when its defragmentation started", i+1, s.member)
		}
	}
	if last := starts[2]; !last.isLeader || last.member != leaderBefore.Name {
		t.Errorf("last member %s (leading: %v), want the leader %s", last.member, last.isLeader, leaderBefore.Name)
	}

	after := statuses(t, c)
	for _, m := range rep.Members {
		if m.Action != ActionDefragmented {
			t.Errorf("%s: %s (%s)", m.Name, m.Action, m.Reason)
		}
		if m.Freed < testMinFree {
			t.Errorf("%s: report says %d bytes freed", m.Name, m.Freed)
		}
		if got := after[m.Name].DbSize; got > before[m.Name].DbSize-testMinFree {
			t.Errorf("%s: database %d bytes before, %d after", m.Name, before[m.Name].DbSize, got)
		}
	}
	if rep.Members[2].Name != leaderBefore.Name || !rep.Members[2].Leader {
		t.Errorf("report order: %+v", rep.Members)
	}
	if !strings.Contains(out.String(), "3 member(s) defragmented") {
		t.Errorf("no summary in the output:\n%s", out.String())
	}
}

// --compact on a cluster whose deleted history is still there: nothing
// qualifies before the compaction, every member after it, although nothing
// writes in between (etcd counts freed pages only after later commits).
func TestDefragCompactsFirst(t *testing.T) {
	c := shared.Cluster(t)
	conn := testetcd.Conn(t, c)
	rev := churn(t, c, "/test/compact/")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	before := statuses(t, c)
	for name, st := range before {
		if free := st.DbSize - st.DbSizeInUse; free >= testMinFree {
			t.Fatalf("%s has %d bytes free before the compaction; the test needs none", name, free)
		}
	}

	opts := testDefragOptions()
	opts.Compact = true
	var out strings.Builder
	rep, err := Defrag(ctx, conn, opts, &out, testLogger(t))
	t.Logf("run:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Compaction == nil || rep.Compaction.Revision < rev {
		t.Errorf("compaction %+v, want at least revision %d", rep.Compaction, rev)
	}
	after := statuses(t, c)
	for _, m := range rep.Members {
		if m.Action != ActionDefragmented || after[m.Name].DbSize > before[m.Name].DbSize-testMinFree {
			t.Errorf("%s: %s (%s), %d -> %d bytes", m.Name, m.Action, m.Reason, before[m.Name].DbSize, after[m.Name].DbSize)
		}
	}
	if len(rep.Members) != 3 {
		t.Errorf("%d members handled, want 3", len(rep.Members))
	}
}

// A cancelled context (Ctrl-C) during the first member's defragmentation:
// that member is finished, the next one never starts.
func TestDefragStopsBetweenMembers(t *testing.T) {
	c := shared.Cluster(t)
	conn := testetcd.Conn(t, c)
	fragment(t, c, "/test/interrupt/")
	before := statuses(t, c)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var started []string
	opts := testDefragOptions()
	opts.BeforeMember = func(name string) {
		started = append(started, name)
		cancel()
	}
	var out strings.Builder
	rep, err := Defrag(ctx, conn, opts, &out, testLogger(t))
	t.Logf("run:\n%s", out.String())
	if !errors.Is(err, ErrInterrupted) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want interrupted by the cancellation", err)
	}
	if len(started) != 1 {
		t.Fatalf("started %v, want only the first member", started)
	}
	if len(rep.Members) != 1 || rep.Members[0].Name != started[0] || rep.Members[0].Action != ActionDefragmented {
		t.Fatalf("report: %+v, want %s defragmented", rep.Members, started[0])
	}
	if len(rep.NotStarted) != 2 {
		t.Errorf("not started: %v, want the two others", rep.NotStarted)
	}
	after := statuses(t, c)
	for name, st := range after {
		shrank := st.DbSize <= before[name].DbSize-testMinFree
		if name == started[0] && !shrank {
			t.Errorf("%s was started but did not finish: %d -> %d bytes", name, before[name].DbSize, st.DbSize)
		}
		if name != started[0] && shrank {
			t.Errorf("%s was defragmented after the cancellation: %d -> %d bytes", name, before[name].DbSize, st.DbSize)
		}
	}
}

// With one member of three down, no member is defragmented: any of the
// other two blocked would leave the cluster without quorum.
func TestDefragRefusesWithMemberDown(t *testing.T) {
	c := shared.Cluster(t)
	conn := testetcd.Conn(t, c)
	fragment(t, c, "/test/refuse/")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var down *localetcd.Member
	for _, m := range c.Members() {
		if m != leader {
			down = m
			break
		}
	}
	if err := down.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := down.Restart(); err != nil {
			t.Errorf("restarting %s: %v", down.Name, err)
		}
		if err := c.WaitHealthy(context.Background()); err != nil {
			t.Errorf("cluster after restarting %s: %v", down.Name, err)
		}
	})
	before := statuses(t, c)

	var out strings.Builder
	_, err = Defrag(ctx, conn, testDefragOptions(), &out, testLogger(t))
	t.Logf("run:\n%s", out.String())
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	msg := err.Error()
	for _, want := range []string{down.Name, "quorum of 2", "1 of 3 voting members"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not say %q", msg, want)
		}
	}

	// Through the command: exit 1 (not bad input) with the reason, and the
	// dry run refuses the same way.
	_, code, err := runCommand(t, defragCmd, "defrag", "--etcd.endpoints="+strings.Join(c.Endpoints(), ","), "--min-free-bytes=8MiB", "--dry-run")
	if code != 1 || err == nil || !strings.Contains(err.Error(), down.Name) {
		t.Errorf("dry run through the command: exit %d, %v; want 1 naming %s", code, err, down.Name)
	}
	for name, st := range statuses(t, c) {
		if st.DbSize != before[name].DbSize {
			t.Errorf("%s changed while refusing: %d -> %d bytes", name, before[name].DbSize, st.DbSize)
		}
	}
}

// NOSPACE on a member with a small quota: compaction, defragmentation and
// disarming make the cluster writable again.
func TestDefragRecoversFromNoSpace(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	small := c.Member(2)
	const quota = 8 * mib
	if err := small.RestartWithQuota(quota); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	cli := testetcd.Client(t, c)

	// Overwrite one key until the history fills the small quota, as a
	// cluster without compaction does.
	val := strings.Repeat("v", 256<<10)
	for i := 0; ; i++ {
		rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
		_, err := cli.Put(rctx, "/test/nospace", val)
		rcancel()
		if errors.Is(err, rpctypes.ErrNoSpace) {
			break
		}
		if err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
		if i > 200 {
			t.Fatal("no NOSPACE after 50 MiB written")
		}
	}
	waitFor(t, 10*time.Second, "NOSPACE alarm raised", func() error {
		resp, err := cli.AlarmList(ctx)
		if err != nil {
			return err
		}
		if len(resp.Alarms) == 0 {
			return errors.New("no alarm")
		}
		return nil
	})

	var out strings.Builder
	opts := DefaultDefragOptions()
	opts.Compact, opts.DisarmNoSpace = true, true
	rep, err := Defrag(ctx, testetcd.Conn(t, c), opts, &out, testLogger(t))
	t.Logf("run:\n%s", out.String())
	if err != nil {
		t.Fatalf("defrag: %v", err)
	}
	if rep.Compaction == nil || rep.Compaction.Revision == 0 {
		t.Errorf("no compaction: %+v", rep.Compaction)
	}
	var defragged bool
	for _, m := range rep.Members {
		if m.Name == small.Name && m.Action == ActionDefragmented && m.SizeAfter < quota {
			defragged = true
		}
	}
	if !defragged {
		t.Errorf("%s not defragmented under its quota: %+v", small.Name, rep.Members)
	}
	if len(rep.Alarms) != 1 || !rep.Alarms[0].Disarmed || rep.Alarms[0].Member != small.Name {
		t.Errorf("alarms: %+v, want %s's NOSPACE disarmed", rep.Alarms, small.Name)
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) != 0 {
		t.Errorf("alarms left: %v %v", alarms, err)
	}
	if _, err := cli.Put(ctx, "/test/nospace-after", "writable"); err != nil {
		t.Errorf("cluster not writable after recovery: %v", err)
	}
}
