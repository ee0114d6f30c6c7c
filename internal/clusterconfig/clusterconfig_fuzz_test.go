package clusterconfig

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/collector"
	"github.com/etcd-monitor/etcd-monitor/internal/cli"
	"github.com/etcd-monitor/etcd-monitor/internal/etcdconn"
)

// FuzzParse checks that no input makes the loader panic or hang, that every
// refusal is one usage-error line naming a line of the input, and that every
// success is a non-empty, uniquely named, complete set of clusters. The
// committed corpus is in testdata/fuzz/FuzzParse; CI runs
// go test -fuzz=FuzzParse -fuzztime=20s ./internal/clusterconfig.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"clusters:\n  - name: a\n    endpoints: [127.0.0.1:2379]\n",
		"clusters:\n  - name: a\n    endpoints: [h:1]\n  - name: b\n    endpoints: [http://h:2, https://h:3]\n    probe: {interval: 0s}\n",
		"x-a: &a {health_check_interval: 1s, probe: {interval: 2s, timeout: 1s}}\nclusters:\n  - {<<: *a, name: a, endpoints: &e [h:1]}\n  - {<<: [*a], name: b, endpoints: *e, hashkv_interval: 1m}\n",
		"clusters:\n  - name: a\n    endpoints: [h:1]\n    quota_backend_bytes: 0x10\n    probe:\n      write: true\n      key_prefix: /p/\n",
		"clusters: &c\n  - <<: *c\n",
		"clusters:\n  - &x {<<: *x}\n",
		"clusters:\n  - name: a\n    endpoints: [h:1]\n    password: x\n",
		"clusters:\n  - name: a\n    endpoints: [h:1]\n  - name: a\n    endpoints: [h:1]\n",
		"clusters:\n  - name: a\n    endpoints: [h:1\n",
		"clusters:\n  - name: a\n    ca_file: ca.pem\n    username: u\n    password_file: pw\n    endpoints: [h:1]\n",
		"---\n...\n---\n",
		"",
		// The rules shared with the flags: ports, schemes, floors, sizes.
		"clusters:\n  - name: a\n    endpoints: [h:1, https://h:2]\n    quota_backend_bytes: 8GiB\n",
		"clusters:\n  - name: a\n    endpoints: [http://h:1, https://h:2]\n",
		"clusters:\n  - name: a\n    endpoints: [h:99999]\n    request_timeout: 1ns\n",
		"clusters:\n  - name: a\n    endpoints: [h:1]\n    probe: {key_prefix: /, timeout: 9ms}\n",
		"clusters:\n  - name: a\n    endpoints: [h:1]\n    quota_backend_bytes: 1.5\n",
		"x-s: &s 3\nclusters: *s\nclusters: []\n",
		"x-p: &p {probe: {interval: 1s}}\nclusters:\n  - {<<: [*p, *p], name: a, endpoints: [h:1], probe: {timeout: 2s}}\n",
		// The interval floors.
		"clusters:\n  - name: a\n    endpoints: [h:1]\n    probe: {interval: 1ns}\n",
		"clusters:\n  - name: a\n    endpoints: [h:1]\n    health_check_interval: 99ms\n    hashkv_interval: 999ms\n",
		"clusters:\n  - name: a\n    endpoints: [h:1]\n    health_check_interval: 100ms\n    hashkv_interval: 1s\n    probe: {interval: 100ms}\n",
	} {
		f.Add([]byte(seed))
	}
	lineRE := regexp.MustCompile(`^fuzz\.yml:([0-9]+): `)
	defaults := Defaults{Probe: collector.ProbeConfig{Interval: 5 * time.Second}}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfgs, err := Parse("fuzz.yml", data, defaults)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			if !cli.IsUsage(err) {
				t.Fatalf("not a usage error: %v", err)
			}
			m := lineRE.FindStringSubmatch(msg)
			if m == nil {
				t.Fatalf("error does not start with fuzz.yml:LINE: %q", msg)
			}
			// One line past the end is allowed: yaml reports an unexpected
			// end of stream on the line after the last line break.
			line, _ := strconv.Atoi(m[1])
			if lines := yamlLines(data); line < 1 || line > lines+1 {
				t.Fatalf("line %d outside the input's %d lines: %q", line, lines, msg)
			}
			return
		}
		if len(cfgs) == 0 {
			t.Fatal("no error and no clusters")
		}
		seen := map[string]bool{}
		for _, c := range cfgs {
			if seen[c.Name] {
				t.Fatalf("duplicate name %q accepted", c.Name)
			}
			seen[c.Name] = true
			if !nameRE.MatchString(c.Name) {
				t.Fatalf("bad name %q accepted", c.Name)
			}
			if c.Conn == nil || len(c.Conn.Endpoints) == 0 {
				t.Fatalf("%s: no endpoints", c.Name)
			}
			if c.HealthCheckInterval <= 0 || c.QuotaBackendBytes <= 0 || c.HashKVInterval < 0 ||
				c.Conn.DialTimeout <= 0 || c.Conn.RequestTimeout <= 0 || c.Probe.Interval < 0 || c.Probe.KeyPrefix == "" {
				t.Fatalf("%s: invalid value accepted: %+v conn %+v", c.Name, c, c.Conn)
			}
			if c.Probe.Interval > 0 && (c.Probe.Timeout <= 0 || c.Probe.Timeout > c.Probe.Interval) {
				t.Fatalf("%s: probe timeout %s with interval %s", c.Name, c.Probe.Timeout, c.Probe.Interval)
			}
			// What the flags refuse, the file refuses too: the one Check.
			if c.Conn.DialTimeout < etcdconn.MinTimeout || c.Conn.RequestTimeout < etcdconn.MinTimeout ||
				(c.Probe.Timeout != 0 && c.Probe.Timeout < etcdconn.MinTimeout) || c.Probe.KeyPrefix == "/" ||
				c.HealthCheckInterval < MinHealthCheckInterval || (c.Probe.Interval > 0 && c.Probe.Interval < MinProbeInterval) ||
				(c.HashKVInterval > 0 && c.HashKVInterval < MinHashKVInterval) {
				t.Fatalf("%s: value below a floor accepted: %+v conn %+v", c.Name, c, c.Conn)
			}
			if err := Check(&c); err != nil {
				t.Fatalf("%s: accepted, but Check refuses it: %v", c.Name, err)
			}
			scheme := ""
			for _, ep := range c.Conn.Endpoints {
				u, err := url.Parse(ep)
				if err != nil || u.Port() == "" {
					t.Fatalf("%s: endpoint %q accepted", c.Name, ep)
				}
				if p, _ := strconv.Atoi(u.Port()); p < 1 || p > 65535 {
					t.Fatalf("%s: endpoint %q: port out of range accepted", c.Name, ep)
				}
				if scheme != "" && u.Scheme != scheme {
					t.Fatalf("%s: mixed schemes accepted: %v", c.Name, c.Conn.Endpoints)
				}
				scheme = u.Scheme
			}
		}
	})
}

// yamlLines counts lines as YAML (and so yaml.v3's line numbers) does: CR,
// LF, CRLF, NEL, LS and PS all end a line.
func yamlLines(data []byte) int {
	s := strings.ReplaceAll(string(data), "\r\n", "\n")
	return 1 + strings.Count(s, "\n") + strings.Count(s, "\r") +
		strings.Count(s, "\u0085") + strings.Count(s, "\u2028") + strings.Count(s, "\u2029")
}
