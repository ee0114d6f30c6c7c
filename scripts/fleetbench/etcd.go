package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// procs are the child processes of a run. Every one gets SIGKILL from the
// kernel should the harness die (Pdeathsig), so not even kill -9 of the
// harness leaves an etcd or a monitor behind.
type procs struct {
	cmds []*exec.Cmd
	done []chan struct{}
}

// start runs bin with args, output appended to logFile.
func (p *procs) start(logFile, bin string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", logFile, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	p.cmds, p.done = append(p.cmds, cmd), append(p.done, done)
	return cmd, nil
}

// stopAll sends SIGTERM to every process, then SIGKILL to those still
// running after a few seconds, and waits for all of them.
func (p *procs) stopAll() {
	for _, c := range p.cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(5 * time.Second)
	for i, d := range p.done {
		select {
		case <-d:
		case <-deadline:
			_ = p.cmds[i].Process.Kill()
			<-d
		}
	}
}

// etcdCluster is one real etcd cluster: the client URLs of its members.
type etcdCluster struct {
	endpoints []string
	pids      []int
}

// startEtcd starts k clusters of 3 members of the etcd binary under dir, all
// at once (the members of a cluster wait for each other), and waits until
// every member serves a linearizable read. With ft, members serve their
// client and peer URLs over mutual TLS. A nonzero nice starts them through
// nice(1), so every thread of theirs has that niceness from the start
// (niceness is per thread on Linux: setting it on a running process's
// pid would reach its first thread only).
func startEtcd(ctx context.Context, p *procs, bin string, nice int, dir string, k int, ft *fleetTLS) ([]etcdCluster, error) {
	ports, err := freePorts(k * 3 * 2)
	if err != nil {
		return nil, err
	}
	scheme := ft.scheme()
	clusters := make([]etcdCluster, k)
	for c := range k {
		var initial []string
		for m := range 3 {
			initial = append(initial, fmt.Sprintf("m%d=%s://127.0.0.1:%d", m, scheme, ports[(c*3+m)*2+1]))
		}
		for m := range 3 {
			client := fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[(c*3+m)*2])
			peer := fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[(c*3+m)*2+1])
			name := fmt.Sprintf("e%02d-m%d", c, m)
			args := []string{"--name", fmt.Sprintf("m%d", m),
				"--data-dir", filepath.Join(dir, name),
				"--listen-client-urls", client, "--advertise-client-urls", client,
				"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
				"--initial-cluster", strings.Join(initial, ","),
				"--initial-cluster-state", "new",
				"--initial-cluster-token", fmt.Sprintf("fleetbench-%d", c),
				// The probes' puts and deletes grow the history; production
				// clusters compact it, so these do too.
				"--auto-compaction-mode", "periodic", "--auto-compaction-retention", "5m",
				"--logger", "zap", "--log-level", "error"}
			args = append(args, ft.etcdArgs()...)
			exe := bin
			if nice != 0 {
				exe, args = "nice", append([]string{"-n", strconv.Itoa(nice), bin}, args...)
			}
			cmd, err := p.start(filepath.Join(dir, name+".log"), exe, args...)
			if err != nil {
				return nil, err
			}
			clusters[c].endpoints = append(clusters[c].endpoints, client)
			clusters[c].pids = append(clusters[c].pids, cmd.Process.Pid)
		}
	}
	for _, c := range clusters {
		for _, ep := range c.endpoints {
			if err := waitServing(ctx, ep, ft.clientConfig(), 60*time.Second); err != nil {
				return nil, err
			}
		}
	}
	return clusters, nil
}

// waitServing polls a member with linearizable gets until one succeeds; tc
// is the client's TLS configuration, nil for plaintext.
func waitServing(ctx context.Context, endpoint string, tc *tls.Config, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 2 * time.Second, TLS: tc, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("client for %s: %w", endpoint, err)
	}
	defer cli.Close()
	for {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Get(rctx, "fleetbench-ready")
		rcancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcd member %s not serving after %s: %w", endpoint, timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freePorts returns n distinct loopback ports nothing listens on; every
// listener is held until all are found so none is handed out twice.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// writeConfig writes a --config.file with n entries spread round-robin over
// the clusters, each under its own name, everything else from the flags.
// With ft, every entry names the CA and the client certificate itself, as
// TLS settings are never inherited from the flags.
func writeConfig(path string, n int, clusters []etcdCluster, ft *fleetTLS) error {
	tlsLines, err := ft.configLines(filepath.Dir(path))
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# Written by scripts/fleetbench.\nclusters:\n")
	for i := range n {
		c := clusters[i%len(clusters)]
		fmt.Fprintf(&b, "  - name: fleet-%04d\n    endpoints: [%s]\n", i, strings.Join(c.endpoints, ", "))
		b.WriteString(tlsLines)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
