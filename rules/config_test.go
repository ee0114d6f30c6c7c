package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadConfigOverridesOnlyWhatItNames(t *testing.T) {
	path := writeConfig(t, `
selectors:
  monitor: 'job="mon"'
thresholds:
  probe_latency_p99_warning: 40ms
  db_size_critical: 10GiB
for:
  member_unreachable: 10m
`)
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Selectors.Monitor = `job="mon"`
	want.Thresholds.ProbeLatencyP99Warning = dur("40ms")
	want.Thresholds.DBSizeCritical = 10 << 30
	want.For.MemberUnreachable = dur("10m")
	if cfg.Selectors != want.Selectors || cfg.Thresholds != want.Thresholds || cfg.For != want.For || cfg.Windows != want.Windows {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       []string // substrings of the one-line error
	}{
		{"unknown threshold", "thresholds:\n  probe_latency_p99_warnin: 40ms\n",
			[]string{":2: thresholds.probe_latency_p99_warnin: unknown field", "probe_latency_p99_warning"}},
		{"unknown section", "treshold:\n  x: 1\n", []string{":1: treshold: unknown field"}},
		{"unknown for", "for:\n  member_down: 1m\n", []string{":2: for.member_down: unknown field", "member_unreachable"}},
		{"warning above critical", "thresholds:\n  probe_latency_p99_warning: 200ms\n",
			[]string{":2: thresholds.probe_latency_p99_warning: warning (200ms) must be below probe_latency_p99_critical (100ms)"}},
		{"warning above critical, sizes", "thresholds:\n  db_size_warning: 9GiB\n",
			[]string{"thresholds.db_size_warning: warning (9GiB) must be below db_size_critical (8GiB)"}},
		{"lower is worse", "thresholds:\n  tls_expiry_warning: 2d\n",
			[]string{":2: thresholds.tls_expiry_warning: warning (2d) must be above tls_expiry_critical (3d)"}},
		{"empty selector", "selectors:\n  etcd: ''\n", []string{":2: selectors.etcd: must not be empty"}},
		{"selector with braces", "selectors:\n  etcd: '{job=\"etcd\"}'\n", []string{"selectors.etcd", "without braces"}},
		{"bad matcher", "selectors:\n  monitor: 'job=etcd'\n", []string{"selectors.monitor", "not a list of label matchers"}},
		{"bad regexp", "selectors:\n  monitor: 'job=~\"(\"'\n", []string{"selectors.monitor", "bad regular expression"}},
		{"bad duration", "thresholds:\n  wal_fsync_p99: fast\n", []string{":2: thresholds.wal_fsync_p99:", `"fast" is not a duration`}},
		{"bad size", "thresholds:\n  db_size_warning: lots\n", []string{":2: thresholds.db_size_warning:", `"lots" is not a size`}},
		{"ratio out of range", "thresholds:\n  probe_error_ratio: 5\n", []string{":2: thresholds.probe_error_ratio: 5 is not a ratio"}},
		{"peer RTT between buckets", "thresholds:\n  peer_rtt_bucket: 0.15\n",
			[]string{":2: thresholds.peer_rtt_bucket: 0.15 is not an upper bound", "0.1024, 0.2048"}},
		{"CA warning after critical", "thresholds:\n  ca_expiry_warning: 20d\n",
			[]string{":2: thresholds.ca_expiry_warning: warning (20d) must be above ca_expiry_critical (30d)"}},
		{"quota fill warning after critical", "thresholds:\n  db_quota_fill_warning: 10m\n",
			[]string{":2: thresholds.db_quota_fill_warning: warning (10m) must be above db_quota_fill_critical (30m)"}},
		{"fd ratio out of range", "thresholds:\n  fd_usage_critical: 90\n", []string{":2: thresholds.fd_usage_critical: 90 is not a ratio"}},
		{"bad cluster label", "cluster_label: etcd-cluster\n", []string{":1: cluster_label:", "not a valid Prometheus label name"}},
		{"runbook with fragment", "runbook_url: https://x.example/r#top\n", []string{":1: runbook_url:"}},
		{"zero window", "windows:\n  rate: 0s\n", []string{":2: windows.rate: 0s must be above 0"}},
		{"bad keep_firing_for", "keep_firing_for:\n  critical: soon\n", []string{":2: keep_firing_for.critical:", `"soon" is not a duration`}},
		{"negative keep_firing_for", "keep_firing_for:\n  info: 0s\n  warning: -1m\n", []string{":3: keep_firing_for.warning: -1m must not be negative"}},
		{"negative for", "for:\n  no_leader: -30s\n", []string{":2: for.no_leader: -30s must not be negative"}},
		{"keep_firing_for of an unknown severity", "keep_firing_for:\n  page: 5m\n",
			[]string{":2: keep_firing_for.page: unknown field", "critical, info, warning"}},
		{"unknown disabled alert", "disabled_alerts: [EtcdNope]\n", []string{":1: disabled_alerts[0]: no alert is named \"EtcdNope\""}},
		{"not yaml", "thresholds: [\n", []string{":2: syntax error: did not find expected node content"}},
		{"second document", "for:\n  no_leader: 2m\n---\nfor:\n  no_leader: 0s\n", []string{":3: syntax error: a second YAML document"}},
		{"not a mapping", "- thresholds\n", []string{":1: top level: want a mapping, got a list"}},
		{"number expected", "thresholds:\n  raft_index_lag: a-thousand-entries\n",
			[]string{":2: thresholds.raft_index_lag: want a number, got \"a-thousand-entries\""}},
		{"list where a number goes", "thresholds:\n  raft_index_lag: [1000]\n", []string{":2: thresholds.raft_index_lag: want a number, got a list"}},
		{"bad item of a list", "disabled_alerts: [EtcdClockOffset, [EtcdDiskSpaceLow]]\n", []string{":1: disabled_alerts[1]: want a string, got a list"}},
		{"boolean", "node_exporter:\n  enabled: maybe\n", []string{":2: node_exporter.enabled: want true or false, got \"maybe\""}},
		{"duration that is a mapping", "for:\n  no_leader: {minutes: 1}\n", []string{":2: for.no_leader: want a duration like 50ms, 5m or 14d, got a mapping"}},
		{"bad duration in a flow mapping", "for: {no_leader: 1m, split_brain: soon}\n", []string{":1: for.split_brain:", `"soon" is not a duration`}},
		{"fraction of a byte", "thresholds:\n  fragmentation_free_bytes: 2.5B\n", []string{":2: thresholds.fragmentation_free_bytes:", "a fraction of a byte"}},
		{"duplicate key", "windows:\n  rate: 1m\n  rate: 2m\n", []string{":3: windows.rate: mapping key \"rate\" already defined at line 2"}},
		{"critical below the default warning", "thresholds:\n  leader_changes_critical: 1\n",
			[]string{":2: thresholds.leader_changes_warning: warning (2) must be below leader_changes_critical (1)"}},
		{"unknown field in a flow mapping", "thresholds: {raft_index_lag: 10, raft_aply_lag_warning: 20}\n",
			[]string{":1: thresholds.raft_aply_lag_warning: unknown field, did you mean raft_apply_lag_warning?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeConfig(t, tc.yaml)
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !strings.HasPrefix(msg, "rules config "+path) {
				t.Errorf("error does not name the file: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestLoadConfigRefusesHugeFiles(t *testing.T) {
	path := writeConfig(t, "# "+strings.Repeat("x", maxConfigSize)+"\n")
	_, err := LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), "larger than 1 MiB, not a rules config file") {
		t.Fatalf("err = %v", err)
	}
}

func TestEmptyConfigIsTheDefault(t *testing.T) {
	for _, s := range []string{"", "# nothing\n", "---\n"} {
		cfg, err := ParseConfig([]byte(s))
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if cfg.Thresholds != DefaultConfig().Thresholds || cfg.For != DefaultConfig().For {
			t.Errorf("%q: not the default config", s)
		}
	}
}

func TestKeepFiringForConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte("keep_firing_for:\n  critical: 5m\n  info: 0s\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := KeepFiringFor{Critical: dur("5m"), Warning: DefaultConfig().KeepFiringFor.Warning, Info: 0}
	if cfg.KeepFiringFor != want {
		t.Errorf("keep_firing_for = %+v, want %+v", cfg.KeepFiringFor, want)
	}
}

func TestBytesAndDurations(t *testing.T) {
	cfg, err := ParseConfig([]byte("thresholds:\n  fragmentation_free_bytes: 200MB\n  db_size_warning: 1073741824\n  clock_offset: 0.5s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Thresholds.FragmentationFreeBytes != 200e6 || cfg.Thresholds.DBSizeWarning != 1<<30 {
		t.Errorf("sizes: %d %d", cfg.Thresholds.FragmentationFreeBytes, cfg.Thresholds.DBSizeWarning)
	}
	if cfg.Thresholds.ClockOffset.Seconds() != 0.5 {
		t.Errorf("clock_offset = %v", cfg.Thresholds.ClockOffset)
	}
	for b, want := range map[Bytes]string{6 << 30: "6GiB", 500 << 20: "500MiB", 200e6: "200000000B", 0: "0B"} {
		if got := b.String(); got != want {
			t.Errorf("%d prints as %s, want %s", b, got, want)
		}
	}
}

func writeConfig(t *testing.T, s string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "rules-config.yml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
