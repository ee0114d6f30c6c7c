package collector

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// errConnRetired is what a call on a connection gets once its member left
// the set: it never dials again.
var errConnRetired = errors.New("connection closed: the member is no longer checked")

// memberConn is the one long-lived gRPC connection to one member, with
// its own auth token. It does not use clientv3: clientv3's retry
// interceptor refreshes an invalid token inside each failing call, under
// that call's deadline and once per concurrent caller, so with short probe
// deadlines a restarted member (whose simple tokens are gone) never gets a
// working token again. Here one login at a time runs under its own deadline
// and every caller uses its result.
//
// Users acquire the connection for as long as they use it; retire closes it
// once the last user has released it, and no call dials after that.
type memberConn struct {
	endpoint string
	cfg      *etcdconn.Config
	http     *http.Client

	ctx    context.Context // ends at close: pending logins stop
	cancel context.CancelFunc
	wg     sync.WaitGroup // logins in flight

	mu      sync.Mutex
	cc      *grpc.ClientConn
	users   int
	retired bool
	closed  bool
	tok     tokenState
	// timeouts counts Status calls in a row that timed out on a ready
	// connection (see recover).
	timeouts int

	quotaMu sync.Mutex
	quota   int64
	quotaAt time.Time
}

// tokenState is the auth token and the login that may be renewing it.
type tokenState struct {
	token   string
	gen     uint64 // bumped on every new token or invalidation
	valid   bool
	err     error         // last login error (auth failed, ...)
	errAt   time.Time     // when it happened: logins are not retried at once
	pending chan struct{} // closed when the login in flight ends
}

func newMemberConn(cfg *etcdconn.Config, hc *http.Client, endpoint string) *memberConn {
	ctx, cancel := context.WithCancel(context.Background())
	return &memberConn{endpoint: endpoint, cfg: cfg, http: hc, ctx: ctx, cancel: cancel}
}

// acquire registers a user; false once the connection is retired.
func (c *memberConn) acquire() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.retired {
		return false
	}
	c.users++
	return true
}

// release ends a use; the last one closes a retired connection.
func (c *memberConn) release() {
	c.mu.Lock()
	c.users--
	last := c.retired && c.users == 0
	c.mu.Unlock()
	if last {
		c.close()
	}
}

// retire takes the connection out of service: it closes now if nobody
// uses it, else when the last user releases it.
func (c *memberConn) retire() {
	c.mu.Lock()
	c.retired = true
	idle := c.users == 0
	c.mu.Unlock()
	if idle {
		c.close()
	}
}

func (c *memberConn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	cc := c.cc
	c.cc = nil
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	if cc != nil {
		_ = cc.Close()
	}
}

