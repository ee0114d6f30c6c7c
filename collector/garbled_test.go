package collector

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// lossyRelay forwards TCP connections to target and, when told, loses the
// next request a client sends: what a middlebox that drops bytes mid-stream
// does to an HTTP/2 connection. The connection stays open, so gRPC keeps
// counting it as ready.
type lossyRelay struct {
	ln     net.Listener
	target string
	drop   atomic.Bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

func newLossyRelay(t *testing.T, target string) *lossyRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &lossyRelay{ln: ln, target: target}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

func (r *lossyRelay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", r.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, s)
		r.mu.Unlock()
		r.wg.Add(2)
		go func() { defer r.wg.Done(); _, _ = io.Copy(c, s); _ = c.Close() }()
		go func() { defer r.wg.Done(); r.forward(s, c); _ = s.Close() }()
	}
}

// forward copies client to server frame by frame (RFC 9113: a 24-byte
// preface, then frames of a 9-byte header and a payload). When drop is
// set, the next request the client opens is lost whole: its HEADERS and
// every later frame of its stream.
func (r *lossyRelay) forward(dst, src net.Conn) {
	preface := make([]byte, 24)
	if _, err := io.ReadFull(src, preface); err != nil {
		return
	}
	if _, err := dst.Write(preface); err != nil {
		return
	}
	var lost uint32
	hdr := make([]byte, 9)
	for {
		if _, err := io.ReadFull(src, hdr); err != nil {
			return
		}
		n := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		stream := binary.BigEndian.Uint32(hdr[5:9]) & 0x7fffffff
		frame := make([]byte, 9+n)
		copy(frame, hdr)
		if _, err := io.ReadFull(src, frame[9:]); err != nil {
			return
		}
		const headersFrame = 0x1
		if hdr[3] == headersFrame && stream != lost && r.drop.CompareAndSwap(true, false) {
			lost = stream
		}
		if lost != 0 && stream == lost {
			continue
		}
		if _, err := dst.Write(frame); err != nil {
			return
		}
	}
}

func (r *lossyRelay) close() {
	_ = r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// TestConnectionGarbledMidStreamIsReplaced loses the bytes of one request
// on an open connection. The member never sees that request's headers, so
// its HPACK table falls out of step with the client's: from then on it
// decodes every request on that connection wrongly (etcd 3.7 answers
// Status with InvalidArgument "invalid gRPC request content-type", found
// by the fault schedule) while gRPC still counts the connection as ready.
// The member must be seen up again within a few checks, on a new
// connection.
func TestConnectionGarbledMidStreamIsReplaced(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 1})
	u, err := url.Parse(c.Endpoints()[0])
	if err != nil {
		t.Fatal(err)
	}
	relay := newLossyRelay(t, u.Host)
	ep := "http://" + relay.ln.Addr().String()
	conn := newMemberConn(connFor(t, []string{ep}), nil, ep)
	t.Cleanup(conn.close)
	ctx := context.Background()
	call := func(f func(ctx context.Context) error) error {
		cctx, cancel := context.WithTimeout(ctx, testRequestTimeout)
		defer cancel()
		return f(cctx)
	}
	status := func(ctx context.Context) error { _, err := conn.status(ctx); return err }
	// Requests with deadlines of their own fill the member's table with
	// entries (each grpc-timeout value is one), so that after the loss
	// the client's references land on other entries rather than past the
	// end of the member's table (which the member would refuse at once,
	// closing the connection).
	for i := range 200 {
		cctx, cancel := context.WithTimeout(ctx, testRequestTimeout-time.Duration(i)*3*time.Millisecond)
		err := status(cctx)
		cancel()
		if err != nil {
			t.Fatalf("status before any loss: %v", err)
		}
	}
	// A request whose headers add to the tables is lost: a read of another
	// method, with a timeout the member has not seen either.
	relay.drop.Store(true)
	if err := call(func(ctx context.Context) error { return conn.read(ctx, false) }); err == nil {
		t.Fatal("the lost read was answered")
	}
	var errs []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := call(status)
		conn.recover(err) // as a check round does after its Status
		if err == nil {
			break
		}
		errs = append(errs, err.Error())
		if time.Now().After(deadline) {
			t.Fatalf("Status still fails %d checks after the loss: %s", len(errs), strings.Join(errs, "; "))
		}
		if errors.Is(err, context.DeadlineExceeded) {
			continue
		}
		time.Sleep(testInterval)
	}
	t.Logf("after the loss: %d failed checks before the member answered again: %s", len(errs), strings.Join(errs, "; "))
	if len(errs) > brokenAfter+1 {
		t.Errorf("%d failed checks before the connection was replaced, want at most %d", len(errs), brokenAfter+1)
	}
}

// TestBrokenStreamCodes: the Status failures that replace a ready
// connection. InvalidArgument ("invalid gRPC request content-type") is
// what etcd 3.7 answered, for good, on a connection a client-side
// blackhole had cut mid-request in the fault schedule; the lossy relay
// above makes the member answer Internal. Codes a member gives for its
// own state (Unavailable while it has no leader, DeadlineExceeded, which
// has its own count) keep the connection.
func TestBrokenStreamCodes(t *testing.T) {
	for code, want := range map[codes.Code]bool{
		codes.Internal: true, codes.Unknown: true, codes.ResourceExhausted: true,
		codes.InvalidArgument: true, codes.Unimplemented: true,
		codes.Unavailable: false, codes.DeadlineExceeded: false, codes.PermissionDenied: false,
		codes.Unauthenticated: false, codes.Canceled: false, codes.OK: false,
	} {
		if got := brokenStream(code); got != want {
			t.Errorf("brokenStream(%s) = %v, want %v", code, got, want)
		}
	}
}
