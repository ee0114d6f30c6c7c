package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testpki"
)

// --config.check refuses everything serve would refuse at start, with the
// same one line and exit code 2, and serve itself refuses it before
// starting anything. Before, the web side was not looked at (a missing
// --web.config.file passed the check, then serve exited 1 after starting
// its checkers) and nonsense values such as port 99999 or a 1ns timeout
// were accepted.
func TestConfigCheckRefusesWhatServeWould(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, err := testpki.NewCA(dir, "web", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue("web", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	goodWeb := write("web-ok.yml", "tls_server_config:\n  cert_file: "+pair.CertFile+"\n  key_file: "+pair.KeyFile+"\n")
	brokenWeb := write("web-broken.yml", "tls_server_config: [\n")
	unknownWeb := write("web-unknown.yml", "tls_server_config:\n  cert_file: "+pair.CertFile+"\n  key_file: "+pair.KeyFile+"\n  colour: blue\n")
	missingTLSWeb := write("web-missing-tls.yml", "tls_server_config:\n  cert_file: "+filepath.Join(dir, "nope.pem")+"\n  key_file: "+filepath.Join(dir, "nope-key.pem")+"\n")
	notPEMWeb := write("web-not-pem.yml", "tls_server_config:\n  cert_file: "+brokenWeb+"\n  key_file: "+brokenWeb+"\n")
	clusters := write("clusters.yml", "clusters:\n  - name: a\n    endpoints: [127.0.0.1:2379]\n")

	for _, tc := range []struct {
		name string
		args []string
		want string // the one line starts with "etcd-monitor serve: " and this
	}{
		{"web config file missing", []string{"--web.config.file=" + filepath.Join(dir, "nonexistent.yml")}, "--web.config.file: open " + filepath.Join(dir, "nonexistent.yml")},
		{"web config file broken", []string{"--web.config.file=" + brokenWeb}, "--web.config.file: yaml:"},
		{"web config unknown field", []string{"--web.config.file=" + unknownWeb}, "--web.config.file: yaml: unmarshal errors: line 4: field colour not found"},
		{"web TLS files missing", []string{"--web.config.file=" + missingTLSWeb}, "--web.config.file: "},
		{"web TLS files not PEM", []string{"--web.config.file=" + notPEMWeb}, "--web.config.file: "},
		{"web side checked with a config file too", []string{"--config.file=" + clusters, "--web.config.file=" + brokenWeb}, "--web.config.file: yaml:"},
		{"listen address bogus", []string{"--web.listen-address=bogus:xx"}, `--web.listen-address: "bogus:xx": port "xx" is not a port (0 to 65535)`},
		{"listen address without port", []string{"--web.listen-address=127.0.0.1"}, `--web.listen-address: "127.0.0.1": want host:port`},
		{"listen port out of range", []string{"--web.listen-address=127.0.0.1:70000"}, `--web.listen-address: "127.0.0.1:70000": port "70000" is not a port`},
		{"listen host does not resolve", []string{"--web.listen-address=no-such-host.invalid:9379"}, `--web.listen-address: "no-such-host.invalid:9379": host "no-such-host.invalid" does not resolve`},
		{"endpoint port out of range", []string{"--etcd.endpoints=127.0.0.1:99999"}, `--etcd.endpoints: endpoint "http://127.0.0.1:99999": port "99999" is not a port (1 to 65535)`},
		{"endpoint port zero", []string{"--etcd.endpoints=127.0.0.1:2379,127.0.0.1:0"}, `--etcd.endpoints: endpoint "http://127.0.0.1:0": port "0" is not a port`},
		{"request timeout 1ns", []string{"--etcd.request-timeout=1ns"}, "--etcd.request-timeout: 1ns is too short for any etcd request to complete (at least 10ms)"},
		{"dial timeout 5ms", []string{"--etcd.dial-timeout=5ms"}, "--etcd.dial-timeout: 5ms is too short"},
		{"probe timeout 1ms", []string{"--probe.timeout=1ms"}, "--probe.timeout: 1ms is too short"},
		{"probe timeout 0s written out", []string{"--probe.timeout=0s"}, "--probe.timeout: must be positive, got 0s"},
		{"mixed schemes", []string{"--etcd.endpoints=http://127.0.0.1:2379,https://127.0.0.1:2380"}, "--etcd.endpoints: http://127.0.0.1:2379 and https://127.0.0.1:2380 use different schemes"},
		{"TLS settings with http endpoints", []string{"--etcd.endpoints=http://127.0.0.1:2379", "--etcd.insecure-skip-verify"}, "--etcd.insecure-skip-verify: set, but the endpoints are http://"},
		{"probe keys at the top of the keyspace", []string{"--probe.key-prefix=/"}, `--probe.key-prefix: "/" is the top of the keyspace`},
		{"original guide's interval flag, negative", []string{"--metrics-interval=-1s"}, "--metrics-interval: must not be negative"},
		{"original guide's interval flag contradicting the new one", []string{"--metrics-interval=1s", "--probe.interval=2s"}, "--metrics-interval: 1s contradicts --probe.interval=2s"},
		{"original guide's interval flag, below the timeout", []string{"--metrics-interval=1s", "--probe.timeout=2s"}, "--probe.timeout: 2s is longer than the probe interval 1s"},
		// Intervals below their floors: --probe.interval=1ns passed, capped
		// the probe deadline at 1 ns and burned a core.
		{"probe interval 1ns", []string{"--probe.interval=1ns"}, "--probe.interval: 1ns is too short: at least 100ms (0s turns it off)"},
		{"original guide's interval flag, 1ms", []string{"--metrics-interval=1ms"}, "--metrics-interval: 1ms is too short: at least 100ms (0s turns it off)"},
		{"probe interval just below the floor", []string{"--probe.interval=99ms"}, "--probe.interval: 99ms is too short: at least 100ms"},
		{"check interval 1ns", []string{"--health-check-interval=1ns"}, "--health-check-interval: 1ns is too short: at least 100ms"},
		{"watch interval 1ns", []string{"--config.watch-interval=1ns"}, "--config.watch-interval: 1ns is too short: at least 100ms (0s turns it off)"},
		{"hashkv interval 1ns", []string{"--hashkv.interval=1ns"}, "--hashkv.interval: 1ns is too short: at least 1s (0s turns it off)"},
		// Whole numbers: kingpin wrapped 1e20 to a negative number and
		// read 1.5 as 1.
		{"shard count 1e20", []string{"--shard.count=1e20"}, "--shard.count: 1e20 is out of range"},
		{"shard index beyond int", []string{"--shard.index=9223372036854775808"}, "--shard.index: 9223372036854775808 is out of range"},
		{"shard count a fraction", []string{"--shard.count=1.5"}, "--shard.count: 1.5 is not an integer"},
		{"api port a fraction", []string{"--api-port=8080.5"}, "--api-port: 8080.5 is not an integer"},
		{"rounds in flight a fraction", []string{"--rounds.max-in-flight=1.5"}, "--rounds.max-in-flight: 1.5 is not an integer"},
		// One address twice: the second listener failed with "address
		// already in use" after the checkers started.
		{"listen address twice", []string{"--web.listen-address=127.0.0.1:19379", "--web.listen-address=127.0.0.1:19379"}, `--web.listen-address: "127.0.0.1:19379" given twice`},
		{"listen address twice, spelt differently", []string{"--web.listen-address=[::1]:19379", "--web.listen-address=[0:0:0:0:0:0:0:1]:19379"}, `--web.listen-address: "[0:0:0:0:0:0:0:1]:19379" given twice`},
		// Values kingpin refuses while parsing start as the command's own
		// checks do (they started "etcd-monitor: ").
		{"history budget not a size", []string{"--alerts.history-bytes=lots"}, `--alerts.history-bytes: "lots" is not a size`},
		{"guide's interval flag not a duration", []string{"--metrics-interval=soon"}, `--metrics-interval: time: invalid duration "soon"`},
		{"no round may run", []string{"--rounds.max-in-flight=0"}, "--rounds.max-in-flight: want a whole number of at least 1"},
		{"unknown probe buckets", []string{"--probe.buckets=few"}, "--probe.buckets: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, extra := range [][]string{{"--config.check"}, nil} {
				args := append([]string{"serve"}, tc.args...)
				if !hasListen(tc.args) {
					args = append(args, "--web.listen-address=127.0.0.1:0")
				}
				start := time.Now()
				stdout, stderr, code := runCmd(t, nil, append(args, extra...)...)
				lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
				if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "etcd-monitor serve: "+tc.want) {
					t.Errorf("%v: exit %d, stderr %q (stdout %q); want 2 and one line starting %q", extra, code, stderr, stdout, "etcd-monitor serve: "+tc.want)
				}
				if strings.Contains(stdout, "configuration OK") {
					t.Errorf("%v: said configuration OK", extra)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("%v: refused after %s: something started first", extra, d)
				}
			}
		})
	}

	// What is right passes, the web side included.
	stdout, stderr, code := runCmd(t, nil, "serve", "--config.check", "--web.config.file="+goodWeb, "--web.listen-address=localhost:9379",
		"--etcd.endpoints=127.0.0.1:2379,https://127.0.0.1:2380", "--etcd.request-timeout=10ms", "--metrics-interval=1s")
	if code != 0 || !strings.Contains(stdout, "configuration OK") || !strings.Contains(stdout, "probes every 1s") {
		t.Errorf("valid configuration: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func hasListen(args []string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, "--web.listen-address=") {
			return true
		}
	}
	return false
}

