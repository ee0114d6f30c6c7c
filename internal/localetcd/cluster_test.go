package localetcd

import (
	"context"
	"net"
	"os"
	"testing"
	"time"
)

func TestClusterLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Members: 3, FastElections: true, Binary: os.Getenv("ETCD_BIN")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatalf("put through the proxies: %v", err)
	}
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.Stop(); err != nil {
		t.Fatal(err)
	}
	// The two others elect a new leader.
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, err := c.Leader(ctx)
		if err == nil && l != leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new leader after stopping %s: %v", leader.Name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := leader.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
	defer gcancel()
	resp, err := cli.Get(gctx, "k")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get after restart: %v %v", resp, err)
	}

	l, err := c.AddLearner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ml, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var learners int
	for _, m := range ml.Members {
		if m.IsLearner {
			learners++
		}
	}
	if learners != 1 || len(ml.Members) != 4 || !l.Learner() {
		t.Fatalf("member list after AddLearner: %d members, %d learners", len(ml.Members), learners)
	}
}

// A port the member listens on behind its proxy, taken by someone else
// while the member was stopped (a parallel test package, as CI once saw):
// the restart moves etcd to a fresh port, and clients keep the member's
// URL. Both the embedded and the process form (with ETCD_BIN).
func TestRestartOnATakenListenPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Members: 1, Binary: os.Getenv("ETCD_BIN")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := c.Members()[0]
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	taken := m.clientListen
	l, err := net.Listen("tcp", hostOf(taken))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := m.Restart(); err != nil {
		t.Fatalf("restart with its listen port taken: %v", err)
	}
	if m.clientListen == taken {
		t.Errorf("still listening on %s", taken)
	}
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	if _, err := cli.Put(pctx, "k", "v"); err != nil {
		t.Fatalf("put through the member's URL after the move: %v", err)
	}
}
