package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// TestSIGHUPReload runs the real binary on a glob of one-cluster files and
// reloads it with SIGHUP (the watcher off, so the signal alone acts): a
// cluster is added and one removed while the unchanged one keeps its leader
// history and probe window; a bad file changes nothing, is logged on one
// line and sets etcd_monitor_config_last_reload_successful to 0.
func TestSIGHUPReload(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 1})
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cluster := func(name string) string {
		return fmt.Sprintf("clusters:\n  - name: %s\n    endpoints: [%s]\n    health_check_interval: 200ms\n    probe: {interval: 100ms, key_prefix: /etcd-monitor-test/%s/}\n",
			name, c.Endpoints()[0], name)
	}
	write("keep.yml", cluster("keep"))
	write("gone.yml", cluster("gone"))
	base, stderr, cmd := startServeCmd(t, "--config.file="+filepath.Join(dir, "*.yml"), "--config.watch-interval=0")
	pid := cmd.Process.Pid

	// One member: no leader change to keep (TestReload in internal/server
	// moves a leader); the probe window is what a restart would reset.
	type state struct {
		leader  bool
		history int
		probes  int
	}
	keep := func() (state, bool) {
		var leader struct {
			HasLeader bool  `json:"has_leader"`
			History   []any `json:"history"`
		}
		var lat struct {
			Latencies []struct {
				Count int `json:"count"`
			} `json:"latencies"`
		}
		if getJSON(base+"/api/v1/cluster/leader?cluster=keep", &leader) != 200 || getJSON(base+"/api/v1/metrics/latency?cluster=keep", &lat) != 200 {
			return state{}, false
		}
		s := state{leader: leader.HasLeader, history: len(leader.History)}
		for _, l := range lat.Latencies {
			s.probes += l.Count
		}
		return s, true
	}
	var before state
	waitfor.Until(t, 30*time.Second, "keep to be checked and probed", func() bool {
		s, ok := keep()
		before = s
		return ok && s.leader && s.probes > 0
	})

	write("added.yml", cluster("added"))
	if err := os.Remove(filepath.Join(dir, "gone.yml")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 30*time.Second, "the reload", func() bool {
		body := scrape(t, base+"/metrics")
		v, _ := seriesValue(body, "etcd_monitor_cluster_has_quorum", `etcd_cluster="added"`)
		return v == "1" && !strings.Contains(body, `etcd_cluster="gone"`)
	})
	after, ok := keep()
	if !ok || !after.leader || after.history < before.history || after.probes < before.probes {
		t.Errorf("the unchanged cluster lost its state at SIGHUP: before %+v, after %+v (answered %v)", before, after, ok)
	}

	write("bad.yml", "clusters:\n  - name: bad\n    endpoints: [127.0.0.1:2379]\n    probe: {interval: soon}\n")
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitfor.Until(t, 30*time.Second, "the failed reload to be reported", func() bool {
		v, _ := seriesValue(scrape(t, base+"/metrics"), "etcd_monitor_config_last_reload_successful")
		return v == "0"
	})
	body := scrape(t, base+"/metrics")
	for _, name := range []string{"keep", "added"} {
		if v, _ := seriesValue(body, "etcd_monitor_cluster_has_quorum", `etcd_cluster="`+name+`"`); v != "1" {
			t.Errorf("%s after the bad reload: has_quorum %q", name, v)
		}
	}
	if strings.Contains(body, `etcd_cluster="bad"`) {
		t.Error("the bad file's cluster is watched")
	}
	var failed []string
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, "configuration reload failed") {
			failed = append(failed, l)
		}
	}
	if len(failed) != 1 || !strings.Contains(failed[0], "bad.yml:4") || !strings.Contains(failed[0], "probe.interval") {
		t.Errorf("want one log line naming bad.yml:4 and probe.interval, got %q", failed)
	}
}

func getJSON(url string, v any) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(v) != nil {
		return 0
	}
	return resp.StatusCode
}

// TestConfigCheckShowsShards: --config.check with --shard.count says
// which replica watches each cluster, the split serve will use.
func TestConfigCheckShowsShards(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"prod-a", "prod-b"} {
		body := fmt.Sprintf("clusters:\n  - name: %s\n    endpoints: [127.0.0.1:2379]\n", name)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	stdout, stderr, code := runCmd(t, nil, "serve", "--config.file="+dir, "--shard.count=3", "--shard.index=2", "--config.check")
	// FNV-1a 64 modulo 3: prod-a is shard 1, prod-b shard 0
	// (clusterconfig.TestShardOfIsStable).
	if code != 0 || !strings.Contains(stdout, `cluster "prod-a": 1 endpoint, checked every 10s, probes every 5s, shard 1`) ||
		!strings.Contains(stdout, `cluster "prod-b": 1 endpoint, checked every 10s, probes every 5s, shard 0`) {
		t.Errorf("--config.check: %d %q %q", code, stdout, stderr)
	}
}
