package benchmark

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// A timed request gets no deadline of its own: context.WithTimeout costs a
// timer per request in the client, and the grpc-timeout header another in
// the server, which showed as a few percent of the client's CPU at high
// request rates (etcd's tool sends no deadline at all). Instead each client
// owns one cancellable context and a watchdog cancels it when the request
// in flight runs past --etcd.request-timeout, so a hung member still cannot
// hold a client forever.

// errRequestTimeout is what a request cancelled by the watchdog failed
// with; it counts as a timeout.
var errRequestTimeout = fmt.Errorf("no answer within the request timeout: %w", context.DeadlineExceeded)

// inflight is one client's request as the watchdog sees it.
type inflight struct {
	mu      sync.Mutex
	ctx     context.Context
	cancel  context.CancelCauseFunc
	expired bool  // ctx was cancelled: make a new one for the next request
	started int64 // UnixNano of the request in flight, 0 when idle
	_       [32]byte
}

// begin returns the context for a request starting at now.
func (f *inflight) begin(now time.Time) context.Context {
	f.mu.Lock()
	if f.ctx == nil || f.expired {
		f.ctx, f.cancel = context.WithCancelCause(context.Background())
		f.expired = false
	}
	f.started = now.UnixNano()
	ctx := f.ctx
	f.mu.Unlock()
	return ctx
}

// end marks the request finished; err becomes errRequestTimeout when the
// watchdog cut it.
func (f *inflight) end(ctx context.Context, err error) error {
	f.mu.Lock()
	f.started = 0
	f.mu.Unlock()
	if err != nil && context.Cause(ctx) == errRequestTimeout {
		return errRequestTimeout
	}
	return err
}

// expire cancels the request if it started before cutoff. The lock makes
// sure only the request that overran is cancelled, never the next one.
func (f *inflight) expire(cutoff int64) {
	f.mu.Lock()
	if f.started != 0 && f.started < cutoff {
		f.cancel(errRequestTimeout)
		f.expired = true
		f.started = 0
	}
	f.mu.Unlock()
}

func (f *inflight) close() {
	f.mu.Lock()
	if f.cancel != nil {
		f.cancel(context.Canceled)
	}
	f.mu.Unlock()
}

// startWatchdog checks every client about ten times per timeout and
// returns a function that stops it.
func startWatchdog(clients []inflight, timeout time.Duration) func() {
	tick := min(max(timeout/10, 10*time.Millisecond), 100*time.Millisecond)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				cutoff := now.Add(-timeout).UnixNano()
				for i := range clients {
					clients[i].expire(cutoff)
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-done
		for i := range clients {
			clients[i].close()
		}
	}
}
