package clusterconfig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// Each bad file is refused with its exact location and field, as a usage
// error (exit 2).
func TestParseRefuses(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	writeFile(t, notPEM, "not a certificate\n")
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name string
		yaml string
		want string // prefix: file:line: field: (and the start of the problem)
	}{
		// The file as a whole.
		{"empty file", "", "clusters.yml:1: clusters: the file is empty"},
		{"only comments", "# nothing yet\n", "clusters.yml:1: clusters: the file is empty"},
		{"empty document", "# header\n---\n", "clusters.yml:2: clusters: the file is empty"},
		{"top level is a list", "- name: a\n", "clusters.yml:1: top level: want a mapping with a clusters: list, got a list"},
		{"top level is a scalar", "clusters\n", "clusters.yml:1: top level: want a mapping with a clusters: list, got a string value"},
		{"no clusters key", "{}\n", "clusters.yml:1: clusters: required"},
		{"clusters null", "clusters:\n", "clusters.yml:1: clusters: no clusters configured"},
		{"clusters empty", "# c\nclusters: []\n", "clusters.yml:2: clusters: no clusters configured"},
		{"clusters a mapping", "clusters:\n  name: a\n", "clusters.yml:2: clusters: want a list of clusters, got a mapping"},
		{"unknown top-level field", "clusters:\n  - name: a\n    endpoints: [h:1]\nglobal: {}\n", "clusters.yml:4: global: unknown field (known: clusters)"},
		{"syntax error", "clusters:\n  - name: a\n    endpoints: [h:1\n", "clusters.yml:3: syntax error: did not find expected ',' or ']'"},
		{"syntax error on line 1", "clusters: a: b\n", "clusters.yml:1: syntax error: mapping values are not allowed in this context"},
		{"tab indentation", "clusters:\n\t- name: a\n", "clusters.yml:2: syntax error: found character that cannot start any token"},
		{"control character", "clusters:\n  - name: a\x01\n", "clusters.yml:2: syntax error: control characters are not allowed"},
		{"invalid UTF-8", "clusters:\n  - name: a\n    username: \xff\n", "clusters.yml:3: syntax error: invalid leading UTF-8 octet"},
		{"unknown anchor", "clusters:\n  - name: a\n    endpoints: *eps\n", "clusters.yml:3: syntax error: unknown anchor 'eps' referenced"},
		{"second document", "clusters:\n  - {name: a, endpoints: [h:1]}\n---\nclusters: []\n", "clusters.yml:3: syntax error: a second YAML document"},
		{"trailing bracket", "{clusters: [{name: a, endpoints: [h:1]}]}}\n", "clusters.yml:1: syntax error: did not find expected <document start>"},

		// One entry's structure.
		{"entry not a mapping", "clusters:\n  - prod-a\n", "clusters.yml:2: clusters[0]: want a cluster (a mapping with name, endpoints, …), got a string value"},
		{"unknown field", "clusters:\n  - name: a\n    endpoints: [h:1]\n    endpoint: h:2\n", "clusters.yml:4: clusters[0].endpoint: unknown field, did you mean endpoints?"},
		{"unknown field, flag spelling", "clusters:\n  - name: a\n    endpoints: [h:1]\n    dial-timeout: 1s\n", "clusters.yml:4: clusters[0].dial-timeout: unknown field, did you mean dial_timeout?"},
		{"unknown field, nothing close", "clusters:\n  - name: a\n    endpoints: [h:1]\n    replicas: 3\n", "clusters.yml:4: clusters[0].replicas: unknown field (known: name, endpoints,"},
		{"unknown probe field", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe:\n      interval: 1s\n      keyprefix: /x/\n", "clusters.yml:6: clusters[0].probe.keyprefix: unknown field, did you mean key_prefix?"},
		{"unknown field merged in", "x-base: &base\n  colour: blue\nclusters:\n  - <<: *base\n    name: a\n    endpoints: [h:1]\n", "clusters.yml:2: clusters[0].colour: unknown field"},
		{"duplicate field", "clusters:\n  - name: a\n    endpoints: [h:1]\n    name: b\n", "clusters.yml:4: clusters[0].name: duplicate field (first at line 2)"},
		{"non-scalar key", "clusters:\n  - name: a\n    endpoints: [h:1]\n    ? [x]\n    : 1\n", "clusters.yml:4: clusters[0]: want a field name as key, got a list"},
		{"merge loop", "x-self: &self {<<: *self, request_timeout: 9s}\nclusters:\n  - <<: *self\n    name: a\n    endpoints: [h:1]\n", "clusters.yml:1: clusters[0].<<: merges a mapping that contains this merge: a loop"},
		{"merge loop through a list", "clusters: &c\n  - <<: *c\n", "clusters.yml:2: clusters[0].<<: merges a mapping that contains this merge: a loop"},
		{"merge of a scalar", "clusters:\n  - name: a\n    endpoints: [h:1]\n    <<: 3\n", "clusters.yml:4: clusters[0].<<: want a mapping or a list of mappings to merge"},
		{"password in the file", "clusters:\n  - name: a\n    endpoints: [h:1]\n    username: u\n    password: hunter2\n", "clusters.yml:5: clusters[0].password: passwords are not accepted in the config file: write the password to a file and set password_file"},
		{"probe not a mapping", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe: 5s\n", "clusters.yml:4: clusters[0].probe: want a mapping"},

		// Names.
		{"missing name", "clusters:\n  - name: a\n    endpoints: [h:1]\n  - endpoints: [h:2]\n", "clusters.yml:4: clusters[1].name: required"},
		{"empty name", "clusters:\n  - name: \"\"\n    endpoints: [h:1]\n", "clusters.yml:2: clusters[0].name: must not be empty"},
		{"null name", "clusters:\n  - name:\n    endpoints: [h:1]\n", "clusters.yml:2: clusters[0].name: want a string, got no value"},
		{"name with a space", "clusters:\n  - name: prod a\n    endpoints: [h:1]\n", `clusters.yml:2: clusters[0].name: "prod a": use only letters, digits`},
		{"name a list", "clusters:\n  - name: [a]\n    endpoints: [h:1]\n", "clusters.yml:2: clusters[0].name: want a string, got a list"},
		{"duplicate name", "# fleet\nclusters:\n  - name: prod-a\n    endpoints: [h:1]\n  - name: prod-b\n    endpoints: [h:2]\n  - name: prod-a\n    endpoints: [h:3]\n",
			`clusters.yml:7: clusters[2].name: duplicate cluster name "prod-a" (first at line 3)`},

		// Endpoints.
		{"missing endpoints", "clusters:\n  - name: a\n    endpoints: [h:1]\n  - name: b\n    username: u\n", "clusters.yml:4: clusters[1].endpoints: at least one endpoint is required"},
		{"empty endpoints", "clusters:\n  - name: a\n    endpoints: []\n", "clusters.yml:3: clusters[0].endpoints: at least one endpoint is required"},
		{"null endpoints", "clusters:\n  - name: a\n    endpoints:\n", "clusters.yml:3: clusters[0].endpoints: at least one endpoint is required"},
		{"endpoints a string", "clusters:\n  - name: a\n    endpoints: h:1,h:2\n", "clusters.yml:3: clusters[0].endpoints: want a list of endpoints, got a string value"},
		{"bad endpoint", "clusters:\n  - name: a\n    endpoints:\n      - h:1\n      - ftp://h:2\n", `clusters.yml:5: clusters[0].endpoints[1]: endpoint "ftp://h:2": scheme must be http or https`},
		{"endpoint without port", "clusters:\n  - name: a\n    endpoints: [h]\n", `clusters.yml:3: clusters[0].endpoints[0]: endpoint "http://h": want host:port`},
		{"endpoint a mapping", "clusters:\n  - name: a\n    endpoints:\n      - {host: h}\n", "clusters.yml:4: clusters[0].endpoints[0]: want an endpoint (host:port or http(s)://host:port), got a mapping"},

		// Durations and numbers.
		{"zero health check interval", "clusters:\n  - name: a\n    endpoints: [h:1]\n    health_check_interval: 0s\n", "clusters.yml:4: clusters[0].health_check_interval: must be positive, got 0s"},
		{"negative health check interval", "clusters:\n  - name: a\n    endpoints: [h:1]\n    health_check_interval: -1s\n", "clusters.yml:4: clusters[0].health_check_interval: must be positive, got -1s"},
		{"duration without unit", "clusters:\n  - name: a\n    endpoints: [h:1]\n    health_check_interval: 10\n", `clusters.yml:4: clusters[0].health_check_interval: want a duration such as 10s or 1m30s, got "10"`},
		{"duration a list", "clusters:\n  - name: a\n    endpoints: [h:1]\n    dial_timeout: [1s]\n", "clusters.yml:4: clusters[0].dial_timeout: want a duration such as 10s or 1m30s, got a list"},
		{"zero dial timeout", "clusters:\n  - name: a\n    endpoints: [h:1]\n    dial_timeout: 0s\n", "clusters.yml:4: clusters[0].dial_timeout: must be positive, got 0s"},
		{"negative request timeout", "clusters:\n  - name: a\n    endpoints: [h:1]\n    request_timeout: -5s\n", "clusters.yml:4: clusters[0].request_timeout: must be positive, got -5s"},
		{"negative hashkv interval", "clusters:\n  - name: a\n    endpoints: [h:1]\n    hashkv_interval: -1m\n", "clusters.yml:4: clusters[0].hashkv_interval: must not be negative (0s turns it off), got -1m0s"},
		{"negative probe interval", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe:\n      interval: -1s\n", "clusters.yml:5: clusters[0].probe.interval: must not be negative (0s turns it off), got -1s"},
		{"zero probe timeout", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe:\n      timeout: 0s\n", "clusters.yml:5: clusters[0].probe.timeout: must be positive, got 0s"},
		{"probe timeout above interval", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe:\n      interval: 1s\n      timeout: 2s\n", "clusters.yml:6: clusters[0].probe.timeout: 2s is longer than the probe interval 1s"},
		{"probe timeout above inherited interval", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe:\n      timeout: 1m\n", "clusters.yml:5: clusters[0].probe.timeout: 1m0s is longer than the probe interval 5s"},
		{"empty key prefix", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe:\n      key_prefix: ''\n", "clusters.yml:5: clusters[0].probe.key_prefix: must not be empty"},
		{"zero quota", "clusters:\n  - name: a\n    endpoints: [h:1]\n    quota_backend_bytes: 0\n", "clusters.yml:4: clusters[0].quota_backend_bytes: must be positive, got 0"},
		{"negative quota", "clusters:\n  - name: a\n    endpoints: [h:1]\n    quota_backend_bytes: -1\n", "clusters.yml:4: clusters[0].quota_backend_bytes: must be positive, got -1"},
		{"quota with an unknown unit", "clusters:\n  - name: a\n    endpoints: [h:1]\n    quota_backend_bytes: 8 gigs\n", `clusters.yml:4: clusters[0].quota_backend_bytes: "8 gigs" is not a size (use e.g. 100MiB, 8GiB or a number of bytes)`},
		{"quota a fraction", "clusters:\n  - name: a\n    endpoints: [h:1]\n    quota_backend_bytes: 1.5\n", `clusters.yml:4: clusters[0].quota_backend_bytes: "1.5" is not a size: a fraction of a byte`},
		{"quota out of range", "clusters:\n  - name: a\n    endpoints: [h:1]\n    quota_backend_bytes: 99999999999999999999\n", `clusters.yml:4: clusters[0].quota_backend_bytes: "99999999999999999999" is too large`},
		{"quota a list", "clusters:\n  - name: a\n    endpoints: [h:1]\n    quota_backend_bytes: [1]\n", `clusters.yml:4: clusters[0].quota_backend_bytes: want a size such as 8GiB or a number of bytes, got a list`},
		{"bool as yes", "clusters:\n  - name: a\n    endpoints: [h:1]\n    insecure_skip_verify: yes\n", `clusters.yml:4: clusters[0].insecure_skip_verify: want true or false, got "yes"`},
		{"bool as string", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe:\n      write: \"true\"\n", `clusters.yml:5: clusters[0].probe.write: want true or false, got "true"`},

		// The same rules as the flags (cmd/etcd-monitor's TestFlagsAndFileRefuseAlike).
		{"probe keys at the top of the keyspace", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe:\n      key_prefix: /\n", `clusters.yml:5: clusters[0].probe.key_prefix: "/" is the top of the keyspace`},
		{"endpoint port out of range", "clusters:\n  - name: a\n    endpoints:\n      - h:1\n      - 127.0.0.1:99999\n", `clusters.yml:5: clusters[0].endpoints[1]: endpoint "http://127.0.0.1:99999": port "99999" is not a port (1 to 65535)`},
		{"mixed schemes", "clusters:\n  - name: a\n    endpoints: [https://h:1, h:2, http://h:3]\n", "clusters.yml:3: clusters[0].endpoints: https://h:1 and http://h:3 use different schemes"},
		{"TLS settings with http endpoints", "clusters:\n  - name: a\n    endpoints: [http://h:1]\n    ca_file: " + notPEM + "\n", "clusters.yml:4: clusters[0].ca_file: set, but the endpoints are http://"},
		{"request timeout too short", "clusters:\n  - name: a\n    endpoints: [h:1]\n    request_timeout: 1ns\n", "clusters.yml:4: clusters[0].request_timeout: 1ns is too short for any etcd request to complete (at least 10ms)"},
		{"probe interval below the floor", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe: {interval: 1ns}\n", "clusters.yml:4: clusters[0].probe.interval: 1ns is too short: at least 100ms (0s turns it off)"},
		{"check interval below the floor", "clusters:\n  - name: a\n    endpoints: [h:1]\n    health_check_interval: 50ms\n", "clusters.yml:4: clusters[0].health_check_interval: 50ms is too short: at least 100ms"},
		{"hashkv interval below the floor", "clusters:\n  - name: a\n    endpoints: [h:1]\n    hashkv_interval: 500ms\n", "clusters.yml:4: clusters[0].hashkv_interval: 500ms is too short: at least 1s (0s turns it off)"},
		{"probe timeout too short", "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe: {timeout: 1ms}\n", "clusters.yml:4: clusters[0].probe.timeout: 1ms is too short"},
		{"endpoint with a password", "clusters:\n  - name: a\n    endpoints: [http://u:hunter2@h:1]\n", "clusters.yml:3: clusters[0].endpoints[0]: endpoint with user information"},
		{"unknown field in an anchor nobody merges", "x-base: &base\n  colour: blue\nclusters:\n  - name: a\n    endpoints: [h:1]\n", ""},
		{"duplicate top-level key", "clusters:\n  - {name: a, endpoints: [h:1]}\nclusters: []\n", "clusters.yml:3: clusters: duplicate field (first at line 1)"},
		{"clusters an alias to a scalar", "x-s: &s 3\nclusters: *s\n", "clusters.yml:2: clusters: want a list of clusters, got a number value"},
		{"probe merged in, not a mapping", "x-p: &p {probe: 5s}\nclusters:\n  - {<<: *p, name: a, endpoints: [h:1]}\n", "clusters.yml:1: clusters[0].probe: want a mapping"},

		// Found by etcdconn.Config.Load, placed at the field's line.
		{"missing CA file", "clusters:\n  - name: a\n    endpoints: [h:1]\n    ca_file: " + missing + "\n", "clusters.yml:4: clusters[0].ca_file: open " + missing + ": no such file or directory"},
		{"CA file without a certificate", "clusters:\n  - name: a\n    endpoints: [h:1]\n    ca_file: " + notPEM + "\n", "clusters.yml:4: clusters[0].ca_file: " + notPEM + " holds no PEM certificate"},
		{"cert without key", "clusters:\n  - name: a\n    endpoints: [h:1]\n    cert_file: " + notPEM + "\n", "clusters.yml:2: clusters[0].key_file: required when cert_file is set"},
		{"key without cert", "clusters:\n  - name: a\n    endpoints: [h:1]\n    key_file: " + notPEM + "\n", "clusters.yml:2: clusters[0].cert_file: required when key_file is set"},
		{"username without password file", "clusters:\n  - name: a\n    endpoints: [h:1]\n    username: monitor\n", "clusters.yml:2: clusters[0].password_file: required when username is set"},
		{"password file without username", "clusters:\n  - name: a\n    endpoints: [h:1]\n    password_file: " + notPEM + "\n", "clusters.yml:2: clusters[0].username: required when password_file is set"},
		{"missing password file", "clusters:\n  - name: a\n    endpoints: [h:1]\n    username: u\n    password_file: " + missing + "\n", "clusters.yml:5: clusters[0].password_file: open " + missing + ": no such file or directory"},
		// Structure is checked in every entry before any file is read.
		{"typo reported before a missing file", "clusters:\n  - name: a\n    endpoints: [h:1]\n    ca_file: " + missing + "\n  - name: b\n    endpoints: [h:2]\n    usernme: u\n", "clusters.yml:7: clusters[1].usernme: unknown field, did you mean username?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfgs, err := Parse("clusters.yml", []byte(tc.yaml), Defaults{Probe: collector.ProbeConfig{Interval: 5 * time.Second}})
			if tc.want == "" {
				// x- keys are not checked: they hold whatever the
				// entries merge.
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted: %+v", cfgs)
			}
			assertUsage(t, err)
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error:\n got %s\nwant %s…", err, tc.want)
			}
		})
	}
}

// A small file whose aliases repeat a large list in every entry is refused
// instead of being expanded (the "billion laughs" shape).
func TestParseRefusesAliasExpansion(t *testing.T) {
	var b strings.Builder
	b.WriteString("x-m: &m {dial_timeout: 1s}\nx-l: &l [" + strings.Repeat("*m, ", 20000) + "*m]\nclusters:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  - {<<: *l, name: c%d, endpoints: [h:1]}\n", i)
	}
	_, err := Parse("clusters.yml", []byte(b.String()), Defaults{})
	assertUsage(t, err)
	if want := "clusters.yml:2: clusters["; err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "].<<: aliases expand the file to more than") {
		t.Errorf("got %v, want %s…].<<: aliases expand the file to more than …", err, want)
	}
}

// Values inherited from the command line are checked too, and the error
// says where they came from.
func TestParseRefusesBadDefaults(t *testing.T) {
	const file = "clusters:\n  - name: a\n    endpoints: [h:1]\n    probe: {write: true}\n"
	for _, tc := range []struct {
		d    Defaults
		want string
	}{
		{Defaults{HealthCheckInterval: -time.Second}, "clusters.yml:2: clusters[0].health_check_interval: must be positive, got -1s from the command line"},
		{Defaults{QuotaBackendBytes: -1}, "clusters.yml:2: clusters[0].quota_backend_bytes: must be positive, got -1 from the command line"},
		{Defaults{HashKVInterval: -time.Second}, "clusters.yml:2: clusters[0].hashkv_interval: must not be negative (0s turns it off), got -1s from the command line"},
		{Defaults{Probe: collector.ProbeConfig{Timeout: -time.Second}}, "clusters.yml:4: clusters[0].probe.timeout: must be positive, got -1s from the command line"},
	} {
		_, err := Parse("clusters.yml", []byte(file), tc.d)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse with %+v:\n got %v\nwant %s", tc.d, err, tc.want)
		}
		assertUsage(t, err)
	}
}

// Every field of a complete file lands in the ClusterConfig, TLS and
// password files are read (relative to the config file), and entries that
// leave fields out inherit the defaults.
func TestParseValid(t *testing.T) {
	dir := t.TempDir()
	writeTLS(t, dir)
	writeFile(t, filepath.Join(dir, "secrets", "prod-a"), "s3cret-pw\n")
	file := `# two clusters
x-tls: &tls
  ca_file: tls/ca.pem
  cert_file: tls/client.pem
  key_file: tls/client-key.pem
clusters:
  - <<: *tls
    name: prod-a
    endpoints:
      - 10.0.0.1:2379
      - https://10.0.0.2:2379/
    insecure_skip_verify: true
    username: monitor
    password_file: secrets/prod-a
    dial_timeout: 1500ms
    request_timeout: 4s
    health_check_interval: 15s
    quota_backend_bytes: 8GiB
    hashkv_interval: 5m
    probe:
      interval: 3s
      timeout: 1s
      write: false
      key_prefix: /mon/probe/
  - name: staging.eu_1
    endpoints: ["127.0.0.1:2379"]
`
	path := filepath.Join(dir, "clusters.yml")
	writeFile(t, path, file)
	d := Defaults{
		HealthCheckInterval: 20 * time.Second,
		QuotaBackendBytes:   4 << 30,
		HashKVInterval:      time.Minute,
		DialTimeout:         3 * time.Second,
		RequestTimeout:      7 * time.Second,
		Probe:               collector.ProbeConfig{Interval: 10 * time.Second, Timeout: 6 * time.Second, Write: true, KeyPrefix: "/flags/"},
	}
	cfgs, err := Load(path, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 {
		t.Fatalf("got %d clusters, want 2", len(cfgs))
	}

	a := cfgs[0]
	if a.Name != "prod-a" || a.HealthCheckInterval != 15*time.Second || a.QuotaBackendBytes != 8<<30 || a.HashKVInterval != 5*time.Minute {
		t.Errorf("prod-a: %+v", a)
	}
	if want := (collector.ProbeConfig{Interval: 3 * time.Second, Timeout: time.Second, Write: false, KeyPrefix: "/mon/probe/"}); a.Probe != want {
		t.Errorf("prod-a probe: got %+v, want %+v", a.Probe, want)
	}
	c := a.Conn
	// TLS is on, so the bare host:port becomes https.
	if got, want := strings.Join(c.Endpoints, ","), "https://10.0.0.1:2379,https://10.0.0.2:2379"; got != want {
		t.Errorf("endpoints: got %s, want %s", got, want)
	}
	if c.DialTimeout != 1500*time.Millisecond || c.RequestTimeout != 4*time.Second {
		t.Errorf("timeouts: dial %s, request %s", c.DialTimeout, c.RequestTimeout)
	}
	for _, p := range [][2]string{
		{c.CAFile, filepath.Join(dir, "tls", "ca.pem")},
		{c.CertFile, filepath.Join(dir, "tls", "client.pem")},
		{c.KeyFile, filepath.Join(dir, "tls", "client-key.pem")},
		{c.PasswordFile, filepath.Join(dir, "secrets", "prod-a")},
	} {
		if p[0] != p[1] {
			t.Errorf("path: got %s, want %s", p[0], p[1])
		}
	}
	if !c.InsecureSkipVerify || c.Username != "monitor" || !c.HasAuth() {
		t.Errorf("prod-a conn: %+v", c)
	}
	tc := c.TLS()
	if tc == nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || !tc.InsecureSkipVerify {
		t.Errorf("prod-a TLS not loaded: %+v", tc)
	}
	if pw := c.ClientConfig(c.Endpoints).Password; pw != "s3cret-pw" {
		t.Errorf("password: got %q", pw)
	}

	b := cfgs[1]
	want := collector.ClusterConfig{
		Name:                "staging.eu_1",
		Conn:                b.Conn,
		HealthCheckInterval: 20 * time.Second,
		QuotaBackendBytes:   4 << 30,
		HashKVInterval:      time.Minute,
		Probe:               collector.ProbeConfig{Interval: 10 * time.Second, Timeout: 6 * time.Second, Write: true, KeyPrefix: "/flags/"},
	}
	if b != want {
		t.Errorf("staging.eu_1:\n got %+v\nwant %+v", b, want)
	}
	bc := b.Conn
	if strings.Join(bc.Endpoints, ",") != "http://127.0.0.1:2379" || bc.DialTimeout != 3*time.Second || bc.RequestTimeout != 7*time.Second ||
		bc.TLS() != nil || bc.HasAuth() || bc.CAFile != "" {
		t.Errorf("staging.eu_1 conn: %+v", bc)
	}
}

// How the probe timeout is resolved when the entry does not set it, and the
// built-in values behind zero Defaults.
func TestParseDefaults(t *testing.T) {
	parse := func(probe string, d Defaults) collector.ClusterConfig {
		t.Helper()
		file := "clusters:\n  - name: a\n    endpoints: [h:1]\n" + probe
		cfgs, err := Parse("clusters.yml", []byte(file), d)
		if err != nil {
			t.Fatal(err)
		}
		return cfgs[0]
	}

	zero := parse("", Defaults{})
	if zero.HealthCheckInterval != DefaultHealthCheckInterval || zero.QuotaBackendBytes != collector.DefaultQuotaBackendBytes ||
		zero.HashKVInterval != 0 || zero.Conn.DialTimeout != etcdconn.DefaultDialTimeout || zero.Conn.RequestTimeout != etcdconn.DefaultRequestTimeout {
		t.Errorf("zero defaults: %+v conn %+v", zero, zero.Conn)
	}
	if want := (collector.ProbeConfig{Timeout: etcdconn.DefaultRequestTimeout, KeyPrefix: collector.DefaultProbeKeyPrefix}); zero.Probe != want {
		t.Errorf("zero defaults probe: got %+v, want %+v", zero.Probe, want)
	}

	flags := Defaults{RequestTimeout: 4 * time.Second, Probe: collector.ProbeConfig{Interval: 10 * time.Second}}
	for _, tc := range []struct {
		name  string
		probe string
		d     Defaults
		want  time.Duration
	}{
		{"no --probe.timeout: the request timeout", "", flags, 4 * time.Second},
		{"no --probe.timeout: the entry's request timeout", "    request_timeout: 2s\n", flags, 2 * time.Second},
		{"no --probe.timeout: capped at the entry's interval", "    probe: {interval: 1s}\n", flags, time.Second},
		{"--probe.timeout", "", Defaults{Probe: collector.ProbeConfig{Interval: 10 * time.Second, Timeout: 3 * time.Second}}, 3 * time.Second},
		{"--probe.timeout capped at the entry's interval", "    probe: {interval: 2s}\n", Defaults{Probe: collector.ProbeConfig{Interval: 10 * time.Second, Timeout: 3 * time.Second}}, 2 * time.Second},
		{"the entry's timeout", "    probe: {timeout: 500ms}\n", flags, 500 * time.Millisecond},
		{"probes off: the timeout is not checked against the interval", "    probe: {interval: 0s, timeout: 1m}\n", flags, time.Minute},
	} {
		if got := parse(tc.probe, tc.d).Probe.Timeout; got != tc.want {
			t.Errorf("%s: probe timeout %s, want %s", tc.name, got, tc.want)
		}
	}

	// Write false on the command line is inherited, and an entry can turn
	// it back on.
	if parse("", Defaults{}).Probe.Write {
		t.Error("probe.write inherited true from false defaults")
	}
	if !parse("    probe: {write: true}\n", Defaults{}).Probe.Write {
		t.Error("probe.write: true ignored")
	}
}

// Merge keys: explicit fields win over merged ones, earlier merges over
// later ones, and a mapping merged twice counts once.
func TestParseMerge(t *testing.T) {
	file := `x-a: &a {health_check_interval: 1s, hashkv_interval: 1m}
x-b: &b {health_check_interval: 2s, hashkv_interval: 2m, dial_timeout: 3s}
x-c: &c {<<: [*a, *b], request_timeout: 9s}
x-probe: &probe {interval: 4s}
clusters:
  - <<: [*a, *b, *c]
    name: a
    endpoints: &eps [h:1]
    hashkv_interval: 3m
    probe: {<<: *probe, write: true}
  - {<<: *a, name: b, endpoints: *eps}
`
	cfgs, err := Parse("clusters.yml", []byte(file), Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	a := cfgs[0]
	if a.HealthCheckInterval != time.Second || a.HashKVInterval != 3*time.Minute || a.Conn.DialTimeout != 3*time.Second ||
		a.Conn.RequestTimeout != 9*time.Second || a.Probe.Interval != 4*time.Second || !a.Probe.Write {
		t.Errorf("merged: %+v conn %+v", a, a.Conn)
	}
	if b := cfgs[1]; b.Name != "b" || b.HealthCheckInterval != time.Second || strings.Join(b.Conn.Endpoints, ",") != "http://h:1" {
		t.Errorf("aliased: %+v conn %+v", b, b.Conn)
	}
}

// The password never appears in an error, nor in anything logged while
// parsing; a password written into the config itself is refused without
// being echoed.
func TestParseKeepsPasswordSecret(t *testing.T) {
	const secret = "hunter2-do-not-print"
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pw"), secret+"\n")
	writeFile(t, filepath.Join(dir, "bad.pem"), "not a certificate\n")

	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	defer log.SetOutput(log.Writer())
	log.SetOutput(&logs)

	for name, file := range map[string]string{
		// Load reads the password file before the TLS material, so these
		// fail with the password in memory.
		"bad certificate": "clusters:\n  - name: a\n    endpoints: [h:1]\n    username: u\n    password_file: pw\n    cert_file: bad.pem\n    key_file: bad.pem\n",
		"bad CA":          "clusters:\n  - name: a\n    endpoints: [h:1]\n    username: u\n    password_file: pw\n    ca_file: bad.pem\n",
		"password field":  "clusters:\n  - name: a\n    endpoints: [h:1]\n    username: u\n    password: " + secret + "\n",
		"password merged": "x-auth: &auth {username: u, password: " + secret + "}\nclusters:\n  - {<<: *auth, name: a, endpoints: [h:1]}\n",
	} {
		_, err := Parse(filepath.Join(dir, "clusters.yml"), []byte(file), Defaults{})
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the password: %v", name, err)
		}
	}
	cfgs, err := Parse(filepath.Join(dir, "clusters.yml"), []byte("clusters:\n  - name: a\n    endpoints: [h:1]\n    username: u\n    password_file: pw\n"), Defaults{})
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v", cfgs, cfgs); strings.Contains(s, secret) {
		t.Errorf("the configs print the password: %s", s)
	}
	if logs.Len() != 0 {
		t.Errorf("Parse logged: %s", logs.String())
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "nope.yml"), Defaults{})
	assertUsage(t, err)
	if want := filepath.Join(dir, "nope.yml") + ": cannot read the config file: no such file or directory"; err.Error() != want {
		t.Errorf("missing file:\n got %v\nwant %s", err, want)
	}

	big := filepath.Join(dir, "big.yml")
	writeFile(t, big, "# "+strings.Repeat("x", maxFileSize)+"\n")
	_, err = Load(big, Defaults{})
	assertUsage(t, err)
	if want := big + ": larger than 4 MiB"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("big file: got %v, want %s…", err, want)
	}

	// The error names the file as given.
	bad := filepath.Join(dir, "bad.yml")
	writeFile(t, bad, "clusters:\n  - name: a\n")
	_, err = Load(bad, Defaults{})
	if want := bad + ":2: clusters[0].endpoints: at least one endpoint is required"; err == nil || err.Error() != want {
		t.Errorf("bad file:\n got %v\nwant %s", err, want)
	}
}

// Line breaks that reach a message (here through the file name and a key)
// are escaped: the error stays one line.
func TestErrorsAreOneLine(t *testing.T) {
	_, err := Parse("a\nb.yml", []byte("clusters:\n  - name: a\n    endpoints: [h:1]\n    \"x\\ny\": 1\n"), Defaults{})
	if want := `a\nb.yml:4: clusters[0].x\ny: unknown field`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %s…", err, want)
	}
}

