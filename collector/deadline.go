package collector

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sendNoTimeout is the member connections' unary interceptor: a call keeps
// its deadline on this side, but it is not sent to the member in a
// grpc-timeout header.
//
// Why: the header's value is the time left, different on every call, and
// the HPACK encoder of the connection adds every new value to its dynamic
// table. Each connection's table was then always full of stale timeouts,
// with the maps that index them: about 9 KB per member connection, 27 MB of
// live heap at 1,000 clusters, plus the encoding of a new literal on every
// call here and its decoding on the member. Without the header the table
// holds the few fields that repeat.
//
// What the member loses is nothing it needs: when the deadline passes, the
// call is cancelled here and gRPC resets the stream, which cancels the
// request on the member as the header's timer would have (etcd has request
// timeouts of its own besides). The caller still sees DeadlineExceeded.
func sendNoTimeout(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	defer func() {
		stop()
		cancel()
	}()
	err := invoker(cctx, method, req, reply, cc, opts...)
	if err != nil && ctx.Err() != nil && status.Code(err) == codes.Canceled {
		// Cancelled because the caller's context ended: say why it did,
		// as gRPC would have (a timeout is a timeout, not a cancel).
		return status.FromContextError(ctx.Err()).Err()
	}
	return err
}
