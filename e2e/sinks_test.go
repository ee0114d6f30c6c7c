package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testsink"
)

// notification is one message a person would have received.
type notification = testsink.Notification

// sinks stand in for Slack, PagerDuty and the SMTP relay: Alertmanager's
// real integrations deliver to them over loopback.
type sinks struct{ *testsink.Sinks }

func startSinks(t *testing.T) *sinks { return &sinks{testsink.Start(t)} }

// match selects notifications.
type match struct {
	receiver, status, alert, cluster string
	after                            time.Time
	contains                         string // in the body
}

func (m match) String() string {
	s := fmt.Sprintf("%s %s %s@%s after %s", m.receiver, m.status, m.alert, m.cluster, m.after.Format("15:04:05.000"))
	if m.contains != "" {
		s += fmt.Sprintf(" containing %q", m.contains)
	}
	return s
}

func (m match) ok(n notification) bool {
	return n.Receiver == m.receiver && n.Status == m.status && n.Alert == m.alert && n.Cluster == m.cluster &&
		!n.At.Before(m.after) && strings.Contains(n.Body, m.contains)
}

// find returns the first notification m selects.
func (s *sinks) find(m match) (notification, bool) {
	for _, n := range s.All() {
		if m.ok(n) {
			return n, true
		}
	}
	return notification{}, false
}

// waitFor waits until m's notification arrives or deadline passes.
func (s *sinks) waitFor(t *testing.T, m match, deadline time.Time) (notification, bool) {
	t.Helper()
	for {
		if n, ok := s.find(m); ok {
			return n, true
		}
		if time.Now().After(deadline) {
			return notification{}, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *sinks) dump() string {
	var b strings.Builder
	for _, n := range s.All() {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	for _, r := range s.Rejected() {
		fmt.Fprintf(&b, "  unreadable: %s\n", testproc.Tail(r, 300))
	}
	return b.String()
}
