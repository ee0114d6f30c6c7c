// Package localetcd starts real etcd clusters on loopback for tests and for
// the demo: members run in-process through go.etcd.io/etcd/server/v3/embed,
// or as separate processes of an etcd binary (for compatibility runs against
// an older release). A go.etcd.io/etcd/pkg/v3/proxy sits in front of every
// member's client and peer listener, and the proxies' addresses are what the
// members advertise, so stopping, blackholing or delaying a member is a real
// network fault seen by clients and by the other members alike.
package localetcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Options describe the cluster to start.
type Options struct {
	// Members is the number of voting members (default 3).
	Members int
	// Dir holds the data directories; a temporary one when empty (removed by
	// Close).
	Dir string
	// Binary runs members as processes of this etcd executable instead of
	// in-process (e.g. Debian's etcd 3.4 for compatibility tests).
	Binary string
	// QuotaBackendBytes sets every member's backend quota (0: etcd's default).
	QuotaBackendBytes int64
	// TLS serves client traffic (and peer traffic, when PeerTLS is set) with
	// these certificate files.
	ClientTLS *TLSFiles
	PeerTLS   *TLSFiles
	// Fast raft timing (50 ms heartbeat, 500 ms election) makes failover tests
	// quick; the default is etcd's (100 ms, 1 s).
	FastElections bool
	// Logger receives etcd's own logs; nil discards them.
	Logger *zap.Logger
	// Token is the initial cluster token (default "localetcd").
	Token string
}

// TLSFiles are PEM file paths for a member's listener.
type TLSFiles struct {
	CertFile, KeyFile, CAFile string
	// ClientCertAuth requires clients to present a certificate signed by CAFile.
	ClientCertAuth bool
}

func (t *TLSFiles) info() transport.TLSInfo {
	if t == nil {
		return transport.TLSInfo{}
	}
	return transport.TLSInfo{CertFile: t.CertFile, KeyFile: t.KeyFile, TrustedCAFile: t.CAFile, ClientCertAuth: t.ClientCertAuth}
}

// Cluster is a running local etcd cluster.
type Cluster struct {
	opts    Options
	dir     string
	tempDir bool

	mu      sync.Mutex
	members []*Member
	named   int // members ever created, for unique names after removals
	// user and password clients authenticate with once EnableAuth ran.
	user, password string
}

// Start starts a cluster and waits until it has a leader and serves
// linearizable reads.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Members == 0 {
		opts.Members = 3
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Token == "" {
		opts.Token = "localetcd"
	}
	// Free ports are found by listening on port 0 and closing again; until
	// the members bind them, another process (a parallel test package) can
	// take one. Such a start is retried on fresh ports.
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		var c *Cluster
		c, err = startOnce(ctx, opts)
		if err == nil {
			return c, nil
		}
		if !strings.Contains(err.Error(), "address already in use") || ctx.Err() != nil {
			return nil, err
		}
	}
	return nil, err
}

func startOnce(ctx context.Context, opts Options) (*Cluster, error) {
	c := &Cluster{opts: opts, dir: opts.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp("", "localetcd-")
		if err != nil {
			return nil, fmt.Errorf("creating data directory: %w", err)
		}
		c.dir, c.tempDir = d, true
	}
	fail := func(err error) (*Cluster, error) {
		c.Close()
		if !c.tempDir {
			// A failed first start leaves half-made member directories
			// that a retry must not mistake for existing members.
			for _, m := range c.members {
				_ = os.RemoveAll(m.dataDir)
			}
		}
		return nil, err
	}
	for i := 0; i < opts.Members; i++ {
		m, err := c.newMember("")
		if err != nil {
			return fail(err)
		}
		c.members = append(c.members, m)
	}
	initial := c.initialCluster(nil)
	// Members of a new cluster wait for each other, so they start together.
	errc := make(chan error, len(c.members))
	for _, m := range c.members {
		go func(m *Member) { errc <- m.start(initial, "new") }(m)
	}
	var errs []error
	for range c.members {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		return fail(err)
	}
	return c, nil
}

func (c *Cluster) newMember(name string) (*Member, error) {
	c.mu.Lock()
	c.named++
	if name == "" {
		name = fmt.Sprintf("m%d", c.named)
	}
	c.mu.Unlock()
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	cs, ps := "http", "http"
	if c.opts.ClientTLS != nil {
		cs = "https"
	}
	if c.opts.PeerTLS != nil {
		ps = "https"
	}
	m := &Member{
		Name:          name,
		cluster:       c,
		dataDir:       filepath.Join(c.dir, name),
		clientListen:  fmt.Sprintf("%s://127.0.0.1:%d", cs, ports[0]),
		ClientURL:     fmt.Sprintf("%s://127.0.0.1:%d", cs, ports[1]),
		peerListen:    fmt.Sprintf("%s://127.0.0.1:%d", ps, ports[2]),
		PeerURL:       fmt.Sprintf("%s://127.0.0.1:%d", ps, ports[3]),
		lg:            c.opts.Logger.Named(name),
		stoppedByUser: true,
	}
	return m, nil
}

func (c *Cluster) initialCluster(extra *Member) string {
	var parts []string
	for _, m := range c.members {
		parts = append(parts, m.Name+"="+m.PeerURL)
	}
	if extra != nil {
		parts = append(parts, extra.Name+"="+extra.PeerURL)
	}
	return strings.Join(parts, ",")
}

// Members returns the members, voting and learners, in start order.
func (c *Cluster) Members() []*Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Member(nil), c.members...)
}

// Member returns the i-th member (0-based).
func (c *Cluster) Member(i int) *Member { return c.Members()[i] }

// Endpoints returns the members' advertised (proxied) client URLs.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.Members() {
		eps = append(eps, m.ClientURL)
	}
	return eps
}

