package collector

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/localetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/syncbuf"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testetcd"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testpki"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/waitfor"
)

func TestReadOnlyUser(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// Auth on; "ro" may only read keys under "/".
	for _, step := range []func() error{
		func() error { _, err := cli.RoleAdd(ctx, "root"); return err },
		func() error { _, err := cli.UserAdd(ctx, "root", "root-pw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := cli.RoleAdd(ctx, "reader"); return err },
		func() error {
			_, err := cli.RoleGrantPermission(ctx, "reader", "/", clientv3.GetPrefixRangeEnd("/"), clientv3.PermissionType(clientv3.PermRead))
			return err
		},
		func() error { _, err := cli.UserAdd(ctx, "ro", "ro-pw"); return err },
		func() error { _, err := cli.UserGrantRole(ctx, "ro", "reader"); return err },
		func() error { _, err := cli.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("setting up auth: %v", err)
		}
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("ro-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn := &etcdconn.Config{Endpoints: c.Endpoints(), RequestTimeout: testRequestTimeout, DialTimeout: testDialTimeout, Username: "ro", PasswordFile: pw}
	if err := conn.Load(); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	ch, _, reg := startProbing(t, conn, slog.New(slog.NewTextHandler(&logs, nil)), true)
	waitfor.Until(t, 10*time.Second, "permission_denied on every member's put and reads succeeding", func() bool {
		for _, m := range c.Members() {
			v, _ := metricValue(t, reg, "etcd_monitor_probe_failures_total", map[string]string{"member": m.Name, "operation": OpPut, "reason": "permission_denied"})
			if v < 2 || histCount(t, reg, m.Name, OpGet) < 2 || histCount(t, reg, m.Name, OpGetSerializable) < 2 {
				return false
			}
		}
		return true
	})
	s := ch.Snapshot()
	if s.HealthyVoting != 3 || !s.HasQuorum {
		t.Errorf("a read-only user must see a healthy cluster: %s", describe(s))
	}
	time.Sleep(5 * testProbeInterval)
	if n := strings.Count(logs.String(), "write probe not permitted"); n != 1 {
		t.Errorf("permission problem logged %d times, want once:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "ro-pw") {
		t.Error("password in the log")
	}
}

func TestTLSExpiryAndWrongCA(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	dir := t.TempDir()
	now := time.Now()
	ca, err := testpki.NewCA(dir, "etcd", now.Add(10*365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	server, err := ca.Issue("server", now.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ca.Issue("peer", now.Add(20*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Issue("monitor", now.Add(5*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	testetcd.ForEachBackend(t, func(t *testing.T, b testetcd.Backend) {
		c := startCluster(t, b, localetcd.Options{Members: 3,
			ClientTLS: &localetcd.TLSFiles{CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.CertFile, ClientCertAuth: true},
			PeerTLS:   &localetcd.TLSFiles{CertFile: peer.CertFile, KeyFile: peer.KeyFile, CAFile: ca.CertFile},
		})
		conn := &etcdconn.Config{Endpoints: c.Endpoints(), RequestTimeout: testRequestTimeout, DialTimeout: testDialTimeout,
			CAFile: ca.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile}
		if err := conn.Load(); err != nil {
			t.Fatal(err)
		}
		ch := NewChecker(ClusterConfig{Name: "tls", Conn: conn, HealthCheckInterval: testInterval}, testLogger(t))
		ch.Start()
		defer ch.Close()
		waitFor(t, ch, 15*time.Second, "healthy over TLS with certificates read", func(s *Snapshot) bool {
			return s.HealthyVoting == 3 && len(s.Certs) == 2+2*3
		})
		reg := registry(ch)
		check := func(role, endpoint string, want time.Time) {
			t.Helper()
			v, ok := metricValue(t, reg, "etcd_monitor_tls_cert_not_after_timestamp_seconds", map[string]string{"role": role, "endpoint": endpoint})
			if !ok || int64(v) != want.Unix() {
				t.Errorf("%s %s: not_after %v (present %v), want %d", role, endpoint, int64(v), ok, want.Unix())
			}
		}
		check(RoleCA, "", ca.Cert.NotAfter)
		check(RoleClient, "", client.Cert.NotAfter)
		for _, m := range c.Members() {
			check(RoleServer, m.ClientURL, server.Cert.NotAfter)
			check(RolePeer, m.PeerURL, peer.Cert.NotAfter)
		}

		// The wrong CA: members are down, the log says why, nothing crashes.
		other, err := testpki.NewCA(t.TempDir(), "other", now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		wrong := &etcdconn.Config{Endpoints: c.Endpoints(), RequestTimeout: testRequestTimeout, DialTimeout: testDialTimeout,
			CAFile: other.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile}
		if err := wrong.Load(); err != nil {
			t.Fatal(err)
		}
		var logs syncbuf.Buffer
		wch := NewChecker(ClusterConfig{Name: "wrong-ca", Conn: wrong, HealthCheckInterval: testInterval}, slog.New(slog.NewTextHandler(&logs, nil)))
		wch.Start()
		defer wch.Close()
		s := waitFor(t, wch, 10*time.Second, "members down with the wrong CA", func(s *Snapshot) bool { return len(s.Members) == 3 && !anyUp(s.Members) })
		if s.HasQuorum {
			t.Errorf("quorum reported without any member reachable")
		}
		waitfor.Until(t, 5*time.Second, "a log line naming the certificate problem", func() bool {
			return strings.Contains(logs.String(), "TLS handshake with member failed") && strings.Contains(logs.String(), "certificate")
		})
		// The members are up: the monitor's CA is wrong. Point 7 of the
		// churn findings: not "down", its own state and reason.
		checkUnreachable(t, s, &logs, "certificate", ContactTLSMismatch)
	})
}

func TestHashKVDetectsAlteredMember(t *testing.T) {
	t.Parallel() // waits on a cluster of its own (helpers_test.go)
	c := startCluster(t, testetcd.Embedded, localetcd.Options{Members: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for i := 0; i < 20; i++ {
		if _, err := cli.Put(ctx, fmt.Sprintf("/data/%02d", i), "value"); err != nil {
			t.Fatal(err)
		}
	}
	ch := NewChecker(ClusterConfig{Name: "h", Conn: connFor(t, c.Endpoints()), HealthCheckInterval: testInterval, HashKVInterval: testInterval}, testLogger(t))
	ch.Start()
	defer ch.Close()
	s := waitFor(t, ch, 15*time.Second, "a consistent hash comparison", func(s *Snapshot) bool {
		return s.HashKV != nil && s.HashKV.Consistent && len(s.HashKV.Hashes) == 3
	})
	if v, ok := metricValue(t, registry(ch), "etcd_monitor_cluster_hashkv_consistent", nil); !ok || v != 1 {
		t.Errorf("hashkv_consistent = %v (present %v)", v, ok)
	}
	_ = s

	// Change one stored value behind etcd's back on a stopped member.
	victim := c.Member(2)
	if err := victim.Stop(); err != nil {
		t.Fatal(err)
	}
	alterValue(t, filepath.Join(victim.DataDir(), "member", "snap", "db"), "/data/07")
	if err := victim.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, 20*time.Second, "an inconsistent hash comparison", func(s *Snapshot) bool {
		return s.HashKV != nil && !s.HashKV.Consistent
	})
	if v, ok := metricValue(t, registry(ch), "etcd_monitor_cluster_hashkv_consistent", nil); !ok || v != 0 {
		t.Errorf("hashkv_consistent = %v (present %v)", v, ok)
	}
}

// alterValue rewrites the stored value of key in a member's bbolt file, as
// silent disk corruption would, keeping the record decodable.
func alterValue(t *testing.T, path, key string) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	changed := 0
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("key"))
		if b == nil {
			return fmt.Errorf("no key bucket")
		}
		type rec struct{ k, v []byte }
		var recs []rec
		_ = b.ForEach(func(k, v []byte) error {
			var kv mvccpb.KeyValue
			if proto.Unmarshal(v, &kv) == nil && string(kv.Key) == key {
				kv.Value = []byte("tampered")
				nv, err := proto.Marshal(&kv)
				if err != nil {
					return err
				}
				recs = append(recs, rec{append([]byte(nil), k...), nv})
			}
			return nil
		})
		for _, r := range recs {
			if err := b.Put(r.k, r.v); err != nil {
				return err
			}
			changed++
		}
		return nil
	})
	if err != nil || changed == 0 {
		t.Fatalf("altering %s in %s: %v (%d records)", key, path, err, changed)
	}
}
