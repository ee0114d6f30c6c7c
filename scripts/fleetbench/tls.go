package main

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testpki"
)

// certValidity is how long the fleet's certificates are valid: far beyond
// any run, so that no expiry alert or warning is part of what is measured.
const certValidity = 30 * 24 * time.Hour

// fleetTLS is the material of a -tls run, in the working directory: one
// throwaway CA, one certificate every etcd member serves on its client and
// peer URLs (and presents to its peers), and one client certificate shared
// by the monitor and the reference client. A nil *fleetTLS is a plaintext
// fleet.
type fleetTLS struct {
	caFile         string
	server, client *testpki.Pair
	// clientTLS is the harness' own clients' TLS configuration (the
	// readiness check and the reference client), built by the monitor's
	// own code from the files the monitor's config names: both clients use
	// the same certificate and TLS settings, so the latency comparison
	// stays one of the monitor, not of two TLS setups.
	clientTLS *tls.Config
}

// newFleetTLS creates the CA and both certificates under dir. The
// certificates name 127.0.0.1, where every member listens.
func newFleetTLS(dir string) (*fleetTLS, error) {
	notAfter := time.Now().Add(certValidity)
	ca, err := testpki.NewCA(dir, "fleetbench", notAfter)
	if err != nil {
		return nil, fmt.Errorf("creating the fleet's CA: %w", err)
	}
	server, err := ca.Issue("etcd-server", notAfter)
	if err != nil {
		return nil, fmt.Errorf("issuing the etcd members' certificate: %w", err)
	}
	client, err := ca.Issue("monitor-client", notAfter)
	if err != nil {
		return nil, fmt.Errorf("issuing the client certificate: %w", err)
	}
	// The endpoint only satisfies Load's checks; no connection is made.
	c := etcdconn.Config{Endpoints: []string{"https://127.0.0.1:2379"}, CAFile: ca.CertFile, CertFile: client.CertFile, KeyFile: client.KeyFile}
	if err := c.Load(); err != nil {
		return nil, fmt.Errorf("loading the client certificate: %w", err)
	}
	return &fleetTLS{caFile: ca.CertFile, server: server, client: client, clientTLS: c.TLS()}, nil
}

// scheme is the scheme of the members' client and peer URLs.
func (f *fleetTLS) scheme() string {
	if f == nil {
		return "http"
	}
	return "https"
}

// etcdArgs are a member's TLS flags: mutual TLS on the client and the peer
// URLs, as a hosted control plane's etcd runs. None for a plaintext fleet.
func (f *fleetTLS) etcdArgs() []string {
	if f == nil {
		return nil
	}
	return []string{
		"--cert-file", f.server.CertFile, "--key-file", f.server.KeyFile,
		"--trusted-ca-file", f.caFile, "--client-cert-auth",
		"--peer-cert-file", f.server.CertFile, "--peer-key-file", f.server.KeyFile,
		"--peer-trusted-ca-file", f.caFile, "--peer-client-cert-auth",
	}
}

// clientConfig is the TLS configuration of the harness' own clients, nil
// for a plaintext fleet.
func (f *fleetTLS) clientConfig() *tls.Config {
	if f == nil {
		return nil
	}
	return f.clientTLS
}

// configLines are the TLS keys of one config entry, the way a user writes
// them: file paths relative to the config file's directory (configDir).
func (f *fleetTLS) configLines(configDir string) (string, error) {
	if f == nil {
		return "", nil
	}
	var out string
	for _, kv := range [][2]string{{"ca_file", f.caFile}, {"cert_file", f.client.CertFile}, {"key_file", f.client.KeyFile}} {
		rel, err := filepath.Rel(configDir, kv[1])
		if err != nil {
			return "", fmt.Errorf("%s relative to %s: %w", kv[1], configDir, err)
		}
		out += fmt.Sprintf("    %s: %s\n", kv[0], rel)
	}
	return out, nil
}
