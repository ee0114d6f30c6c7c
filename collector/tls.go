package collector

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"os"
	"sort"
	"sync"
	"time"
)

// Certificate roles, the `role` label.
const (
	RoleServer = "server" // a member's client URL
	RolePeer   = "peer"   // a member's peer URL
	RoleCA     = "ca"     // the configured CA bundle (earliest expiry)
	RoleClient = "client" // the monitor's own client certificate
)

// CertExpiry is when one certificate stops being valid.
type CertExpiry struct {
	Endpoint string // empty for the CA and the client certificate
	Role     string
	NotAfter time.Time
	Subject  string
}

// certInterval is how often certificates are read again: they change on
// rotation, not every health check, and expire in days, not minutes. Each
// read is a TLS handshake per client and peer URL, six per cluster of three:
// once a minute that would be a hundred handshakes a second at 1,000
// clusters.
const certInterval = 10 * time.Minute

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// readCerts collects the expiry of the CA bundle, the monitor's client
// certificate and what every member presents on its https client and peer
// URLs. Members that cannot be reached keep no series.
func (c *Checker) readCerts(ctx context.Context, s *Snapshot) []CertExpiry {
	var out []CertExpiry
	conn := c.cfg.Conn
	if conn.CAFile != "" {
		if certs, err := readPEMCerts(conn.CAFile); err == nil && len(certs) > 0 {
			earliest := certs[0]
			for _, ct := range certs[1:] {
				if ct.NotAfter.Before(earliest.NotAfter) {
					earliest = ct
				}
			}
			out = append(out, CertExpiry{Role: RoleCA, NotAfter: earliest.NotAfter, Subject: earliest.Subject.String()})
		}
	}
	if tc := conn.TLS(); tc != nil && len(tc.Certificates) > 0 {
		if leaf, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0]); err == nil {
			out = append(out, CertExpiry{Role: RoleClient, NotAfter: leaf.NotAfter, Subject: leaf.Subject.String()})
		}
	}
	type target struct{ url, role string }
	var targets []target
	seen := map[string]bool{}
	for _, m := range s.Members {
		if m.Endpoint != "" && !seen[m.Endpoint] {
			seen[m.Endpoint] = true
			targets = append(targets, target{m.Endpoint, RoleServer})
		}
		for _, p := range m.PeerURLs {
			if !seen[p] {
				seen[p] = true
				targets = append(targets, target{p, RolePeer})
			}
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range targets {
		u, err := url.Parse(t.url)
		if err != nil || u.Scheme != "https" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			leaf, err := c.presentedCert(ctx, u.Host)
			if err != nil {
				c.logger.Debug("reading certificate", "url", t.url, "role", t.role, "err", err)
				return
			}
			mu.Lock()
			out = append(out, CertExpiry{Endpoint: t.url, Role: t.role, NotAfter: leaf.NotAfter, Subject: leaf.Subject.String()})
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Role != out[j].Role {
			return out[i].Role < out[j].Role
		}
		return out[i].Endpoint < out[j].Endpoint
	})
	return out
}

func readPEMCerts(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if ct, err := x509.ParseCertificate(blk.Bytes); err == nil {
			certs = append(certs, ct)
		}
	}
	return certs, nil
}

// presentedCert returns the leaf certificate a TLS server presents. It only
// reads the certificate; trust is the gRPC connection's business. The
// certificate is captured during the handshake, so a peer listener that
// then rejects our client certificate still tells us its expiry.
func (c *Checker) presentedCert(ctx context.Context, hostport string) (*x509.Certificate, error) {
	var leaf *x509.Certificate
	host, _, _ := net.SplitHostPort(hostport)
	cfg := &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true, //nolint:gosec // reading the expiry only; nothing is sent over this connection
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) > 0 {
				leaf, _ = x509.ParseCertificate(raw[0])
			}
			return nil
		},
	}
	if tc := c.cfg.Conn.TLS(); tc != nil {
		cfg.Certificates = tc.Certificates
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Conn.DialTimeout)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
	conn, err := d.DialContext(dctx, "tcp", hostport)
	if conn != nil {
		conn.Close()
	}
	if leaf != nil {
		return leaf, nil
	}
	if err == nil {
		err = errors.New("no certificate presented")
	}
	return nil, err
}