// A cluster obeys the same rules with the same words whether it is given
// by flags or by a config file entry; only where the error points differs.
// Before, key_prefix: / was accepted in a file and refused as a flag, and
// an endpoint's scheme depended on the order of the endpoints.
func TestFlagsAndFileRefuseAlike(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		flags   []string
		entry   string // YAML lines of the entry after name
		flag    string
		field   string // in the file: clusters[0].FIELD
		problem string
	}{
		{"probe keys at the top", []string{"--probe.key-prefix=/"}, "endpoints: [127.0.0.1:2379]\n    probe: {key_prefix: /}", "--probe.key-prefix", "probe.key_prefix",
			`"/" is the top of the keyspace: name a dedicated prefix such as /etcd-monitor/probe/`},
		{"empty probe prefix", []string{"--probe.key-prefix="}, "endpoints: [127.0.0.1:2379]\n    probe: {key_prefix: ''}", "--probe.key-prefix", "probe.key_prefix",
			"must not be empty (probe keys would be written at the top of the keyspace)"},
		{"mixed schemes", []string{"--etcd.endpoints=127.0.0.1:2379,http://127.0.0.1:2380,https://127.0.0.1:2381"}, "endpoints: [127.0.0.1:2379, http://127.0.0.1:2380, https://127.0.0.1:2381]", "--etcd.endpoints", "endpoints",
			"http://127.0.0.1:2380 and https://127.0.0.1:2381 use different schemes: a cluster serves its clients either over http or over https; write one scheme for all endpoints"},
		{"port out of range", []string{"--etcd.endpoints=127.0.0.1:2379,127.0.0.1:99999"}, "endpoints: [127.0.0.1:2379, 127.0.0.1:99999]", "--etcd.endpoints", "endpoints[1]",
			`endpoint "http://127.0.0.1:99999": port "99999" is not a port (1 to 65535)`},
		{"request timeout too short", []string{"--etcd.request-timeout=1ns"}, "endpoints: [127.0.0.1:2379]\n    request_timeout: 1ns", "--etcd.request-timeout", "request_timeout",
			"1ns is too short for any etcd request to complete (at least 10ms)"},
		{"dial timeout zero", []string{"--etcd.dial-timeout=0s"}, "endpoints: [127.0.0.1:2379]\n    dial_timeout: 0s", "--etcd.dial-timeout", "dial_timeout",
			"must be positive, got 0s"},
		{"health check interval zero", []string{"--health-check-interval=0s"}, "endpoints: [127.0.0.1:2379]\n    health_check_interval: 0s", "--health-check-interval", "health_check_interval",
			"must be positive, got 0s"},
		{"negative probe interval", []string{"--probe.interval=-1s"}, "endpoints: [127.0.0.1:2379]\n    probe: {interval: -1s}", "--probe.interval", "probe.interval",
			"must not be negative (0s turns it off), got -1s"},
		{"probe interval 1ns", []string{"--probe.interval=1ns"}, "endpoints: [127.0.0.1:2379]\n    probe: {interval: 1ns}", "--probe.interval", "probe.interval",
			"1ns is too short: at least 100ms (0s turns it off)"},
		{"check interval 1ms", []string{"--health-check-interval=1ms"}, "endpoints: [127.0.0.1:2379]\n    health_check_interval: 1ms", "--health-check-interval", "health_check_interval",
			"1ms is too short: at least 100ms"},
		{"hashkv interval 1ns", []string{"--hashkv.interval=1ns"}, "endpoints: [127.0.0.1:2379]\n    hashkv_interval: 1ns", "--hashkv.interval", "hashkv_interval",
			"1ns is too short: at least 1s (0s turns it off)"},
		{"probe timeout above interval", []string{"--probe.interval=1s", "--probe.timeout=2s"}, "endpoints: [127.0.0.1:2379]\n    probe: {interval: 1s, timeout: 2s}", "--probe.timeout", "probe.timeout",
			"2s is longer than the probe interval 1s"},
		{"probe timeout 0s written out", []string{"--probe.timeout=0s"}, "endpoints: [127.0.0.1:2379]\n    probe: {timeout: 0s}", "--probe.timeout", "probe.timeout",
			"must be positive, got 0s"},
		{"quota not a size", []string{"--etcd.quota-backend-bytes=8 gigs"}, "endpoints: [127.0.0.1:2379]\n    quota_backend_bytes: 8 gigs", "--etcd.quota-backend-bytes", "quota_backend_bytes",
			`"8 gigs" is not a size (use e.g. 100MiB, 8GiB or a number of bytes)`},
		{"TLS settings unused", []string{"--etcd.endpoints=http://127.0.0.1:2379", "--etcd.insecure-skip-verify"}, "endpoints: [http://127.0.0.1:2379]\n    insecure_skip_verify: true", "--etcd.insecure-skip-verify", "insecure_skip_verify",
			"set, but the endpoints are http://: write https:// endpoints, or leave the TLS settings out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := runCmd(t, nil, append([]string{"serve", "--config.check"}, tc.flags...)...)
			if want := tc.flag + ": " + tc.problem; code != 2 || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(strings.TrimSpace(stderr), want) {
				t.Errorf("flags: exit %d, stderr %q; want 2 and one line ending %q", code, stderr, want)
			}
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".yml")
			if err := os.WriteFile(path, []byte("clusters:\n  - name: a\n    "+tc.entry+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			_, stderr, code = runCmd(t, nil, "serve", "--config.check", "--config.file="+path)
			if want := ": clusters[0]." + tc.field + ": " + tc.problem; code != 2 || strings.Count(stderr, "\n") != 1 ||
				!strings.HasPrefix(stderr, "etcd-monitor serve: "+path+":") || !strings.HasSuffix(strings.TrimSpace(stderr), want) {
				t.Errorf("file: exit %d, stderr %q; want 2 and one line %s:LINE%s", code, stderr, path, want)
			}
		})
	}
}

