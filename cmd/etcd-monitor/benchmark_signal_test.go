package main

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/syncbuf"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// Ctrl-C or SIGTERM stops a benchmark run within a second or two and its
// keys are still deleted: in the timed run and while the key space is
// being written before it. The built binary gets a real signal. Before the
// bounds, a run with a 2 GB value took 43 s to exit after SIGTERM.
func TestBenchmarkStopsOnSignal(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 1})
	cli := testetcd.Client(t, c)
	for _, tc := range []struct {
		name   string
		sig    syscall.Signal
		prefix string
		keys   int64 // written before the signal
		args   []string
	}{
		{"run, SIGTERM", syscall.SIGTERM, "/sig/run/", 50, []string{"--workload=write", "--duration=2m", "--clients=50", "--conns=5", "--val-size=4096", "--key-space-size=100000"}},
		{"populate, SIGINT", syscall.SIGINT, "/sig/populate/", 50, []string{"--workload=read", "--total=100", "--clients=20", "--conns=2", "--rate=300", "--key-space-size=1000000", "--val-size=1024"}},
		// The largest values etcd takes: requests in flight are let finish.
		{"largest values, SIGTERM", syscall.SIGTERM, "/sig/large/", 5, []string{"--workload=write", "--duration=2m", "--clients=16", "--conns=2", "--val-size=1500000", "--key-space-size=20"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"benchmark", "--log.level=warn", "--etcd.endpoints=" + strings.Join(c.Endpoints(), ","), "--key-prefix=" + tc.prefix, "--output=json"}, tc.args...)
			cmd := exec.Command(binary, args...)
			out := &syncbuf.Buffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { _ = cmd.Wait(); close(done) }()
			t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })

			// Signal once the run has written keys.
			ctx := t.Context()
			deadline := time.Now().Add(30 * time.Second)
			for {
				resp, err := cli.Get(ctx, tc.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
				if err == nil && resp.Count >= tc.keys {
					break
				}
				select {
				case <-done:
					t.Fatalf("benchmark exited before the signal: %s", out.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("no keys written within 30s: %v; output %s", err, out.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			start := time.Now()
			if err := cmd.Process.Signal(tc.sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				t.Fatalf("still running 15s after %v: %s", tc.sig, out.String())
			}
			took := time.Since(start)
			t.Logf("exited %s after %v", took.Round(time.Millisecond), tc.sig)
			// Two seconds is the promise; the bound is generous for a
			// loaded machine under -race.
			if took > 6*time.Second {
				t.Errorf("took %s to exit after %v, want about a second", took, tc.sig)
			}
			if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(out.String(), "interrupted") {
				t.Errorf("exit %d, want 1 saying interrupted: %s", code, out.String())
			}
			resp, err := cli.Get(context.Background(), tc.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
			if err != nil || resp.Count != 0 {
				t.Errorf("keys left under %s: %v %v", tc.prefix, resp, err)
			}
		})
	}
}
