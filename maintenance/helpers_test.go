package maintenance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// shared is one 3-member cluster for the tests that leave it whole; each
// test writes under its own prefix and fragments it again if it needs to.
// etcd's own election timing: nothing here tests failover, and on a loaded
// machine fast elections move the leader the order is checked against.
var shared = testetcd.Shared{Options: localetcd.Options{Members: 3}}

func TestMain(m *testing.M) {
	code := m.Run()
	shared.Close()
	os.Exit(code)
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

const (
	mib = 1 << 20
	// testMinFree is the --min-free-bytes of the tests: fragment() leaves
	// about 20 MiB free on every member.
	testMinFree = 8 * mib
)

// testDefragOptions are the command's defaults with the tests' threshold.
func testDefragOptions() DefragOptions {
	o := DefaultDefragOptions()
	o.Rule.MinFreeBytes = testMinFree
	return o
}

// fill writes n values of 64 KiB under prefix, 16 to a transaction (etcd
// refuses requests over 1.5 MiB).
func fill(t *testing.T, ctx context.Context, cli *clientv3.Client, prefix string, n int) int64 {
	t.Helper()
	val := strings.Repeat("x", 64<<10)
	var rev int64
	for i := 0; i < n; i += 16 {
		var ops []clientv3.Op
		for j := i; j < min(n, i+16); j++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("%s%05d", prefix, j), val))
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := cli.Txn(rctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			t.Fatalf("writing under %s: %v", prefix, err)
		}
		rev = resp.Header.Revision
	}
	return rev
}

// fragment leaves about 20 MiB of free pages in every member's database:
// values written, deleted, and their history compacted away.
func fragment(t *testing.T, c *localetcd.Cluster, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli := testetcd.Client(t, c)
	rev := churn(t, c, prefix)
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	// The compaction is physical on the member that served it; the others
	// apply it on their own time. bbolt only counts freed pages as free
	// once a later write transaction releases them, hence the writes.
	waitFor(t, 20*time.Second, "every member fragmented", func() error {
		if _, err := cli.Put(ctx, prefix+"settle", "x"); err != nil {
			return err
		}
		for name, st := range statuses(t, c) {
			if free := st.DbSize - st.DbSizeInUse; free < 2*testMinFree {
				return fmt.Errorf("%s: only %d bytes free of %d", name, free, st.DbSize)
			}
		}
		return nil
	})
}

// churn writes about 20 MiB under prefix and deletes it; until a compaction
// the history keeps every page in use. It returns the delete's revision.
func churn(t *testing.T, c *localetcd.Cluster, prefix string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli := testetcd.Client(t, c)
	fill(t, ctx, cli, prefix, 320)
	resp, err := cli.Delete(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// statuses asks every running member for its Status, by member name.
func statuses(t *testing.T, c *localetcd.Cluster) map[string]*clientv3.StatusResponse {
	t.Helper()
	cli := testetcd.Client(t, c)
	out := map[string]*clientv3.StatusResponse{}
	for _, m := range c.Members() {
		if !m.Running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		if err != nil {
			t.Fatalf("status of %s: %v", m.Name, err)
		}
		out[m.Name] = st
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probe writes and reads back (linearizably) its own keys through a client
// over every endpoint, each request under a short deadline, the way an
// application would see the cluster during maintenance.
type probe struct {
	ok     atomic.Int64
	mu     sync.Mutex
	errs   []error
	cancel context.CancelFunc
	done   chan struct{}
}

func startProbe(t *testing.T, c *localetcd.Cluster, prefix string) *probe {
	t.Helper()
	cli := testetcd.Client(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	p := &probe{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ctx.Err() == nil; i++ {
			key := fmt.Sprintf("%s%d", prefix, i%10)
			val := fmt.Sprint(i)
			err := func() error {
				rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				if _, err := cli.Put(rctx, key, val); err != nil {
					return fmt.Errorf("put %s: %w", key, err)
				}
				resp, err := cli.Get(rctx, key)
				if err != nil {
					return fmt.Errorf("get %s: %w", key, err)
				}
				if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != val {
					return fmt.Errorf("get %s: stale read %v", key, resp.Kvs)
				}
				return nil
			}()
			switch {
			case err == nil:
				p.ok.Add(1)
			case ctx.Err() != nil && errors.Is(err, context.Canceled):
			default:
				p.mu.Lock()
				p.errs = append(p.errs, fmt.Errorf("%s: %w", time.Now().Format("15:04:05.000"), err))
				p.mu.Unlock()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *probe) stop() {
	p.cancel()
	<-p.done
}

func (p *probe) failures() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]error(nil), p.errs...)
}

// runCommand runs a registered command the way main does: kingpin with
// default environment variables, the selected command's Run, the exit code.
func runCommand(t *testing.T, register func(*kingpin.Application, *strings.Builder) cli.Command, args ...string) (out string, code int, err error) {
	t.Helper()
	app := kingpin.New("etcd-monitor", "").DefaultEnvars()
	app.Terminate(nil)
	var b strings.Builder
	cmd := register(app, &b)
	selected, err := app.Parse(args)
	if err != nil {
		// main prints kingpin's parse errors, naming the flag, and exits 2.
		return "", cli.ExitUsage, cli.NameParseError(app, args, err)
	}
	if selected != cmd.Clause.FullCommand() {
		t.Fatalf("parsed %q, want %q", selected, cmd.Clause.FullCommand())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = cmd.Run(ctx, testLogger(t))
	return b.String(), cli.ExitCode(err), err
}

func defragCmd(app *kingpin.Application, b *strings.Builder) cli.Command {
	return registerDefrag(app, b)
}
func snapshotCmd(app *kingpin.Application, b *strings.Builder) cli.Command {
	return registerSnapshot(app, b)
}