// Every command shares --cluster.name and --etcd.quota-backend-bytes: the
// same flag, the same check, the same words.
func TestSharedFlagsRefuseAlike(t *testing.T) {
	for _, cmd := range [][]string{{"serve"}, {"check"}, {"benchmark"}, {"defrag"}, {"snapshot", "save", filepath.Join(t.TempDir(), "s.db")}} {
		for _, tc := range []struct{ arg, want string }{
			{"--cluster.name=prod a", `--cluster.name: "prod a": use only letters, digits, '_', '.' and '-'`},
			{"--cluster.name=", "--cluster.name: must not be empty"},
			{"--etcd.quota-backend-bytes=0", `--etcd.quota-backend-bytes: must be positive, got "0"`},
		} {
			if cmd[0] == "snapshot" && strings.Contains(tc.arg, "quota") {
				continue // a snapshot does not judge sizes
			}
			_, stderr, code := runCmd(t, nil, append(append([]string{}, cmd...), tc.arg)...)
			// Every error starts with the command, whether kingpin or
			// the command found it.
			want := "etcd-monitor " + strings.Join(cmd[:min(len(cmd), 2)], " ") + ": " + tc.want
			if cmd[0] != "snapshot" {
				want = "etcd-monitor " + cmd[0] + ": " + tc.want
			}
			if code != 2 || strings.TrimSpace(stderr) != want {
				t.Errorf("%s %s: exit %d, stderr %q; want 2 and %q", cmd[0], tc.arg, code, stderr, want)
			}
		}
	}
	// From the environment, the variable is named too.
	_, stderr, code := runCmd(t, []string{"ETCD_MONITOR_ETCD_QUOTA_BACKEND_BYTES=lots"}, "check")
	if want := `etcd-monitor check: --etcd.quota-backend-bytes (from $ETCD_MONITOR_ETCD_QUOTA_BACKEND_BYTES): "lots" is not a size (use e.g. 100MiB, 8GiB or a number of bytes)`; code != 2 || strings.TrimSpace(stderr) != want {
		t.Errorf("quota from the environment: exit %d, stderr %q; want 2 and %q", code, stderr, want)
	}
}

