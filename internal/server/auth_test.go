package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/crypto/bcrypt"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
)

// With basic auth in --web.config.file, nothing the monitor serves is
// readable without credentials: metrics, API, webhook, page and the
// lifecycle API alike.
func TestBasicAuthProtectsEverything(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(webCfg, []byte("basic_auth_users:\n  admin: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := &etcdconn.Config{Endpoints: []string{"http://127.0.0.1:1"}, DialTimeout: 100 * time.Millisecond, RequestTimeout: 100 * time.Millisecond}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	clusters := []collector.ClusterConfig{{Name: "c", Conn: conn, HealthCheckInterval: time.Second}}
	// The lifecycle API is on, so /-/reload would reload; loads counts
	// how often it did.
	var loads atomic.Int32
	m := New(Options{Clusters: clusters, Lifecycle: true, Config: &ConfigSource{Load: func() ([]collector.ClusterConfig, error) {
		loads.Add(1)
		return clusters, nil
	}}}, slog.New(slog.DiscardHandler))
	addr := freeport.Addr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- m.Serve(ctx, &web.FlagConfig{WebListenAddresses: &[]string{addr}, WebSystemdSocket: new(bool), WebConfigFile: &webCfg})
	}()
	defer func() { cancel(); <-done }()

	paths := []struct{ method, path string }{
		{"GET", "/"}, {"GET", "/metrics"}, {"GET", "/health"},
		{"GET", "/api/v1/cluster/status"}, {"GET", "/api/v1/cluster/leader"}, {"GET", "/api/v1/metrics/current"},
		{"GET", "/api/v1/metrics/latency"}, {"GET", "/api/v1/alerts/history"}, {"POST", "/api/v1/alerts"},
		{"POST", "/api/v1/performance/benchmark"}, {"GET", "/api/v1/clusters"}, {"POST", "/-/reload"},
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range paths {
		req, _ := http.NewRequest(p.method, "http://"+addr+p.path, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without credentials: %d, want 401", p.method, p.path, resp.StatusCode)
		}
		if n := loads.Load(); n != 0 {
			t.Fatalf("%s %s without credentials: the configuration was reloaded %d times", p.method, p.path, n)
		}
		req, _ = http.NewRequest(p.method, "http://"+addr+p.path, strings.NewReader("{}"))
		req.SetBasicAuth("admin", "s3cret")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("%s %s with credentials: 401", p.method, p.path)
		}
		// The new endpoints answer for real behind the credentials.
		if (p.path == "/api/v1/clusters" || p.path == "/-/reload") && resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s with credentials: %d, want 200", p.method, p.path, resp.StatusCode)
		}
	}
	if n := loads.Load(); n != 1 {
		t.Errorf("POST /-/reload with credentials reloaded %d times, want 1", n)
	}
}
