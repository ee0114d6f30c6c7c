package localetcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/pkg/v3/proxy"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Member is one etcd member and the two proxies in front of it.
type Member struct {
	Name string
	// ClientURL and PeerURL are the proxies' addresses: what the member
	// advertises and what everybody else uses.
	ClientURL, PeerURL string
	// The proxies (nil while the member is stopped), for faults the helpers
	// below do not cover. Read them under no lock only while the member runs.
	ClientProxy, PeerProxy proxy.Server

	cluster      *Cluster
	dataDir      string
	clientListen string
	peerListen   string
	learner      bool
	lg           *zap.Logger

	mu            sync.Mutex
	etcd          *embed.Etcd
	proc          *exec.Cmd
	procDone      chan struct{}
	id            uint64
	stoppedByUser bool
	quota         int64
}

// RestartWithQuota stops the member and starts it again from its data
// directory with another backend quota (etcd reads the quota at start
// only). Like Restart, it does not wait for the member to rejoin.
func (m *Member) RestartWithQuota(q int64) error {
	if err := m.Stop(); err != nil {
		return err
	}
	m.mu.Lock()
	m.quota = q
	m.mu.Unlock()
	return m.Restart()
}

// DataDir is the member's data directory.
func (m *Member) DataDir() string { return m.dataDir }

// ID is the member's raft ID (known once it has started).
func (m *Member) ID() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id
}

// IDHex is the member ID as etcd prints it.
func (m *Member) IDHex() string { return strconv.FormatUint(m.ID(), 16) }

// Learner reports whether the member was added as a learner.
func (m *Member) Learner() bool { return m.learner }

// Running reports whether the member's server is started.
func (m *Member) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd != nil || m.proc != nil
}

func (m *Member) start(initialCluster, state string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.etcd != nil || m.proc != nil {
		return nil
	}
	// The ports etcd listens on behind the proxies were free when the
	// member was made, but another process (a parallel test package) may
	// have taken one since: etcd then fails to listen before it touches
	// its data, and starts again on fresh ports. The proxies' ports, the
	// member's advertised URLs in the member list, stay.
	// A port found taken before the start is moved at once: a process's
	// readiness check (a connection to the port) would take whoever holds
	// it for etcd.
	for attempt := 1; ; attempt++ {
		if err := m.startProxies(); err != nil {
			return fmt.Errorf("starting member %s: %w", m.Name, err)
		}
		err := errTaken
		if listenFree(m.clientListen) && listenFree(m.peerListen) {
			if m.cluster.opts.Binary != "" {
				err = m.startProcess(initialCluster, state)
			} else {
				err = m.startEmbedded(initialCluster, state)
			}
		}
		if err == nil {
			break
		}
		m.closeProxiesLocked()
		if attempt == 5 || !strings.Contains(err.Error(), errTaken.Error()) {
			return fmt.Errorf("starting member %s: %w", m.Name, err)
		}
		ports, perr := freePorts(2)
		if perr != nil {
			return fmt.Errorf("starting member %s: %w (and no fresh ports: %v)", m.Name, err, perr)
		}
		m.lg.Info("listen port taken meanwhile, starting on fresh ones", zap.Error(err))
		m.clientListen, m.peerListen = withPort(m.clientListen, ports[0]), withPort(m.peerListen, ports[1])
	}
	m.stoppedByUser = false
	return nil
}

// errTaken is what a listener says of a port another process holds.
var errTaken = errors.New("address already in use")