// Client returns a client over the voting members' proxied endpoints
// (learners refuse most requests, so they are never in a balanced client).
// The caller closes it.
func (c *Cluster) Client() (*clientv3.Client, error) {
	var eps []string
	for _, m := range c.Members() {
		if !m.learner {
			eps = append(eps, m.ClientURL)
		}
	}
	return c.ClientFor(eps...)
}

// ClientFor returns a client over the given endpoints using the cluster's
// client TLS settings.
func (c *Cluster) ClientFor(endpoints ...string) (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: endpoints, DialTimeout: 2 * time.Second, Logger: zap.NewNop()}
	c.mu.Lock()
	cfg.Username, cfg.Password = c.user, c.password
	c.mu.Unlock()
	if t := c.opts.ClientTLS; t != nil {
		info := transport.TLSInfo{TrustedCAFile: t.CAFile}
		if t.ClientCertAuth {
			info.CertFile, info.KeyFile = t.CertFile, t.KeyFile
		}
		tc, err := info.ClientConfig()
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	return clientv3.New(cfg)
}

// Leader returns the member that currently leads, asking each running member.
func (c *Cluster) Leader(ctx context.Context) (*Member, error) {
	cli, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	for _, m := range c.Members() {
		if !m.Running() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		st, err := cli.Status(sctx, m.ClientURL)
		cancel()
		if err != nil || st.Leader == 0 {
			continue
		}
		for _, l := range c.Members() {
			if l.ID() == st.Leader {
				return l, nil
			}
		}
	}
	return nil, errors.New("no member reports a leader")
}

// WaitHealthy waits until every running voting member answers a
// linearizable read.
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var notReady []string
		for _, m := range c.Members() {
			if !m.Running() || m.learner {
				continue
			}
			if err := m.checkHealthy(ctx); err != nil {
				notReady = append(notReady, fmt.Sprintf("%s: %v", m.Name, err))
			}
		}
		if len(notReady) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not healthy after 30s: %s", strings.Join(notReady, "; "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// AddLearner adds a new member as a learner through the member API and
// starts it. Learners do not vote and are not counted in quorum.
func (c *Cluster) AddLearner(ctx context.Context) (*Member, error) {
	return c.add(ctx, true)
}

// AddMember adds a new voting member through the member API and starts it.
// It does not wait for the member to catch up.
func (c *Cluster) AddMember(ctx context.Context) (*Member, error) {
	return c.add(ctx, false)
}

func (c *Cluster) add(ctx context.Context, learner bool) (*Member, error) {
	m, err := c.newMember("")
	if err != nil {
		return nil, err
	}
	cli, err := c.Client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	// With strict reconfig checks etcd refuses membership changes until the
	// leader has seen its peers for a while (e.g. just after a restart).
	err = retryUnhealthy(ctx, func(actx context.Context) error {
		var err error
		if learner {
			_, err = cli.MemberAddAsLearner(actx, []string{m.PeerURL})
		} else {
			_, err = cli.MemberAdd(actx, []string{m.PeerURL})
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("adding member %s: %w", m.Name, err)
	}
	initial := c.initialCluster(m)
	m.learner = learner
	c.mu.Lock()
	c.members = append(c.members, m)
	c.mu.Unlock()
	if err := m.start(initial, "existing"); err != nil {
		return nil, err
	}
	return m, nil
}

// retryUnhealthy runs a membership change until etcd stops refusing it as
// unsafe ("unhealthy cluster"), for at most 20 s.
func retryUnhealthy(ctx context.Context, f func(context.Context) error) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		if !errors.Is(err, rpctypes.ErrUnhealthy) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// RemoveMember removes m from the cluster through the member API (asking
// the other members), then stops it. Its data directory stays.
func (c *Cluster) RemoveMember(ctx context.Context, m *Member) error {
	var eps []string
	for _, o := range c.Members() {
		if o != m && !o.learner && o.Running() {
			eps = append(eps, o.ClientURL)
		}
	}
	if len(eps) == 0 {
		return errors.New("no other running member to remove it through")
	}
	cli, err := c.ClientFor(eps...)
	if err != nil {
		return err
	}
	defer cli.Close()
	id := m.ID()
	err = retryUnhealthy(ctx, func(actx context.Context) error {
		_, err := cli.MemberRemove(actx, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("removing member %s: %w", m.Name, err)
	}
	c.mu.Lock()
	for i, o := range c.members {
		if o == m {
			c.members = append(c.members[:i], c.members[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	return m.Stop()
}

// EnableAuth creates the root user with password and turns auth on; the
// cluster's own clients (Client, ClientFor, health waits) then log in as
// root.
func (c *Cluster) EnableAuth(ctx context.Context, password string) error {
	cli, err := c.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	steps := []func() error{
		func() error { _, err := cli.RoleAdd(ctx, "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "root", password); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("enabling auth: %w", err)
		}
	}
	c.mu.Lock()
	c.user, c.password = "root", password
	c.mu.Unlock()
	return nil
}

// Close stops every member, closes the proxies and removes a temporary data
// directory.
func (c *Cluster) Close() {
	// The followers first, then the leader: a leader stopped beside its
	// followers hands leadership to one of them that is going away and
	// waits out the transfer's timeout (6 s); with its peers gone it stops
	// at once.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	leader, _ := c.Leader(ctx)
	cancel()
	var wg sync.WaitGroup
	for _, m := range c.Members() {
		if m == leader {
			continue
		}
		wg.Add(1)
		go func(m *Member) {
			defer wg.Done()
			_ = m.Stop()
		}(m)
	}
	wg.Wait()
	if leader != nil {
		_ = leader.Stop()
	}
	if c.tempDir {
		_ = os.RemoveAll(c.dir)
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func mustURL(s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return *u
}
