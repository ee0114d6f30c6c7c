package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/clusterconfig"
)

// The members' certificate must be accepted for 127.0.0.1 as a server and,
// with --peer-client-cert-auth, as a peer's client; the monitor's as a
// client. A handshake with the settings both sides use proves it: etcd's
// client-cert-auth asks for and checks the client's certificate as
// RequireAndVerifyClientCert does.
func TestFleetTLSHandshake(t *testing.T) {
	ft, err := newFleetTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ft.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", ft.caFile)
	}
	for _, c := range []struct {
		name  string
		cert  *x509.Certificate
		usage x509.ExtKeyUsage
	}{
		{"members as servers", ft.server.Cert, x509.ExtKeyUsageServerAuth},
		{"members as peers' clients", ft.server.Cert, x509.ExtKeyUsageClientAuth},
		{"monitor as client", ft.client.Cert, x509.ExtKeyUsageClientAuth},
	} {
		opts := x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{c.usage}}
		if c.usage == x509.ExtKeyUsageServerAuth {
			opts.DNSName = "127.0.0.1"
		}
		if _, err := c.cert.Verify(opts); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}

	serverPair, err := tls.LoadX509KeyPair(ft.server.CertFile, ft.server.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	serverConf := &tls.Config{Certificates: []tls.Certificate{serverPair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	clientConf := ft.clientConfig().Clone()
	clientConf.ServerName = "127.0.0.1"
	a, b := net.Pipe()
	deadline := time.Now().Add(time.Minute)
	_ = a.SetDeadline(deadline)
	_ = b.SetDeadline(deadline)
	srv := tls.Server(a, serverConf)
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	cli := tls.Client(b, clientConf)
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if got := srv.ConnectionState().PeerCertificates; len(got) == 0 || !got[0].Equal(ft.client.Cert) {
		t.Error("the server did not receive the monitor's client certificate")
	}
	// Closing the pipe, not the TLS conns: their close_notify would wait
	// for a reader that is not there.
	a.Close()
	b.Close()

	if nilTLS := (*fleetTLS)(nil); nilTLS.clientConfig() != nil || nilTLS.etcdArgs() != nil || nilTLS.scheme() != "http" {
		t.Error("a plaintext fleet has TLS settings")
	}
}

// The config is what the monitor reads: every entry must come out of the
// monitor's own parser with https endpoints and the TLS material loaded,
// and without -tls the file must stay exactly what it was before the flag.
func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	clusters := []etcdCluster{
		{endpoints: []string{"http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"}},
		{endpoints: []string{"http://127.0.0.1:4", "http://127.0.0.1:5", "http://127.0.0.1:6"}},
	}
	write := func(name string, ft *fleetTLS) (string, []byte) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := writeConfig(path, 3, clusters, ft); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return path, b
	}
	_, got := write("plain.yml", nil)
	want := `# Written by scripts/fleetbench.
clusters:
  - name: fleet-0000
    endpoints: [http://127.0.0.1:1, http://127.0.0.1:2, http://127.0.0.1:3]
  - name: fleet-0001
    endpoints: [http://127.0.0.1:4, http://127.0.0.1:5, http://127.0.0.1:6]
  - name: fleet-0002
    endpoints: [http://127.0.0.1:1, http://127.0.0.1:2, http://127.0.0.1:3]
`
	if string(got) != want {
		t.Errorf("plaintext config changed:\n%s\nwant:\n%s", got, want)
	}

	// The certificates in a directory of their own show that the paths
	// are written relative to the config file, as the monitor reads them.
	ft, err := newFleetTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for i := range clusters {
		for j, ep := range clusters[i].endpoints {
			clusters[i].endpoints[j] = strings.Replace(ep, "http://", "https://", 1)
		}
	}
	withTLS, b := write("tls.yml", ft)
	if strings.Contains(string(b), dir) || strings.Contains(string(b), filepath.Dir(ft.caFile)) {
		t.Errorf("config holds absolute paths, not relative ones:\n%s", b)
	}
	cs, err := clusterconfig.Load(withTLS, clusterconfig.Defaults{})
	if err != nil {
		t.Fatalf("the monitor refuses the config: %v\n%s", err, b)
	}
	if len(cs) != 3 {
		t.Fatalf("%d clusters in the config, want 3", len(cs))
	}
	for i, c := range cs {
		conn := c.Conn
		if conn.CAFile != ft.caFile || conn.CertFile != ft.client.CertFile || conn.KeyFile != ft.client.KeyFile {
			t.Errorf("%s: ca_file %q, cert_file %q, key_file %q; want %q, %q, %q", c.Name, conn.CAFile, conn.CertFile, conn.KeyFile,
				ft.caFile, ft.client.CertFile, ft.client.KeyFile)
		}
		if !slices.Equal(conn.Endpoints, clusters[i%2].endpoints) {
			t.Errorf("%s: endpoints %v, want %v", c.Name, conn.Endpoints, clusters[i%2].endpoints)
		}
		if tc := conn.TLS(); tc == nil || len(tc.Certificates) != 1 || tc.RootCAs == nil {
			t.Errorf("%s: TLS not loaded with a client certificate and the CA", c.Name)
		}
	}
}
