package benchmark

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
)

// shared is one 3-member cluster for the tests that do not break it; each
// test uses its own key prefix.
var shared struct {
	once sync.Once
	c    *localetcd.Cluster
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.c != nil {
		shared.c.Close()
	}
	os.Exit(code)
}

func sharedCluster(t *testing.T) *localetcd.Cluster {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		shared.c, shared.err = localetcd.Start(ctx, localetcd.Options{Members: 3, FastElections: true})
	})
	if shared.err != nil {
		t.Fatalf("starting the shared cluster: %v", shared.err)
	}
	return shared.c
}

func startCluster(t *testing.T, opts localetcd.Options) *localetcd.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := localetcd.Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting a cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func connFor(t *testing.T, c *localetcd.Cluster) *etcdconn.Config {
	t.Helper()
	conn := &etcdconn.Config{Endpoints: c.Endpoints()}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	return conn
}

func clientFor(t *testing.T, c *localetcd.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// keysUnder counts the keys below prefix.
func keysUnder(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}

// small is a quick run's configuration below prefix.
func small(workload, prefix string) Config {
	c := DefaultConfig()
	c.Workload = workload
	c.Total = 2000
	c.Conns = 2
	c.Clients = 8
	c.KeySpaceSize = 500
	c.KeyPrefix = prefix
	return c
}

// runCLI runs the benchmark command as main would, with stdout captured.
func runCLI(ctx context.Context, args ...string) (stdout string, err error) {
	app := kingpin.New("etcd-monitor", "test").Terminate(nil)
	var out bytes.Buffer
	cmd := register(app, &out, func() bool { return false })
	args = append([]string{"benchmark"}, args...)
	if _, err := app.Parse(args); err != nil {
		return "", cli.Usagef("%v", cli.NameParseError(app, args, err))
	}
	err = cmd.Run(ctx, slog.New(slog.DiscardHandler))
	return out.String(), err
}
