package collector

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/status"
)

// hangingKV is a gRPC KV server whose Range answers only when its request
// is cancelled, reporting what the request's context said.
type hangingKV struct {
	pb.UnimplementedKVServer
	got chan rangeSeen
}

type rangeSeen struct {
	hadDeadline bool
	ended       error // the request context's error once it ended
}

func (s *hangingKV) Range(ctx context.Context, _ *pb.RangeRequest) (*pb.RangeResponse, error) {
	_, dl := ctx.Deadline()
	select {
	case <-ctx.Done():
		s.got <- rangeSeen{hadDeadline: dl, ended: ctx.Err()}
	case <-time.After(time.Minute):
		s.got <- rangeSeen{hadDeadline: dl}
	}
	return nil, ctx.Err()
}

// A member connection's call keeps its deadline here without sending it
// (see sendNoTimeout): the caller sees DeadlineExceeded, the server gets a
// request without a deadline, and the request is cancelled on the server
// when the caller gives up.
func TestCallDeadlineEndsTheRequestWithoutBeingSent(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	kv := &hangingKV{got: make(chan rangeSeen, 1)}
	srv := grpc.NewServer()
	pb.RegisterKVServer(srv, kv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	ep := "http://" + lis.Addr().String()
	c := newMemberConn(connFor(t, []string{ep}), &http.Client{}, ep)
	t.Cleanup(c.close)

	// Connected first, so that the request reaches the server well within
	// its deadline even on a loaded machine.
	cc, err := c.conn()
	if err != nil {
		t.Fatal(err)
	}
	cc.Connect()
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	for st := cc.GetState(); st != connectivity.Ready; st = cc.GetState() {
		if !cc.WaitForStateChange(wctx, st) {
			t.Fatalf("no connection to the test server within 30 s (%v)", st)
		}
	}

	const timeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	err = c.read(ctx, false)
	if took := time.Since(start); took > timeout+5*time.Second {
		t.Errorf("the call returned %v after its %v deadline", took-timeout, timeout)
	}
	if code := status.Code(errors.Unwrap(err)); code != codes.DeadlineExceeded {
		t.Fatalf("want a timeout (DeadlineExceeded), got %v (%v)", code, err)
	}
	if r := FailureReason(errors.Unwrap(err)); r != "timeout" {
		t.Errorf("probe failure reason %q, want timeout", r)
	}
	select {
	case seen := <-kv.got:
		if seen.hadDeadline {
			t.Error("the server's request had a deadline: grpc-timeout was sent")
		}
		if !errors.Is(seen.ended, context.Canceled) {
			t.Errorf("the server's request ended with %v, want it cancelled by the caller's deadline", seen.ended)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server's request was not cancelled when the caller's deadline passed")
	}

	// A call without a deadline of its own is passed on unchanged.
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel2)
	err = c.read(ctx2, false)
	if code := status.Code(errors.Unwrap(err)); code != codes.Canceled {
		t.Fatalf("a cancelled call: want Canceled, got %v (%v)", code, err)
	}
	select {
	case <-kv.got:
	case <-time.After(30 * time.Second):
		t.Fatal("the server's request was not cancelled when the caller cancelled")
	}
}