// listenFree reports whether the loopback URL's port can be listened on now.
func listenFree(u string) bool {
	l, err := net.Listen("tcp", hostOf(u))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// withPort is the loopback URL u ("http://127.0.0.1:1234") on port p.
func withPort(u string, p int) string {
	scheme, _, _ := strings.Cut(u, "://")
	return fmt.Sprintf("%s://127.0.0.1:%d", scheme, p)
}

func (m *Member) quotaBytes() int64 {
	if m.quota != 0 {
		return m.quota
	}
	return m.cluster.opts.QuotaBackendBytes
}

func (m *Member) startEmbedded(initialCluster, state string) error {
	o := m.cluster.opts
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.dataDir
	cfg.ListenClientUrls = []url.URL{mustURL(m.clientListen)}
	cfg.AdvertiseClientUrls = []url.URL{mustURL(m.ClientURL)}
	cfg.ListenPeerUrls = []url.URL{mustURL(m.peerListen)}
	cfg.AdvertisePeerUrls = []url.URL{mustURL(m.PeerURL)}
	cfg.InitialCluster = initialCluster
	cfg.InitialClusterToken = o.Token
	cfg.ClusterState = state
	cfg.QuotaBackendBytes = m.quotaBytes()
	cfg.ClientTLSInfo = o.ClientTLS.info()
	cfg.PeerTLSInfo = o.PeerTLS.info()
	if o.FastElections {
		cfg.TickMs, cfg.ElectionMs = 50, 500
	}
	// The lowest bcrypt cost: each login costs the server a hash, and
	// in-process members share the test binary's CPU (and its race detector).
	cfg.BcryptCost = 4
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(m.lg)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	m.etcd = e
	m.id = uint64(e.Server.MemberID())
	return nil
}

func (m *Member) startProcess(initialCluster, state string) error {
	o := m.cluster.opts
	args := []string{
		"--name", m.Name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientListen,
		"--advertise-client-urls", m.ClientURL,
		"--listen-peer-urls", m.peerListen,
		"--initial-advertise-peer-urls", m.PeerURL,
		"--initial-cluster", initialCluster,
		"--initial-cluster-state", state,
		"--initial-cluster-token", o.Token,
		"--logger", "zap",
		"--log-level", "error",
	}
	if q := m.quotaBytes(); q > 0 {
		args = append(args, "--quota-backend-bytes", strconv.FormatInt(q, 10))
	}
	if o.FastElections {
		args = append(args, "--heartbeat-interval", "50", "--election-timeout", "500")
	}
	if t := o.ClientTLS; t != nil {
		args = append(args, "--cert-file", t.CertFile, "--key-file", t.KeyFile, "--trusted-ca-file", t.CAFile)
		if t.ClientCertAuth {
			args = append(args, "--client-cert-auth")
		}
	}
	if t := o.PeerTLS; t != nil {
		args = append(args, "--peer-cert-file", t.CertFile, "--peer-key-file", t.KeyFile, "--peer-trusted-ca-file", t.CAFile)
		if t.ClientCertAuth {
			args = append(args, "--peer-client-cert-auth")
		}
	}
	if err := os.MkdirAll(m.cluster.dir, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(m.dataDir+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(m.cluster.opts.Binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	m.proc, m.procDone = cmd, done
	// The process is ready to be asked for its ID once its client listener
	// accepts connections.
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", hostOf(m.clientListen), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			m.proc = nil
			// The log's end says why (e.g. "address already in use",
			// which Start retries on fresh ports).
			tail, _ := os.ReadFile(m.dataDir + ".log")
			if len(tail) > 400 {
				tail = tail[len(tail)-400:]
			}
			return fmt.Errorf("etcd exited early (%s.log): %s", m.dataDir, tail)
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("client listener did not come up in 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	go m.learnID()
	return nil
}

// learnID asks a process member for its ID; a new cluster's members answer
// Status as soon as they are up, even before a leader exists.
func (m *Member) learnID() {
	for i := 0; i < 200; i++ {
		if !m.Running() {
			return
		}
		cli, err := m.cluster.ClientFor(m.ClientURL)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cli.Status(ctx, m.ClientURL)
			cancel()
			cli.Close()
			if err == nil {
				m.mu.Lock()
				m.id = st.Header.MemberId
				m.mu.Unlock()
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Host
}

// Stop stops the member's server and closes its proxies, so clients and
// peers see refused connections, as they would with a crashed process.
func (m *Member) Stop() error {
	m.mu.Lock()
	e, p, done := m.etcd, m.proc, m.procDone
	m.etcd, m.proc = nil, nil
	m.stoppedByUser = true
	m.mu.Unlock()
	if e != nil {
		e.Close()
	}
	if p != nil {
		_ = p.Process.Signal(syscall.SIGCONT) // a paused process handles SIGTERM only once continued
		_ = p.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = p.Process.Kill()
			<-done
		}
	}
	m.closeProxies()
	return nil
}

// Restart starts a stopped member again from its data directory. It does
// not wait for the member to rejoin: with quorum lost it cannot until enough
// members are back.
func (m *Member) Restart() error {
	return m.start(m.cluster.initialCluster(nil), "existing")
}

// BlackholeClient drops all client traffic to and from the member: clients
// connect to the proxy but get no answer, like a hung process.
func (m *Member) BlackholeClient() {
	if p := m.clientProxy(); p != nil {
		p.BlackholeTx()
		p.BlackholeRx()
	}
}

// UnblackholeClient lets client traffic through again.
func (m *Member) UnblackholeClient() {
	if p := m.clientProxy(); p != nil {
		p.UnblackholeTx()
		p.UnblackholeRx()
	}
}

// BlackholePeer drops raft traffic arriving at the member's peer URL.
func (m *Member) BlackholePeer() {
	if p := m.peerProxy(); p != nil {
		p.BlackholeTx()
		p.BlackholeRx()
	}
}

// UnblackholePeer lets peer traffic through again.
func (m *Member) UnblackholePeer() {
	if p := m.peerProxy(); p != nil {
		p.UnblackholeTx()
		p.UnblackholeRx()
	}
}

// DelayClient adds d to every client request sent to the member (the
// request direction only, so a round trip grows by d). Zero removes it.
func (m *Member) DelayClient(d time.Duration) {
	p := m.clientProxy()
	if p == nil {
		return
	}
	if d == 0 {
		p.UndelayTx()
		return
	}
	p.DelayTx(d, 0)
}

func (m *Member) clientProxy() proxy.Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ClientProxy
}

func (m *Member) peerProxy() proxy.Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.PeerProxy
}

// Client returns a client connected to this member only, over its proxy.
func (m *Member) Client() (*clientv3.Client, error) {
	return m.cluster.ClientFor(m.ClientURL)
}

func (m *Member) checkHealthy(ctx context.Context) error {
	cli, err := m.cluster.ClientFor(m.ClientURL)
	if err != nil {
		return err
	}
	defer cli.Close()
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := cli.Get(rctx, "health"); err != nil {
		return err
	}
	if m.ID() == 0 {
		return errors.New("member ID not known yet")
	}
	return nil
}

// startProxies (re)creates the proxies on the member's advertised ports.
func (m *Member) startProxies() error {
	var err error
	if m.ClientProxy == nil {
		if m.ClientProxy, err = newProxy(m.lg, m.ClientURL, m.clientListen); err != nil {
			return err
		}
	}
	if m.PeerProxy == nil {
		if m.PeerProxy, err = newProxy(m.lg, m.PeerURL, m.peerListen); err != nil {
			return err
		}
	}
	return nil
}

func (m *Member) closeProxies() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closeProxiesLocked()
}

func (m *Member) closeProxiesLocked() {
	cp, pp := m.ClientProxy, m.PeerProxy
	m.ClientProxy, m.PeerProxy = nil, nil
	if cp != nil {
		_ = cp.Close()
	}
	if pp != nil {
		_ = pp.Close()
	}
}

func newProxy(lg *zap.Logger, from, to string) (proxy.Server, error) {
	p := proxy.NewServer(proxy.ServerConfig{
		Logger: lg.Named("proxy"),
		From:   mustURL(from),
		To:     mustURL(to),
	})
	select {
	case <-p.Ready():
		// The proxy stops accepting once its error channel (16 slots) is
		// full, e.g. after 16 dials to a stopped member: keep it drained.
		go func() {
			for {
				select {
				case err := <-p.Error():
					lg.Debug("proxy error", zap.Error(err))
				case <-p.Done():
					return
				}
			}
		}()
		return p, nil
	case err := <-p.Error():
		return nil, fmt.Errorf("proxy %s -> %s: %w", from, to, err)
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("proxy %s -> %s did not start", from, to)
	}
}
