package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

// TestShardsSplitConfig runs 2 and then 3 replicas over one config of 50
// clusters (all on one real etcd, probes off): every cluster is watched by
// exactly one replica, each replica's /health and /metrics show only its
// own, and a reload that adds a cluster adds it to its owner only.
func TestShardsSplitConfig(t *testing.T) {
	c := testetcd.Start(t, localetcd.Options{Members: 1})
	var all []collector.ClusterConfig
	for i := range 50 {
		all = append(all, collector.ClusterConfig{
			Name: fmt.Sprintf("tenant-%02d", i), Conn: testetcd.Conn(t, c), HealthCheckInterval: time.Second,
		})
	}
	for _, count := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d shards", count), func(t *testing.T) {
			seen := map[string]int{}
			var replicas []*Monitor
			for index := range count {
				m := New(Options{Clusters: all, Shard: clusterconfig.Shard{Index: index, Count: count}}, slog.New(slog.DiscardHandler))
				m.Start()
				t.Cleanup(m.Close)
				replicas = append(replicas, m)
				h, err := m.Handler()
				if err != nil {
					t.Fatal(err)
				}
				var health struct {
					Clusters []struct{ Name string } `json:"clusters"`
				}
				if code := get(t, h, "/health", &health); code != http.StatusOK {
					t.Fatalf("/health: %d", code)
				}
				var mine []string
				for _, hc := range health.Clusters {
					mine = append(mine, hc.Name)
					seen[hc.Name]++
				}
				if len(mine) == 0 || len(mine) == len(all) {
					t.Errorf("shard %d of %d watches %d of %d clusters", index, count, len(mine), len(all))
				}
				// Every watched cluster is really checked, and the
				// metrics name no other.
				waitfor.Until(t, 30*time.Second, "every watched cluster to be checked", func() bool {
					return strings.Count(scrape(t, h), "etcd_monitor_cluster_has_quorum{") == len(mine)
				})
				body := scrape(t, h)
				for _, cl := range all {
					owned := slices.Contains(mine, cl.Name)
					if has := strings.Contains(body, `etcd_cluster="`+cl.Name+`"`); has != owned {
						t.Errorf("shard %d of %d: series of %s: %v, watched: %v", index, count, cl.Name, has, owned)
					}
				}
				for _, want := range []string{
					fmt.Sprintf(`etcd_monitor_shard_info{shard_count="%d",shard_index="%d"} 1`, count, index),
					fmt.Sprintf("\netcd_monitor_clusters_watched %d\n", len(mine)),
					"\netcd_monitor_config_clusters 50\n",
				} {
					if !strings.Contains(body, want) {
						t.Errorf("shard %d of %d: /metrics lacks %s", index, count, strings.TrimSpace(want))
					}
				}
			}
			if len(seen) != len(all) {
				t.Errorf("%d of %d clusters watched by some replica", len(seen), len(all))
			}
			for name, n := range seen {
				if n != 1 {
					t.Errorf("%s watched by %d replicas", name, n)
				}
			}
			// A reload keeps to the shard: the new cluster goes to its
			// owner only, and nothing else moves.
			more := append(slices.Clone(all), collector.ClusterConfig{Name: "tenant-50", Conn: testetcd.Conn(t, c), HealthCheckInterval: time.Second})
			owner := clusterconfig.ShardOf("tenant-50", count)
			for index, m := range replicas {
				ch := m.Apply(more)
				wantAdded := []string(nil)
				if index == owner {
					wantAdded = []string{"tenant-50"}
				}
				if !slices.Equal(ch.Added, wantAdded) || len(ch.Changed)+len(ch.Removed) != 0 {
					t.Errorf("shard %d of %d: reload changed %+v, want only %v added", index, count, ch, wantAdded)
				}
			}
		})
	}
}

// BenchmarkReloadUnchanged measures a reload of a 1,000-cluster
// configuration in which nothing changed: comparing every cluster's settings
// and rebuilding the API and status page over the set. The checkers are not
// started (a reload that changes nothing touches none of them).
func BenchmarkReloadUnchanged(b *testing.B) {
	var all []collector.ClusterConfig
	for i := range 1000 {
		conn := &etcdconn.Config{Endpoints: []string{fmt.Sprintf("127.0.0.1:%d", 20000+i)}, DialTimeout: time.Second, RequestTimeout: time.Second}
		if err := conn.Load(); err != nil {
			b.Fatal(err)
		}
		all = append(all, collector.ClusterConfig{Name: fmt.Sprintf("tenant-%04d", i), Conn: conn, HealthCheckInterval: 10 * time.Second})
	}
	m := New(Options{Clusters: all}, slog.New(slog.DiscardHandler))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if ch := m.Apply(all); ch.Unchanged != len(all) {
			b.Fatalf("%+v", ch)
		}
	}
}
