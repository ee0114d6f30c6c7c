package benchmark

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

func revision(t *testing.T, kv *clientv3.Client) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := kv.Get(ctx, "any")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func TestRefusesUsedPrefix(t *testing.T) {
	c := shared.Cluster(t)
	conn := testetcd.Conn(t, c)
	kv := testetcd.Client(t, c)
	prefix := "/test/used/"
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kv.Put(ctx, prefix+"somebodys-data", "precious"); err != nil {
		t.Fatal(err)
	}
	before := revision(t, kv)

	_, err := Run(ctx, conn, small(WorkloadWrite, prefix), nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), prefix) || !strings.Contains(err.Error(), "--allow-existing-keys") {
		t.Fatalf("want a refusal naming the prefix and the way out, got %v", err)
	}
	if after := revision(t, kv); after != before {
		t.Fatalf("a refused run wrote to the cluster: revision %d -> %d", before, after)
	}
	// Through the command: exit 1 (a cluster state, not a typo), nothing
	// printed on stdout.
	out, err := runCLI(ctx, "--etcd.endpoints="+strings.Join(c.Endpoints(), ","), "--key-prefix="+prefix, "--total=100")
	if cli.ExitCode(err) != 1 || out != "" {
		t.Fatalf("command: exit %d (%v), stdout %q", cli.ExitCode(err), err, out)
	}

	// With --allow-existing-keys the run goes below a fresh directory and
	// leaves the existing key alone.
	cfg := small(WorkloadWrite, prefix)
	cfg.AllowExistingKeys = true
	rep, err := Run(ctx, conn, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("run not clean: %+v %+v", rep.Stop, rep.Cleanup)
	}
	resp, err := kv.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "precious" {
		t.Fatalf("the prefix holds %v after the run, want only the existing key", resp.Kvs)
	}
}

func TestInterruptCleansUp(t *testing.T) {
	c := shared.Cluster(t)
	conn := testetcd.Conn(t, c)
	kv := testetcd.Client(t, c)
	for _, w := range []string{WorkloadWrite, WorkloadMixed} {
		t.Run(w, func(t *testing.T) {
			prefix := "/test/interrupt/" + w + "/"
			cfg := small(w, prefix)
			cfg.Total = 0
			cfg.Duration = time.Minute
			cfg.KeySpaceSize = 50 // populated in a blink, even under -race
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(1500*time.Millisecond, cancel) // as Ctrl-C does
			start := time.Now()
			rep, err := Run(ctx, conn, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if time.Since(start) > 20*time.Second {
				t.Fatalf("an interrupted run took %s to return", time.Since(start))
			}
			if rep.Stop.Reason != StopInterrupted {
				t.Fatalf("stop %+v, want interrupted", rep.Stop)
			}
			if rep.Summary.Requests == 0 {
				t.Fatal("nothing was sent before the interrupt; the test proves nothing")
			}
			checkTotals(t, rep, 0)
			if rep.Cleanup.Error != "" || rep.Cleanup.Remaining != 0 || rep.Cleanup.Deleted == 0 {
				t.Fatalf("cleanup %+v", rep.Cleanup)
			}
			if n := keysUnder(t, kv, prefix); n != 0 {
				t.Fatalf("%d keys left below %s after an interrupt", n, prefix)
			}
			var text bytes.Buffer
			_ = rep.WriteText(&text)
			if !strings.Contains(text.String(), "Interrupted after") {
				t.Fatalf("report does not say it was interrupted:\n%s", text.String())
			}
		})
	}
}

func TestRefusesAlarmedCluster(t *testing.T) {
	c := shared.Cluster(t)
	conn := testetcd.Conn(t, c)
	cl := testetcd.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := c.Member(1)
	// Raise the alarm through the maintenance API, as a member does when
	// its backend is full, and disarm it again whatever happens.
	mc := pb.NewMaintenanceClient(cl.ActiveConnection())
	alarm := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: m.ID(), Alarm: pb.AlarmType_NOSPACE}
	if _, err := mc.Alarm(ctx, alarm); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := cl.AlarmDisarm(context.Background(), &clientv3.AlarmMember{MemberID: m.ID(), Alarm: pb.AlarmType_NOSPACE}); err != nil {
			t.Errorf("disarming: %v", err)
		}
	}()
	before := revision(t, cl)
	_, err := Run(ctx, conn, small(WorkloadRead, "/test/alarm/"), nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "NOSPACE") || !strings.Contains(err.Error(), m.Name) {
		t.Fatalf("want a refusal naming the alarm and member, got %v", err)
	}
	if after := revision(t, cl); after != before {
		t.Fatalf("a refused run wrote to the cluster: revision %d -> %d", before, after)
	}
}

