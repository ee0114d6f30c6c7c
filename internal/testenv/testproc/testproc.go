// Package testproc runs the real programs tests talk to (Alertmanager,
// Prometheus, the Pushgateway, etcd-monitor itself): started with their
// output kept, waited for until they answer, killed when the test ends.
package testproc

import (
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/syncbuf"
)

// Proc is a program the test started; t.Cleanup kills it and waits for it.
type Proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{}
}

// Start runs bin with args, its stdout and stderr collected. name says
// which program it is in failure messages. When the test has failed, the
// cleanup logs the last 4 KiB of the output.
func Start(t testing.TB, name, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{name: name, out: &syncbuf.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// Should the test binary die, the programs die with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- %s output (last 4 KiB):\n%s", name, Tail(p.out.String(), 4096))
		}
	})
	return p
}

// Output returns what the program wrote so far, stdout and stderr mixed.
func (p *Proc) Output() string { return p.out.String() }

// WaitReady polls url until it answers 200, or fails the test: after
// timeout, or at once when the program exits first.
func (p *Proc) WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	var last string
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready:\n%s", p.name, Tail(p.out.String(), 4096))
		default:
		}
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
		} else {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s after %s (last: %s):\n%s", p.name, url, timeout, last, Tail(p.out.String(), 4096))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Tail returns the last n bytes of s, marked as cut when it is longer.
func Tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