// conn returns the gRPC connection, creating it on first use. Creating
// does not block: gRPC connects in the background, and a call waits for
// it only until its own deadline.
func (c *memberConn) conn() (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.retired && c.cc == nil {
		return nil, errConnRetired
	}
	if c.cc != nil {
		return c.cc, nil
	}
	u, err := url.Parse(c.endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %s: %w", c.endpoint, err)
	}
	tc := insecure.NewCredentials()
	var opts []grpc.DialOption
	if u.Scheme == "https" {
		cfg := c.cfg.TLS()
		if cfg == nil { // an advertised https URL while the configured ones are http
			cfg = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tc = credentials.NewTLS(cfg.Clone())
		// No gRPC read buffer over TLS: tls.Conn already reads whole
		// records into a buffer of its own, and gRPC's 32 KiB one is held
		// for as long as the connection lives (on plain TCP gRPC takes a
		// buffer only while data is ready). That is 32 KiB per member, 94
		// MiB for a fleet of 1,000 clusters, for no fewer reads.
		opts = append(opts, grpc.WithReadBufferSize(0))
	}
	cc, err := grpc.NewClient("passthrough:///"+u.Host, append(opts,
		grpc.WithTransportCredentials(tc),
		grpc.WithPerRPCCredentials(tokenCreds{c}),
		grpc.WithUnaryInterceptor(sendNoTimeout),
		// Keepalive detects a member that stopped answering on an open
		// connection, so the next call redials instead of waiting on it.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: c.cfg.RequestTimeout}),
		// gRPC's default reconnect backoff grows to 120 s: a member that
		// was down for a minute would then look down for minutes after it
		// came back. Capped at 2 s, a restarted member is seen within a
		// check or two.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: c.cfg.DialTimeout,
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.endpoint, err)
	}
	c.cc = cc
	return cc, nil
}

// brokenAfter is how many Status calls in a row may time out on a
// connection gRPC counts as ready before it is replaced.
const brokenAfter = 3

// recover prepares the connection for the next round after a failed
// Status. One in transient failure tries again now rather than after gRPC's
// backoff. One that gRPC counts as ready but that fails Status, a cheap
// local call, at the protocol level (a stream reset, a request the member
// could not decode: bytes lost mid-stream by a middlebox break HTTP/2's
// framing and header compression for good), or that timed out on it
// brokenAfter times in a row, is replaced: gRPC would keep using it until
// keepalive gives up, and the member would look down all along.
func (c *memberConn) recover(err error) {
	code := status.Code(errors.Unwrap(err))
	c.mu.Lock()
	cc := c.cc
	ready := cc != nil && cc.GetState() == connectivity.Ready
	if ready && code == codes.DeadlineExceeded {
		c.timeouts++
	} else {
		c.timeouts = 0
	}
	broken := ready && (brokenStream(code) || c.timeouts >= brokenAfter)
	if broken {
		c.cc = nil // the next call dials afresh
		c.timeouts = 0
	}
	c.mu.Unlock()
	switch {
	case broken:
		_ = cc.Close()
	case cc != nil && cc.GetState() == connectivity.TransientFailure:
		cc.ResetConnectBackoff()
	}
}

// brokenStream tells whether a Status call that failed with code on a
// ready connection says the connection itself is broken. Status takes no
// arguments and every etcd serves it, so an etcd that answers it with
// InvalidArgument ("invalid gRPC request content-type") or Unimplemented
// read a request whose headers came out garbled: bytes lost mid-stream
// leave HPACK's header tables out of step for the connection's life. The
// rest are framing and decoding failures (Internal, Unknown) and frames
// over the limits (ResourceExhausted).
func brokenStream(code codes.Code) bool {
	switch code {
	case codes.Internal, codes.ResourceExhausted, codes.Unknown, codes.InvalidArgument, codes.Unimplemented:
		return true
	}
	return false
}

// tokenCreds attaches the connection's current token to every call.
type tokenCreds struct{ c *memberConn }

func (t tokenCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	t.c.mu.Lock()
	tok := t.c.tok.token
	t.c.mu.Unlock()
	if tok == "" {
		return nil, nil
	}
	return map[string]string{rpctypes.TokenFieldNameGRPC: tok}, nil
}

func (tokenCreds) RequireTransportSecurity() bool { return false }

// AuthError is a login the member refused: the member is up, the monitor's
// credentials are wrong.
type AuthError struct{ Err error }

func (e *AuthError) Error() string { return "authentication failed: " + e.Err.Error() }
func (e *AuthError) Unwrap() error { return e.Err }

// loginRetry is how long a failed login is not tried again: every login
// costs the member a bcrypt hash.
const loginRetry = time.Second

// ensureToken makes sure a token is there when auth is configured. One
// login runs at a time, under the request timeout and the connection's
// lifetime, not the caller's deadline: a caller whose deadline is shorter
// stops waiting, the login goes on, and the next call has a token.
func (c *memberConn) ensureToken(ctx context.Context) error {
	if !c.cfg.HasAuth() {
		return nil
	}
	c.mu.Lock()
	if c.tok.valid {
		c.mu.Unlock()
		return nil
	}
	if c.tok.pending == nil {
		if c.tok.err != nil && time.Since(c.tok.errAt) < loginRetry {
			err := c.tok.err
			c.mu.Unlock()
			return err
		}
		if c.closed {
			c.mu.Unlock()
			return errConnRetired
		}
		c.tok.pending = make(chan struct{})
		c.wg.Add(1)
		go c.login(c.tok.pending)
	}
	pending := c.tok.pending
	c.mu.Unlock()
	select {
	case <-pending:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.valid {
		return nil
	}
	return c.tok.err
}

func (c *memberConn) login(done chan struct{}) {
	defer c.wg.Done()
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	var token string
	cc, err := c.conn()
	if err == nil {
		var resp *pb.AuthenticateResponse
		resp, err = pb.NewAuthClient(cc).Authenticate(ctx, &pb.AuthenticateRequest{Name: c.cfg.Username, Password: c.cfg.ClientConfig(nil).Password})
		switch {
		case err == nil:
			token = resp.Token
		case errors.Is(rpctypes.Error(err), rpctypes.ErrAuthNotEnabled):
			err = nil // auth is off: no token needed (until it is turned on)
		case errors.Is(rpctypes.Error(err), rpctypes.ErrAuthFailed):
			err = &AuthError{err}
		default:
			err = fmt.Errorf("login: %w", err)
		}
	}
	c.mu.Lock()
	c.tok.pending = nil
	if err == nil {
		c.tok.token, c.tok.valid, c.tok.err = token, true, nil
		c.tok.gen++
	} else {
		c.tok.err, c.tok.errAt = err, time.Now()
	}
	c.mu.Unlock()
	close(done)
}

// needsLogin: the member does not know the token (it restarted, simple
// tokens live in memory), or auth was turned on after the last login.
func needsLogin(err error) bool {
	if err == nil {
		return false
	}
	e := rpctypes.Error(err)
	return errors.Is(e, rpctypes.ErrInvalidAuthToken) || errors.Is(e, rpctypes.ErrUserEmpty) || errors.Is(e, rpctypes.ErrAuthOldRevision)
}

// invoke runs one call on the connection with a token, logging in again
// once when the member no longer knows the token.
func (c *memberConn) invoke(ctx context.Context, call func(cc *grpc.ClientConn) error) error {
	cc, err := c.conn()
	if err != nil {
		return err
	}
	if err := c.ensureToken(ctx); err != nil {
		return err
	}
	c.mu.Lock()
	gen := c.tok.gen
	c.mu.Unlock()
	err = call(cc)
	if !c.cfg.HasAuth() || !needsLogin(err) {
		return err
	}
	c.mu.Lock()
	if c.tok.gen == gen { // nobody logged in since this call started
		c.tok.valid = false
		c.tok.token = ""
		c.tok.gen++
		c.tok.err = nil
	}
	c.mu.Unlock()
	if lerr := c.ensureToken(ctx); lerr != nil {
		return lerr
	}
	return call(cc)
}

func (c *memberConn) status(ctx context.Context) (*pb.StatusResponse, error) {
	var st *pb.StatusResponse
	err := c.invoke(ctx, func(cc *grpc.ClientConn) (err error) {
		st, err = pb.NewMaintenanceClient(cc).Status(ctx, &pb.StatusRequest{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return st, nil
}

// read performs the health read: linearizable (a ReadIndex round through
// the leader, so it needs quorum) or serializable (local, for learners).
func (c *memberConn) read(ctx context.Context, serializable bool) error {
	err := c.invoke(ctx, func(cc *grpc.ClientConn) error {
		_, err := pb.NewKVClient(cc).Range(ctx, &pb.RangeRequest{Key: []byte("health"), Serializable: serializable, Limit: 1, CountOnly: true})
		return err
	})
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

func (c *memberConn) memberList(ctx context.Context) (*pb.MemberListResponse, error) {
	var resp *pb.MemberListResponse
	err := c.invoke(ctx, func(cc *grpc.ClientConn) (err error) {
		// Serializable: answered from the member's local state, so the
		// list is available even when quorum is lost.
		resp, err = pb.NewClusterClient(cc).MemberList(ctx, &pb.MemberListRequest{Linearizable: false})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("member list: %w", err)
	}
	return resp, nil
}

func (c *memberConn) hashKV(ctx context.Context, rev int64) (*pb.HashKVResponse, error) {
	var resp *pb.HashKVResponse
	err := c.invoke(ctx, func(cc *grpc.ClientConn) (err error) {
		resp, err = pb.NewMaintenanceClient(cc).HashKV(ctx, &pb.HashKVRequest{Revision: rev})
		return err
	})
	return resp, err
}

func (c *memberConn) leaseGrant(ctx context.Context, ttl time.Duration) (int64, error) {
	var id int64
	err := c.invoke(ctx, func(cc *grpc.ClientConn) error {
		resp, err := pb.NewLeaseClient(cc).LeaseGrant(ctx, &pb.LeaseGrantRequest{TTL: int64(ttl / time.Second)})
		if err == nil {
			id = resp.ID
		}
		return err
	})
	return id, err
}

// leaseRevoke ends the probe lease, and with it any probe key still written
// under it (keys are only ever put with this monitor's lease).
func (c *memberConn) leaseRevoke(ctx context.Context, id int64) error {
	return c.invoke(ctx, func(cc *grpc.ClientConn) error {
		_, err := pb.NewLeaseClient(cc).LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: id})
		return err
	})
}

// put, get and del are the probes' requests. Each reports how long its
// request took from the moment it was sent: a login or a re-login before it
// is not part of a latency.
func (c *memberConn) put(ctx context.Context, key, value []byte, lease int64) (time.Duration, error) {
	return c.timed(ctx, func(cc *grpc.ClientConn) error {
		_, err := pb.NewKVClient(cc).Put(ctx, &pb.PutRequest{Key: key, Value: value, Lease: lease})
		return err
	})
}

func (c *memberConn) get(ctx context.Context, key []byte, serializable bool) (time.Duration, error) {
	return c.timed(ctx, func(cc *grpc.ClientConn) error {
		_, err := pb.NewKVClient(cc).Range(ctx, &pb.RangeRequest{Key: key, Serializable: serializable})
		return err
	})
}

func (c *memberConn) del(ctx context.Context, key []byte) (time.Duration, error) {
	return c.timed(ctx, func(cc *grpc.ClientConn) error {
		_, err := pb.NewKVClient(cc).DeleteRange(ctx, &pb.DeleteRangeRequest{Key: key})
		return err
	})
}

// timed invokes call and returns the duration of its last attempt.
func (c *memberConn) timed(ctx context.Context, call func(cc *grpc.ClientConn) error) (time.Duration, error) {
	var took time.Duration
	err := c.invoke(ctx, func(cc *grpc.ClientConn) error {
		start := time.Now()
		err := call(cc)
		took = time.Since(start)
		return err
	})
	return took, err
}

// quotaMetric is the gauge etcd serves on its client URL with the backend
// quota it was started with.
const quotaMetric = "etcd_server_quota_backend_bytes"

// quotaRefresh is how long a quota read from /metrics is trusted: it only
// changes when the member restarts with another flag, and a member that was
// seen down is read again at once. Reading it is not cheap for the member:
// etcd 3.4 spends about 5 ms of CPU rendering its 150 KB of /metrics, which
// once a minute per member would cost a fleet of 1,000 clusters a quarter
// of a core of etcd.
const quotaRefresh = 15 * time.Minute

// quotaFromMetrics reads the member's quota from its own /metrics, for
// etcd before 3.6 whose Status does not report it. 0 when it cannot.
func (c *memberConn) quotaFromMetrics(ctx context.Context, restarted bool) int64 {
	c.quotaMu.Lock()
	defer c.quotaMu.Unlock()
	if c.quota > 0 && !restarted && time.Since(c.quotaAt) < quotaRefresh {
		return c.quota
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"/metrics", nil)
	if err != nil {
		return c.quota
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.quota
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return c.quota
	}
	prefix := []byte(quotaMetric + " ")
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	for sc.Scan() {
		line := sc.Bytes() // not Text: a string per line of 1,500 is garbage for nothing
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		v, err := strconv.ParseFloat(string(bytes.TrimSpace(line[len(prefix):])), 64)
		if err == nil && v > 0 {
			c.quota, c.quotaAt = int64(v), time.Now()
		}
		break
	}
	return c.quota
}

// Contact errors: the member may well be up, but refuses the monitor.
const (
	ContactAuthFailed  = "auth_failed"
	ContactTLSMismatch = "tls_mismatch"
)

// contactError classifies an error of a member that did not answer: the
// monitor's credentials or TLS settings, or "" (down or unreachable).
func contactError(err error) string {
	if err == nil {
		return ""
	}
	var ae *AuthError
	if errors.As(err, &ae) || errors.Is(rpctypes.Error(err), rpctypes.ErrAuthFailed) {
		return ContactAuthFailed
	}
	msg := err.Error()
	if s, ok := status.FromError(errors.Unwrap(err)); ok && s.Code() == codes.Unavailable {
		msg = s.Message()
	}
	// Only what the TLS layer says about certificates and protocol: gRPC's
	// "authentication handshake failed" also wraps an EOF or a timeout from
	// a member that is dying or hung, which is down, not refusing us.
	for _, m := range []string{"x509:", "tls:", "first record does not look like a TLS handshake"} {
		if strings.Contains(msg, m) {
			return ContactTLSMismatch
		}
	}
	return ""
}