// TestMemberKilledMidRun crashes the leader during a run (its client and
// peer traffic cut, then the process stopped, as a kill -9 looks from
// outside), then takes quorum away before a second run.
func TestMemberKilledMidRun(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 3, FastElections: true})
	conn := testetcd.Conn(t, c)
	conn.RequestTimeout = time.Second
	cl := testetcd.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := small(WorkloadMixed, "/test/kill/")
	cfg.Total, cfg.Duration = 0, 3*time.Second
	cfg.Clients, cfg.Conns = 16, 4
	// The crash comes early in the timed run, whenever that starts
	// (populating the key space takes seconds under the race detector):
	// the first progress line of the run says when.
	var once sync.Once
	running := progressFunc(func(p []byte) {
		if bytes.Contains(p, []byte("running")) {
			once.Do(func() {
				go func() {
					leader.BlackholePeer()
					leader.BlackholeClient()
					_ = leader.Stop()
				}()
			})
		}
	})
	rep, err := Run(ctx, conn, cfg, running)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	t.Logf("\n%s", text.String())
	if rep.Stop.Reason != StopCompleted {
		t.Fatalf("stop %+v: losing one member of three must not end the run", rep.Stop)
	}
	checkTotals(t, rep, 0)
	if rep.Summary.Errors == 0 {
		t.Fatal("no request failed although the leader crashed mid-run")
	}
	for _, e := range rep.Summary.ErrorDistribution {
		if e.Kind == "" || e.Count <= 0 || e.Example == "" {
			t.Fatalf("error distribution entry %+v", e)
		}
	}
	var sawDown bool
	for _, e := range rep.Events {
		sawDown = sawDown || strings.Contains(e.Message, "member "+leader.Name+" stopped answering")
	}
	if !sawDown {
		t.Fatalf("events %+v do not report %s going down", rep.Events, leader.Name)
	}
	for _, want := range []string{"Error distribution:", "Cluster events:", leader.Name + " stopped answering", "Completed."} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if rep.Cleanup.Error != "" || keysUnder(t, cl, cfg.KeyPrefix) != 0 {
		t.Fatalf("cleanup with one member down: %+v", rep.Cleanup)
	}

	// Now one of three members is left: no quorum, no run.
	var other *localetcd.Member
	for _, m := range c.Members() {
		if m != leader {
			other = m
			break
		}
	}
	_ = other.Stop()
	_, err = Run(ctx, conn, small(WorkloadWrite, "/test/kill2/"), nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "no quorum") {
		t.Fatalf("want a refusal for lost quorum, got %v", err)
	}
}

