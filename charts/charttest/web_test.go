package charttest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/freeport"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testproc"
)

// TestWebTLSAndBasicAuthServed runs the real binary with the arguments and
// the web config Secret of the TLS and basic auth setup, and scrapes it the
// way the rendered ServiceMonitor says: HTTPS verified with the CA it names,
// basic auth with the credentials it names. Without credentials the scrape
// is refused. The listen address is loopback instead of every interface.
func TestWebTLSAndBasicAuthServed(t *testing.T) {
	h := NewHelm(t)
	p := newPKI(t)
	root := t.TempDir()
	// etcd: a loopback address where nothing listens; the listener does not
	// depend on it.
	m := render(t, h, fmt.Sprintf(`mountPath: %s
etcd: {endpoints: [http://%s]}
web: {existingSecret: etcd-monitor-web, tls: true, basicAuth: true}
serviceMonitor:
  tlsConfig: {ca: {secret: {name: etcd-monitor-web, key: ca.crt}}, serverName: localhost}
  basicAuth:
    username: {name: etcd-monitor-scrape, key: username}
    password: {name: etcd-monitor-scrape, key: password}
`, root, freeport.Addr(t)))
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]map[string][]byte{
		"etcd-monitor-web": {
			"web-config.yml": []byte("tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: " + string(hash) + "\n"),
			"tls.crt":        p.cert, "tls.key": p.key, "ca.crt": p.ca,
		},
		"etcd-monitor-scrape": {"username": []byte("prometheus"), "password": []byte("scrape-password")},
	}
	pod, addr := loopbackPod(t, m, Node{Secrets: secrets}, root)
	proc := testproc.Start(t, "etcd-monitor", monitorBin, pod.Args...)

	// What the ServiceMonitor tells Prometheus, resolved from the Secrets.
	ep := serviceMonitorNamed(t, m, "mon-etcd-monitor").Spec.Endpoints[0]
	if ep.Scheme.String() != "https" || ep.TLSConfig == nil || ep.BasicAuth == nil {
		t.Fatalf("ServiceMonitor endpoint %+v: want https with a CA and basic auth", ep)
	}
	secretKey := func(name, key string) []byte {
		b, ok := secrets[name][key]
		if !ok {
			t.Fatalf("the ServiceMonitor names Secret %s key %s, which the test does not have", name, key)
		}
		return b
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(secretKey(ep.TLSConfig.CA.Secret.Name, ep.TLSConfig.CA.Secret.Key))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: *ep.TLSConfig.ServerName,
	}}}
	scrape := func(auth bool) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+ep.Path, nil)
		if auth {
			req.SetBasicAuth(string(secretKey(ep.BasicAuth.Username.Name, ep.BasicAuth.Username.Key)),
				string(secretKey(ep.BasicAuth.Password.Name, ep.BasicAuth.Password.Key)))
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	deadline := time.Now().Add(time.Minute)
	for {
		code, err := scrape(true)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scraping as the ServiceMonitor says: %d %v\n%s", code, err, testproc.Tail(proc.Output(), 4096))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, err := scrape(false); err != nil || code != http.StatusUnauthorized {
		t.Errorf("scrape without credentials: %d %v, want 401", code, err)
	}
}