// The shipped example must stay valid. Its files do not exist here, so only
// the checks before Load run.
func TestExampleFile(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "clusters.example.yml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := newParser(path, Defaults{})
	entries, err := p.parse(data)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.cfg.Name)
	}
	if got := strings.Join(names, ","); got != "prod-a,prod-b,staging" {
		t.Errorf("clusters: %s", got)
	}
	if b := entries[1].cfg; b.Conn.CAFile != "/etc/etcd-monitor/tls/ca.pem" || b.Probe.Write || b.Conn.Username != "monitor-ro" {
		t.Errorf("prod-b: %+v conn %+v", b, b.Conn)
	}
	if s := entries[2].cfg; s.Probe.Interval != 0 || s.HealthCheckInterval != 30*time.Second {
		t.Errorf("staging: %+v", s)
	}
}

func assertUsage(t *testing.T, err error) {
	t.Helper()
	if code := cli.ExitCode(err); code != cli.ExitUsage {
		t.Errorf("exit code %d, want %d (usage) for %v", code, cli.ExitUsage, err)
	}
	if err != nil && strings.ContainsAny(err.Error(), "\r\n") {
		t.Errorf("error is not one line: %q", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeTLS writes a self-signed CA and a client certificate it signed to
// dir/tls/{ca,client,client-key}.pem.
func writeTLS(t *testing.T, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "monitor"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemFile := func(name, typ string, der []byte) {
		writeFile(t, filepath.Join(dir, "tls", name), string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})))
	}
	pemFile("ca.pem", "CERTIFICATE", caDER)
	pemFile("client.pem", "CERTIFICATE", der)
	pemFile("client-key.pem", "PRIVATE KEY", keyDER)
}
