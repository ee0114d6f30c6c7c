// Package waitfor polls for a condition under a deadline: tests wait for
// what they expect to see, never for a fixed time that only holds on an
// idle machine.
package waitfor

import (
	"context"
	"testing"
	"time"
)

// Poll calls f every interval until it returns true, timeout passes or ctx
// ends, and reports whether f succeeded.
func Poll(ctx context.Context, timeout, interval time.Duration, f func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(interval):
		}
	}
}

// Until fails t unless cond holds within timeout; what names the
// condition in the failure.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(context.Background(), timeout, 20*time.Millisecond, cond) {
		t.Fatalf("timed out after %s waiting until %s", timeout, what)
	}
}