// TestQuotaGuard fills a small quota: the run must stop itself at the
// configured share without ever raising NOSPACE.
func TestQuotaGuard(t *testing.T) {
	const quota = 8 << 20
	c := testetcd.Start(t, localetcd.Options{Members: 3, FastElections: true, QuotaBackendBytes: quota})
	conn := testetcd.Conn(t, c)
	cl := testetcd.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cfg := small(WorkloadWrite, "/test/quota/")
	cfg.Total = 1_000_000 // far more than fits
	cfg.ValSize = 1024
	cfg.Clients, cfg.Conns = 16, 4
	cfg.MaxQuotaUsage = 0.6
	// Capped so that growth per check is small next to this tiny quota on
	// any machine: the guard then stops close to the limit, not well
	// before it.
	cfg.Rate = 1500
	rep, err := Run(ctx, conn, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	t.Logf("\n%s", text.String())
	if rep.Stop.Reason != StopQuota || !strings.Contains(rep.Stop.Detail, "--max-quota-usage") {
		t.Fatalf("stop %+v, want the quota guard", rep.Stop)
	}
	if !strings.Contains(text.String(), "Stopped by the quota guard") {
		t.Fatal("the text report does not say why the run stopped")
	}
	if rep.Summary.Errors != 0 {
		t.Fatalf("errors: %+v", rep.Summary.ErrorDistribution)
	}
	alarms, err := cl.AlarmList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms.Alarms) != 0 {
		t.Fatalf("alarms raised: %v", alarms.Alarms)
	}
	for _, ep := range c.Endpoints() {
		st, err := cl.Status(ctx, ep)
		if err != nil {
			t.Fatal(err)
		}
		share := float64(st.DbSize) / quota
		// Stopped at the share (or just before, when growth would carry
		// it past before the next check), after the cleanup's tombstones
		// too.
		if share < 0.4 || share > 0.7 {
			t.Fatalf("member %s at %.1f%% of its quota after the run, want close to 60%%", ep, 100*share)
		}
	}
	if keysUnder(t, cl, cfg.KeyPrefix) != 0 {
		t.Fatal("keys left behind")
	}

	// Now at ~60%: a run with a lower limit is refused before it writes.
	before := revision(t, cl)
	cfg.MaxQuotaUsage = 0.2
	_, err = Run(ctx, conn, cfg, nil)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("want a refusal for lack of quota headroom, got %v", err)
	}
	if after := revision(t, cl); after != before {
		t.Fatalf("a refused run wrote: revision %d -> %d", before, after)
	}
}

// TestOldestSupportedEtcd runs against etcd 3.4 (Debian's etcd-server), as
// separate processes: 3.4 does not report its quota in Status, so the guard
// works from --etcd.quota-backend-bytes there.
func TestOldestSupportedEtcd(t *testing.T) {
	bin := testbin.Require(t, "apt-get install etcd-server (etcd 3.4)", "etcd")
	const quota = 8 << 20
	c := testetcd.Start(t, localetcd.Options{Members: 1, Binary: bin, QuotaBackendBytes: quota})
	conn := testetcd.Conn(t, c)
	kv := testetcd.Client(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rep, err := Run(ctx, conn, small(WorkloadMixed, "/test/old/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTotals(t, rep, 1000)
	if rep.Summary.Errors != 0 || !rep.OK() {
		t.Fatalf("errors %+v stop %+v cleanup %+v", rep.Summary.ErrorDistribution, rep.Stop, rep.Cleanup)
	}
	if !strings.HasPrefix(rep.ClusterVersion, "3.4") {
		t.Fatalf("cluster version %q: not the 3.4 binary", rep.ClusterVersion)
	}

	cfg := small(WorkloadWrite, "/test/old/")
	cfg.Total, cfg.ValSize, cfg.Rate = 1_000_000, 1024, 1500
	cfg.MaxQuotaUsage, cfg.QuotaBackendBytes = 0.6, quota
	rep, err = Run(ctx, conn, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stop.Reason != StopQuota || rep.Quota.Peak.QuotaBytes != quota {
		t.Fatalf("stop %+v, quota %+v: want the guard to stop at 60%% of the assumed 8 MiB", rep.Stop, rep.Quota)
	}
	alarms, err := kv.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) != 0 {
		t.Fatalf("alarms %v, %v", alarms, err)
	}
}

// progressFunc is a progress writer that hands each line to a function.
type progressFunc func(p []byte)

func (f progressFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
