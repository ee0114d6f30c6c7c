package localetcd

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// ErrNotProcess is returned by faults that need an operating-system process
// (SIGSTOP, SIGKILL) on a member running in-process.
var ErrNotProcess = errors.New("member runs in-process: this fault needs an etcd process (Options.Binary)")

// IsProcess reports whether the member runs as a separate etcd process.
func (m *Member) IsProcess() bool { return m.cluster.opts.Binary != "" }

func (m *Member) signal(sig syscall.Signal) error {
	m.mu.Lock()
	p := m.proc
	m.mu.Unlock()
	if !m.IsProcess() {
		return ErrNotProcess
	}
	if p == nil {
		return fmt.Errorf("member %s is not running", m.Name)
	}
	return p.Process.Signal(sig)
}

// Pause stops the member's process with SIGSTOP: its sockets stay open and
// accept connections, but nothing answers, like a hung or swapped-out
// server. Resume continues it.
func (m *Member) Pause() error { return m.signal(syscall.SIGSTOP) }

// Resume continues a paused member with SIGCONT.
func (m *Member) Resume() error { return m.signal(syscall.SIGCONT) }

// Kill ends the member's process with SIGKILL (no graceful shutdown) and
// closes its proxies; Restart starts it again. In-process members are
// stopped, the nearest an embedded server comes to a crash.
func (m *Member) Kill() error {
	if !m.IsProcess() {
		return m.Stop()
	}
	m.mu.Lock()
	p, done := m.proc, m.procDone
	m.proc = nil
	m.stoppedByUser = true
	m.mu.Unlock()
	if p != nil {
		_ = p.Process.Signal(syscall.SIGCONT) // a paused process dies only once continued
		_ = p.Process.Kill()
		<-done
	}
	m.closeProxies()
	return nil
}

// DelayPeer adds d to the raft traffic arriving at the member's peer URL.
// Zero removes it.
func (m *Member) DelayPeer(d time.Duration) {
	p := m.peerProxy()
	if p == nil {
		return
	}
	if d == 0 {
		p.UndelayTx()
		p.UndelayRx()
		return
	}
	p.DelayTx(d, 0)
	p.DelayRx(d, 0)
}
