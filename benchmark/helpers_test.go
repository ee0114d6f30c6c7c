package benchmark

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// shared is one 3-member cluster for the tests that do not break it; each
// test uses its own key prefix. They need a real etcd, not this release:
// under -race with ETCD_BIN set it is etcd processes, which the race
// detector does not slow down (TestQuotaGuard and TestMemberKilledMidRun
// keep runs on the in-process release under -race).
var shared = testetcd.Shared{Options: localetcd.Options{Members: 3, FastElections: true}, AnyEtcd: true}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
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

// small is a quick run's configuration below prefix: enough requests for
// every figure of the report, few enough that a run on a race-instrumented
// in-process cluster takes seconds.
func small(workload, prefix string) Config {
	c := DefaultConfig()
	c.Workload = workload
	c.Total = 1000
	c.Conns = 2
	c.Clients = 8
	c.KeySpaceSize = 250
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
