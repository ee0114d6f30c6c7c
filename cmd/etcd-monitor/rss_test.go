package main

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
)

// rssKiB reads a process's resident set size from /proc.
func rssKiB(t *testing.T, pid int) int {
	t.Helper()
	n, err := vmRSSKiB(pid)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// vmRSSKiB is rssKiB for goroutines other than the test's.
func vmRSSKiB(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// TestServeSteadyStateRSS runs `serve` at its defaults (checks every 10 s,
// probes every 5 s) against a 3-member cluster and samples its RSS: it must
// stay under 40 MiB.
func TestServeSteadyStateRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 30 s; run without -short")
	}
	c := testetcd.StartWithin(t, 2*time.Minute, localetcd.Options{Members: 3})
	addr := freeport.Addr(t)
	cmd := exec.Command(binary, "serve", "--etcd.endpoints="+strings.Join(c.Endpoints(), ","), "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var peak int
	for i := 0; i < 30; i++ {
		time.Sleep(time.Second)
		if i%5 == 0 {
			scrape(t, "http://"+addr+"/metrics") // as Prometheus would
		}
		if i >= 10 { // past start-up
			peak = max(peak, rssKiB(t, cmd.Process.Pid))
		}
	}
	t.Logf("serve against 3 members: peak RSS %.1f MiB over 20 s of steady state", float64(peak)/1024)
	if peak > 40*1024 {
		t.Errorf("peak RSS %.1f MiB, want under 40 MiB", float64(peak)/1024)
	}
}
