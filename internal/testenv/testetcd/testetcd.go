// Package testetcd gives tests real etcd clusters (internal/localetcd):
// started under a deadline and closed when the test ends, one cluster
// shared by a package's tests, clients and connections to them, and the
// etcd backends a compatibility run covers.
package testetcd

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
)

// startTimeout bounds a cluster's start, members healthy included.
const startTimeout = time.Minute

// Start starts a cluster for this test alone, within a minute; it is closed
// when the test ends.
func Start(t testing.TB, opts localetcd.Options) *localetcd.Cluster {
	t.Helper()
	return StartWithin(t, startTimeout, opts)
}

// StartWithin is Start with another bound on the start, for tests that
// run beside heavy ones.
func StartWithin(t testing.TB, timeout time.Duration, opts localetcd.Options) *localetcd.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := localetcd.Start(ctx, opts)
	if err != nil {
		t.Fatalf("starting a cluster: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// Shared is one cluster for the tests of a package that leave it whole,
// started by the first test that asks for it. Each test uses its own key
// prefix. TestMain closes it after m.Run.
type Shared struct {
	// Options are the cluster's, fixed before the first Cluster call.
	Options localetcd.Options
	// AnyEtcd says the tests need a real etcd, not the release in go.mod:
	// under the race detector, with ETCD_BIN set, the cluster is then
	// processes of that binary (see Light).
	AnyEtcd bool

	once sync.Once
	c    *localetcd.Cluster
	err  error
}

// Cluster returns the shared cluster, starting it on first use; a start
// that failed fails every test that asks.
func (s *Shared) Cluster(t testing.TB) *localetcd.Cluster {
	t.Helper()
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		opts := s.Options
		if s.AnyEtcd && opts.Binary == "" {
			opts.Binary = Light().Binary
		}
		s.c, s.err = localetcd.Start(ctx, opts)
	})
	if s.err != nil {
		t.Fatalf("starting the shared cluster: %v", s.err)
	}
	return s.c
}

// Close stops the shared cluster if a test started it.
func (s *Shared) Close() {
	if s.c != nil {
		s.c.Close()
	}
}

// Conn is the monitor's connection configuration for c, with the default
// timeouts.
func Conn(t testing.TB, c *localetcd.Cluster) *etcdconn.Config {
	t.Helper()
	conn := &etcdconn.Config{Endpoints: c.Endpoints()}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	return conn
}

// Client is a client of c's voting members, closed when the test ends.
func Client(t testing.TB, c *localetcd.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// Backend is a way of running etcd: in-process (the etcd release in
// go.mod) or processes of an older binary (ETCD_BIN, Debian's etcd 3.4).
type Backend struct {
	Name   string
	Binary string // localetcd.Options.Binary; empty: in-process
}

// Embedded is the in-process backend.
var Embedded = Backend{Name: "embedded"}

// Light is the cheapest backend for a test that needs a real etcd but no
// feature of the release in go.mod: etcd processes of ETCD_BIN when this
// binary runs under the race detector (in-process servers would be
// race-instrumented too, and a cluster under load then takes most of a
// package's time), else in-process. Tests that do need the current release
// ask for Embedded and keep it under -race.
func Light() Backend {
	if bin := os.Getenv("ETCD_BIN"); raceEnabled && bin != "" {
		return Backend{Name: "etcd-bin", Binary: bin}
	}
	return Embedded
}

// Backends returns the in-process backend, plus etcd processes of ETCD_BIN
// when it is set. In CI the compatibility run is mandatory.
func Backends(t testing.TB) []Backend {
	t.Helper()
	bs := []Backend{Embedded}
	if bin := os.Getenv("ETCD_BIN"); bin != "" {
		bs = append(bs, Backend{Name: "etcd-bin", Binary: bin})
	} else if testbin.InCI() {
		t.Fatal("ETCD_BIN is not set and CI=true: .ci/run must install Debian's etcd-server and export ETCD_BIN=/usr/bin/etcd")
	} else {
		t.Log("ETCD_BIN is not set: no compatibility run against an etcd binary (ETCD_BIN=/usr/bin/etcd for Debian's 3.4)")
	}
	return bs
}

// ForEachBackend runs f once per backend, each as a subtest named after it.
func ForEachBackend(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}
