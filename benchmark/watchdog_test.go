package benchmark

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWatchdogCutsOnlyOverrunningRequests(t *testing.T) {
	fl := make([]inflight, 2)
	stop := startWatchdog(fl, 50*time.Millisecond)
	defer stop()

	// Client 0: a request that never answers is cut after the timeout.
	hung := fl[0].begin(time.Now())
	select {
	case <-hung.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("a request past the timeout was not cancelled")
	}
	err := fl[0].end(hung, context.Canceled)
	if !errors.Is(err, errRequestTimeout) || errorKind(err) != "timeout" {
		t.Fatalf("cut request failed with %v (kind %s), want a timeout", err, errorKind(err))
	}
	// Its next request gets a fresh context.
	next := fl[0].begin(time.Now())
	if next.Err() != nil {
		t.Fatal("the request after a cut one starts cancelled")
	}
	_ = fl[0].end(next, nil)

	// Client 1: quick requests in a row are never cut, even over many
	// watchdog ticks.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		ctx := fl[1].begin(time.Now())
		time.Sleep(5 * time.Millisecond)
		if ctx.Err() != nil {
			t.Fatal("a 5 ms request was cancelled with a 50 ms timeout")
		}
		if err := fl[1].end(ctx, nil); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // idle time does not count
	}
}
