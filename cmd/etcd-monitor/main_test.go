package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/httpget"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/syncbuf"
)

// binary is etcd-monitor built once for these tests: they check what a user
// sees, exit codes and stderr included.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etcd-monitor-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "etcd-monitor")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building etcd-monitor: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func runCmd(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCmdWithin(t, 20*time.Second, env, args...)
}

// runCmdWithin is runCmd for commands that may take longer than 20 s, such
// as check rounds against a cluster on a loaded machine.
func runCmdWithin(t *testing.T, timeout time.Duration, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("etcd-monitor %v did not exit: stdout %q stderr %q", args, o.String(), e.String())
	}
	code = 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestBadInputExitsTwoWithOneLine(t *testing.T) {
	dir := t.TempDir()
	unreadable := filepath.Join(dir, "secret")
	if err := os.WriteFile(unreadable, []byte("pw"), 0o000); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		env  []string
		args []string
		want string // the flag the message must name
	}{
		{"unparsable endpoint", nil, []string{"--etcd.endpoints=http://[::1"}, "--etcd.endpoints"},
		{"endpoint without port", nil, []string{"--etcd.endpoints=http://127.0.0.1"}, "--etcd.endpoints"},
		{"endpoint with wrong scheme", nil, []string{"--etcd.endpoints=ftp://127.0.0.1:2379"}, "--etcd.endpoints"},
		{"alias from the original guide, unparsable", nil, []string{"--endpoints=:::"}, "--endpoints:"},
		{"missing CA file", nil, []string{"--etcd.cacert=" + filepath.Join(dir, "nope.pem")}, "--etcd.cacert"},
		{"CA file without certificates", nil, []string{"--etcd.cacert=" + empty}, "--etcd.cacert"},
		{"missing cert file", nil, []string{"--etcd.cert=" + filepath.Join(dir, "c.pem"), "--etcd.key=" + filepath.Join(dir, "k.pem")}, "--etcd.cert"},
		{"key without cert", nil, []string{"--etcd.key=" + empty}, "--etcd.cert"},
		{"missing password file", nil, []string{"--etcd.username=root", "--etcd.password-file=" + filepath.Join(dir, "pw")}, "--etcd.password-file"},
		{"empty password file", nil, []string{"--etcd.username=root", "--etcd.password-file=" + empty}, "--etcd.password-file"},
		{"user without password file", nil, []string{"--etcd.username=root"}, "--etcd.password-file"},
		{"zero interval", nil, []string{"--health-check-interval=0s"}, "--health-check-interval"},
		{"negative interval", nil, []string{"--health-check-interval=-10s"}, "--health-check-interval"},
		{"interval from the environment", []string{"ETCD_MONITOR_HEALTH_CHECK_INTERVAL=0s"}, nil, "--health-check-interval"},
		{"unparsable interval", nil, []string{"--health-check-interval=soon"}, "--health-check-interval"},
		{"unparsable interval from the environment", []string{"ETCD_MONITOR_HEALTH_CHECK_INTERVAL=soon"}, nil, "ETCD_MONITOR_HEALTH_CHECK_INTERVAL"},
		{"zero dial timeout", nil, []string{"--etcd.dial-timeout=0s"}, "--etcd.dial-timeout"},
		{"zero quota", nil, []string{"--etcd.quota-backend-bytes=0"}, "--etcd.quota-backend-bytes"},
		{"unknown flag", nil, []string{"--etcd.endpoint=x"}, "etcd.endpoint"},
		{"bad api port", nil, []string{"--api-port=70000"}, "--api-port"},
		{"zero shard count", nil, []string{"--shard.count=0"}, "--shard.count"},
		{"shard index out of range", nil, []string{"--shard.count=2", "--shard.index=2"}, "--shard.index"},
		{"negative shard index", nil, []string{"--shard.index=-1"}, "--shard.index"},
		{"negative watch interval", nil, []string{"--config.watch-interval=-1s"}, "--config.watch-interval"},
		{"unknown probe buckets", nil, []string{"--probe.buckets=few"}, "--probe.buckets"},
		{"probe buckets out of order", nil, []string{"--probe.buckets=0.1,0.05"}, "--probe.buckets"},
		{"no round may run", nil, []string{"--rounds.max-in-flight=0"}, "--rounds.max-in-flight"},
	}
	if os.Geteuid() != 0 { // root reads any file
		cases = append(cases, struct {
			name string
			env  []string
			args []string
			want string
		}{"unreadable password file", nil, []string{"--etcd.username=root", "--etcd.password-file=" + unreadable}, "--etcd.password-file"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			stdout, stderr, code := runCmd(t, tc.env, append([]string{"serve", "--web.listen-address=127.0.0.1:0"}, tc.args...)...)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr %q", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Errorf("want one line naming %s, got %q (stdout %q)", tc.want, stderr, stdout)
			}
			if strings.Contains(stderr, "goroutine") || strings.Contains(stderr, "panic") {
				t.Errorf("stack trace on bad input: %s", stderr)
			}
			// Nothing starts: no cluster is contacted, no listener opened.
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("bad input took %s to be refused", d)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	stdout, stderr, code := runCmd(t, nil, "--version")
	if code != 0 || !strings.Contains(stdout+stderr, "etcd-monitor, version") {
		t.Fatalf("--version: code %d, %q %q", code, stdout, stderr)
	}
}

// startServe runs `etcd-monitor serve` in the background and returns the
// base URL once it answers, with its stderr collected.
func startServe(t *testing.T, args ...string) (string, *syncbuf.Buffer) {
	t.Helper()
	base, stderr, _ := startServeCmd(t, args...)
	return base, stderr
}

// startServeCmd is startServe, with the process (to signal it).
func startServeCmd(t *testing.T, args ...string) (string, *syncbuf.Buffer, *exec.Cmd) {
	t.Helper()
	addr := freeport.Addr(t)
	cmd := exec.Command(binary, append([]string{"serve", "--web.listen-address=" + addr}, args...)...)
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("serve did not stop on SIGINT within 10s")
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/")
		if err == nil {
			resp.Body.Close()
			return base, stderr, cmd
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve did not listen on %s: %s", addr, stderr.String())
	return "", nil, nil
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	return httpget.Body(t, url)
}

// seriesValue finds a sample line by metric name and label fragments.
func seriesValue(body, name string, frags ...string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		for _, f := range frags {
			if !strings.Contains(line, f) {
				continue next
			}
		}
		return line[strings.LastIndexByte(line, ' ')+1:], true
	}
	return "", false
}

func TestAllMembersDownAtStart(t *testing.T) {
	var dead []string
	for _, addr := range freeport.Addrs(t, 3) {
		dead = append(dead, "http://"+addr)
	}
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	const secret = "s3cr3t-do-not-log"
	if err := os.WriteFile(pw, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base, stderr := startServe(t, "--etcd.endpoints="+strings.Join(dead, ","), "--health-check-interval=300ms",
		"--etcd.dial-timeout=200ms", "--etcd.request-timeout=300ms", "--cluster.name=dead",
		"--etcd.username=monitor", "--etcd.password-file="+pw, "--log.level=debug")
	deadline := time.Now().Add(10 * time.Second)
	var body string
	for time.Now().Before(deadline) {
		body = scrape(t, base+"/metrics")
		if v, ok := seriesValue(body, "etcd_monitor_check_success", `etcd_cluster="dead"`); ok && v == "0" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, ep := range dead {
		if v, ok := seriesValue(body, "etcd_monitor_member_up", `endpoint="`+ep+`"`); !ok || v != "0" {
			t.Errorf("member_up for %s: %q (present %v)\n%s", ep, v, ok, body)
		}
	}
	if v, _ := seriesValue(body, "etcd_monitor_cluster_has_quorum", `etcd_cluster="dead"`); v != "0" {
		t.Errorf("has_quorum = %q", v)
	}
	if _, ok := seriesValue(body, "etcd_monitor_build_info"); !ok {
		t.Error("no build_info")
	}
	time.Sleep(time.Second) // a few failing rounds, with debug logging
	if strings.Contains(stderr.String(), secret) || strings.Contains(body, secret) {
		t.Error("the password appears in the logs or metrics")
	}
}

func TestSeedAPIPortFlag(t *testing.T) {
	addr := freeport.Addr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(binary, "--api-port="+port, "--etcd.endpoints=http://"+freeport.Addr(t))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://127.0.0.1:" + port + "/metrics"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("serve (the default command) with --api-port=%s did not answer there", port)
}