// The original etcd-monitor guide's benchmark form names its own flags in
// errors: its names are the benchmark command's hidden aliases. Before,
// --benchmark-type=scan was reported as --workload, --benchmark-ops as
// --total and --endpoints as --etcd.endpoints.
func TestGuideBenchmarkNamesFlagsAsTyped(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--run-benchmark", "--benchmark-type=scan"}, `etcd-monitor benchmark: --benchmark-type: `},
		{[]string{"--run-benchmark", "--benchmark-ops=-5"}, "etcd-monitor benchmark: --benchmark-ops: must not be negative, got -5"},
		{[]string{"--run-benchmark", "--benchmark-ops", "1.5"}, "etcd-monitor benchmark: --benchmark-ops: 1.5 is not an integer"},
		{[]string{"--run-benchmark", "--endpoints=127.0.0.1:99999"}, `etcd-monitor benchmark: --endpoints: endpoint "http://127.0.0.1:99999": port "99999" is not a port`},
		{[]string{"--run-benchmark", "--api-port=8080", "--benchmark-ops=9223372036854775808"}, "etcd-monitor benchmark: --benchmark-ops: 9223372036854775808 is out of range"},
		{[]string{"benchmark", "--total=1e20"}, "etcd-monitor benchmark: --total: 1e20 is out of range"},
		{[]string{"benchmark", "--clients=1.5"}, "etcd-monitor benchmark: --clients: 1.5 is not an integer"},
	} {
		_, stderr, code := runCmd(t, nil, tc.args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, tc.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and one line starting %q", tc.args, code, stderr, tc.want)
		}
	}
}

// TestParseErrorsNameTheCommand: a parse error names the command the
// line selected, and a first word that is no command is not blamed on
// serve (the default command): "etcd-monitor chekc" said "etcd-monitor
// serve: unexpected chekc".
func TestParseErrorsNameTheCommand(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"chekc"}, "etcd-monitor: unexpected chekc\n"},
		{[]string{"--web.listen-address=127.0.0.1:0", "chekc"}, "etcd-monitor: unexpected chekc\n"},
		{[]string{"serve", "extra"}, "etcd-monitor serve: unexpected extra\n"},
		{[]string{"check", "extra"}, "etcd-monitor check: unexpected extra\n"},
		{[]string{"--probe.interval=soon"}, "etcd-monitor serve: --probe.interval: time: invalid duration \"soon\"\n"},
	} {
		_, stderr, code := runCmd(t, nil, tc.args...)
		if code != 2 || stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 2, %q", tc.args, code, stderr, tc.want)
		}
	}
}
