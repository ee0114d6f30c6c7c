package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
	"time"
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
