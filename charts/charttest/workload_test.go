package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/httpget"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
)

// TestShardedReplicasSplitTheFleet runs the real binary as each pod of the
// sharded StatefulSet would run: the rendered arguments, the clusters
// ConfigMap mounted, and the environment the kubelet gives the pod with
// that ordinal. Each replica must report its shard and watch exactly the
// clusters whose name hashes to its ordinal, so together they watch every
// cluster once. The clusters' endpoints are loopback addresses where nothing
// listens: which clusters a replica watches does not depend on reaching them.
func TestShardedReplicasSplitTheFleet(t *testing.T) {
	const shards = 3
	endpoints := freeport.Addrs(t, len(fleet))
	root := t.TempDir()
	m := render(t, NewHelm(t), fmt.Sprintf(fleetValues(shards, func(i int) string { return "http://" + endpoints[i] }), root))
	var watched []string
	for index := range shards {
		t.Run(fmt.Sprintf("pod %d", index), func(t *testing.T) {
			pod, addr := loopbackPod(t, m, Node{PodIndex: index}, root)
			// testproc passes the test's environment on.
			for _, kv := range pod.Env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			p := testproc.Start(t, "etcd-monitor", monitorBin, pod.Args...)
			p.WaitReady(t, "http://"+addr+"/health", time.Minute)

			var want []string
			for _, name := range fleet {
				if clusterconfig.ShardOf(name, shards) == index {
					want = append(want, name)
				}
			}
			var health struct {
				Clusters []struct {
					Name string `json:"name"`
				} `json:"clusters"`
			}
			httpget.JSON(t, "http://"+addr+"/health", &health)
			var got []string
			for _, c := range health.Clusters {
				got = append(got, c.Name)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("replica %d watches %v, want %v (the clusters whose name hashes to its ordinal)", index, got, want)
			}
			watched = append(watched, got...)
			body := httpget.Body(t, "http://"+addr+"/metrics")
			for _, line := range []string{
				fmt.Sprintf(`etcd_monitor_shard_info{shard_count="%d",shard_index="%d"} 1`, shards, index),
				fmt.Sprintf("etcd_monitor_clusters_watched %d", len(want)),
				fmt.Sprintf("etcd_monitor_config_clusters %d", len(fleet)),
			} {
				if !strings.Contains(body, line+"\n") {
					t.Errorf("/metrics lacks %s", line)
				}
			}
		})
	}
	slices.Sort(watched)
	if all := slices.Sorted(slices.Values(fleet)); !slices.Equal(watched, all) {
		t.Errorf("the replicas together watch %v, want every cluster once: %v", watched, all)
	}
}

// TestGOMEMLIMITFollowsTheMemoryLimit: with a memory limit the container's
// GOMEMLIMIT is that limit in bytes (what the kubelet resolves the
// resourceFieldRef to, and a value Go accepts: TestSetups starts the binary
// with it); without one it is unset, since the kubelet would give the
// node's memory instead.
func TestGOMEMLIMITFollowsTheMemoryLimit(t *testing.T) {
	h := NewHelm(t)
	for _, c := range []struct {
		values string
		want   string // "" for unset
	}{
		{"", "134217728"},
		{"resources: {limits: {memory: 512Mi}}\n", "536870912"},
		{"resources: {limits: {memory: 1G}}\n", "1000000000"},
		{"resources: {limits: {memory: null, cpu: 500m}}\n", ""},
		{"resources: {limits: null}\n", ""},
		{"resources: null\n", ""},
		{fleetValues(3, func(int) string { return "http://127.0.0.1:2379" }) + "resources: {limits: {memory: 1Gi}}\n", "1073741824"},
	} {
		root := t.TempDir()
		values := c.values
		if strings.Contains(values, "%[1]s") {
			values = fmt.Sprintf(values, root)
		}
		pod, err := Container(render(t, h, values), Node{}, root)
		if err != nil {
			t.Errorf("%q: %v", c.values, err)
			continue
		}
		got := ""
		for _, kv := range pod.Env {
			if v, ok := strings.CutPrefix(kv, "GOMEMLIMIT="); ok {
				got = v
			}
		}
		if got != c.want {
			t.Errorf("%q: GOMEMLIMIT %q, want %q", c.values, got, c.want)
		}
	}
}

// TestShardingNeedsPodIndexLabel: the pod-index label the shard index comes
// from exists since Kubernetes 1.28; on an older cluster the chart refuses
// to render a StatefulSet whose replicas would all be shard 0.
func TestShardingNeedsPodIndexLabel(t *testing.T) {
	h := NewHelm(t)
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(fmt.Sprintf(fleetValues(3, func(int) string { return "http://127.0.0.1:2379" }), "/etc/etcd-monitor")), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := h.Run("template", Release, ChartDir(), "--kube-version", "v1.27.9", "--values", f)
	if err == nil || !strings.Contains(stderr, "Kubernetes 1.28 or later") {
		t.Errorf("shards: 3 on Kubernetes 1.27: err %v, stderr %s; want a refusal naming 1.28", err, stderr)
	}
	if _, stderr, err := h.Run("template", Release, ChartDir(), "--kube-version", "v1.28.0", "--values", f); err != nil {
		t.Errorf("shards: 3 on Kubernetes 1.28: %v: %s", err, stderr)
	}
}
