package rules

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Config is what the generator needs to know about one Prometheus setup: how
// to find the monitor's and etcd's series, and every threshold, window and
// `for` duration. Every field has a default (DefaultConfig); a config file
// only names what it changes. rules/config.yml lists all of them with their
// defaults and reasons.
type Config struct {
	Selectors      Selectors          `yaml:"selectors"`
	ClusterLabel   string             `yaml:"cluster_label"`
	RunbookURL     string             `yaml:"runbook_url"`
	NodeExporter   NodeExporter       `yaml:"node_exporter"`
	PrometheusRule PrometheusRuleMeta `yaml:"prometheus_rule"`
	Windows        Windows            `yaml:"windows"`
	Thresholds     Thresholds         `yaml:"thresholds"`
	For            For                `yaml:"for"`
	KeepFiringFor  KeepFiringFor      `yaml:"keep_firing_for"`
	// DisabledAlerts drops alerts by name (both severities), for setups
	// that cannot act on one. The recording rules stay.
	DisabledAlerts []string `yaml:"disabled_alerts"`
}

// Selectors are PromQL label matchers without braces, e.g. `job="etcd"`.
type Selectors struct {
	Monitor  Selector `yaml:"monitor"`
	Etcd     Selector `yaml:"etcd"`
	Node     Selector `yaml:"node"`
	Snapshot Selector `yaml:"snapshot"`
}

// NodeExporter configures the optional host alerts (disk space, clock). They
// only select node_exporter series that carry the cluster label, so relabel
// the etcd hosts' node_exporter targets with it.
type NodeExporter struct {
	Enabled bool `yaml:"enabled"`
	// Filesystem picks the filesystem holding etcd's data directory.
	Filesystem Selector `yaml:"filesystem"`
}

// PrometheusRuleMeta is the metadata of the Kubernetes PrometheusRule object.
type PrometheusRuleMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

// Windows are range-vector lengths and offsets. They are not thresholds, but
// the fast profile shortens them.
type Windows struct {
	Rate                    Duration `yaml:"rate"`
	LeaderChanges           Duration `yaml:"leader_changes"`
	QuotaPredictionLookback Duration `yaml:"quota_prediction_lookback"`
	QuotaPredictionHorizon  Duration `yaml:"quota_prediction_horizon"`
	QuotaGrowthLookback     Duration `yaml:"quota_growth_lookback"`
	Compaction              Duration `yaml:"compaction"`
	BaselineWindow          Duration `yaml:"baseline_window"`
	BaselineOffset          Duration `yaml:"baseline_offset"`
}

// Thresholds holds every number an alert compares with. Ratios are 0..1.
type Thresholds struct {
	MonitorStaleAfter            Duration `yaml:"monitor_stale_after"`
	QuorumFailureTolerance       float64  `yaml:"quorum_failure_tolerance"`
	MinHealthyMembers            float64  `yaml:"min_healthy_members"`
	LeaderChangesWarning         float64  `yaml:"leader_changes_warning"`
	LeaderChangesCritical        float64  `yaml:"leader_changes_critical"`
	ProbeLatencyP99Warning       Duration `yaml:"probe_latency_p99_warning"`
	ProbeLatencyP99Critical      Duration `yaml:"probe_latency_p99_critical"`
	ProbeErrorRatio              float64  `yaml:"probe_error_ratio"`
	ProbeLatencyRegressionFactor float64  `yaml:"probe_latency_regression_factor"`
	ProbeLatencyRegressionFloor  Duration `yaml:"probe_latency_regression_floor"`
	DBQuotaUsageWarning          float64  `yaml:"db_quota_usage_warning"`
	DBQuotaUsageCritical         float64  `yaml:"db_quota_usage_critical"`
	DBSizeWarning                Bytes    `yaml:"db_size_warning"`
	DBSizeCritical               Bytes    `yaml:"db_size_critical"`
	DBQuotaPredictionMinUsage    float64  `yaml:"db_quota_prediction_min_usage"`
	DBQuotaFillWarning           Duration `yaml:"db_quota_fill_warning"`
	DBQuotaFillCritical          Duration `yaml:"db_quota_fill_critical"`
	FragmentationFreeBytes       Bytes    `yaml:"fragmentation_free_bytes"`
	FragmentationRatio           float64  `yaml:"fragmentation_ratio"`
	CompactionPendingRevisions   float64  `yaml:"compaction_pending_revisions"`
	RaftIndexLag                 float64  `yaml:"raft_index_lag"`
	RaftApplyLagWarning          float64  `yaml:"raft_apply_lag_warning"`
	RaftApplyLagCritical         float64  `yaml:"raft_apply_lag_critical"`
	TLSExpiryWarning             Duration `yaml:"tls_expiry_warning"`
	TLSExpiryCritical            Duration `yaml:"tls_expiry_critical"`
	CAExpiryWarning              Duration `yaml:"ca_expiry_warning"`
	CAExpiryCritical             Duration `yaml:"ca_expiry_critical"`
	WALFsyncP99                  Duration `yaml:"wal_fsync_p99"`
	BackendCommitP99             Duration `yaml:"backend_commit_p99"`
	PeerRTTBucket                float64  `yaml:"peer_rtt_bucket"`
	PeerRTTSlowRatio             float64  `yaml:"peer_rtt_slow_ratio"`
	PeerSentFailuresRate         float64  `yaml:"peer_sent_failures_rate"`
	ProposalsPending             float64  `yaml:"proposals_pending"`
	ProposalsFailedRate          float64  `yaml:"proposals_failed_rate"`
	GRPCFailureRatio             float64  `yaml:"grpc_failure_ratio"`
	GRPCMinRequestRate           float64  `yaml:"grpc_min_request_rate"`
	DiskFreeWarning              float64  `yaml:"disk_free_warning"`
	DiskFreeCritical             float64  `yaml:"disk_free_critical"`
	ClockOffset                  Duration `yaml:"clock_offset"`
	SnapshotMaxAge               Duration `yaml:"snapshot_max_age"`
	FDUsageWarning               float64  `yaml:"fd_usage_warning"`
	FDUsageCritical              float64  `yaml:"fd_usage_critical"`
}

// For holds each alert's `for` duration, keyed like the alert (snake case,
// without the Etcd prefix). Both severities of an alert share it.
type For struct {
	MonitorDown             Duration `yaml:"monitor_down"`
	MonitorStale            Duration `yaml:"monitor_stale"`
	MemberUnreachable       Duration `yaml:"member_unreachable"`
	MemberPartitioned       Duration `yaml:"member_partitioned"`
	QuorumAtRisk            Duration `yaml:"quorum_at_risk"`
	QuorumLost              Duration `yaml:"quorum_lost"`
	QuorumLostMembersDown   Duration `yaml:"quorum_lost_members_down"`
	NoLeader                Duration `yaml:"no_leader"`
	SplitBrain              Duration `yaml:"split_brain"`
	FrequentLeaderChanges   Duration `yaml:"frequent_leader_changes"`
	ProbeLatencyHigh        Duration `yaml:"probe_latency_high"`
	ProbeErrorsHigh         Duration `yaml:"probe_errors_high"`
	ProbeLatencyRegressed   Duration `yaml:"probe_latency_regressed"`
	DatabaseQuotaUsageHigh  Duration `yaml:"database_quota_usage_high"`
	DatabaseSizeHigh        Duration `yaml:"database_size_high"`
	DatabaseQuotaExhaustion Duration `yaml:"database_quota_exhaustion_predicted"`
	DatabaseQuotaFillingUp  Duration `yaml:"database_quota_filling_up"`
	DatabaseFragmented      Duration `yaml:"database_fragmented"`
	NoCompaction            Duration `yaml:"no_compaction"`
	NoSpaceAlarm            Duration `yaml:"nospace_alarm"`
	CorruptAlarm            Duration `yaml:"corrupt_alarm"`
	RaftIndexLag            Duration `yaml:"raft_index_lag"`
	RaftApplyLag            Duration `yaml:"raft_apply_lag"`
	KVHashMismatch          Duration `yaml:"kv_hash_mismatch"`
	CertificateExpiring     Duration `yaml:"certificate_expiring"`
	VersionSkew             Duration `yaml:"version_skew"`
	SlowWALFsync            Duration `yaml:"slow_wal_fsync"`
	SlowBackendCommit       Duration `yaml:"slow_backend_commit"`
	PeerRTTHigh             Duration `yaml:"peer_rtt_high"`
	ProposalsFailing        Duration `yaml:"proposals_failing"`
	GRPCRequestsFailing     Duration `yaml:"grpc_requests_failing"`
	DiskSpaceLow            Duration `yaml:"disk_space_low"`
	ClockOffset             Duration `yaml:"clock_offset"`
	SnapshotTooOld          Duration `yaml:"snapshot_too_old"`
	SnapshotFailed          Duration `yaml:"snapshot_failed"`
	MetricsNotScraped       Duration `yaml:"metrics_not_scraped"`
	PeerSendFailures        Duration `yaml:"peer_send_failures"`
	ProposalsPending        Duration `yaml:"proposals_pending"`
	FileDescriptorsHigh     Duration `yaml:"file_descriptors_high"`
	CACertificateExpiring   Duration `yaml:"ca_certificate_expiring"`
}

// KeepFiringFor is Prometheus' keep_firing_for per severity: how long a
// firing alert stays firing after its expression stopped returning it. One
// failed scrape makes every series of the target stale, so without it each
// firing alert over them resolves, notifies, and must wait its whole `for`
// again. 0 leaves the field out of the rules.
type KeepFiringFor struct {
	Critical Duration `yaml:"critical"`
	Warning  Duration `yaml:"warning"`
	Info     Duration `yaml:"info"`
}

// DefaultConfigYAML is rules/config.yml: every field with its default and
// the reason for it. A test keeps it equal to DefaultConfig.
//
//go:embed config.yml
var DefaultConfigYAML string

// DefaultConfig returns the original etcd-monitor guide's thresholds and the windows the committed
// rule files are rendered with.
func DefaultConfig() Config {
	return Config{
		Selectors: Selectors{
			Monitor: `job="etcd-monitor"`,
			Etcd:    `job="etcd"`,
			Node:    `job="node"`,
			// The Pushgateway keeps the pusher's job label (honor_labels), and
			// the metric name alone is specific enough.
			Snapshot: `job!=""`,
		},
		ClusterLabel: "etcd_cluster",
		RunbookURL:   "https://github.com/etcd-monitor/etcd-monitor/blob/main/docs/runbooks.md",
		NodeExporter: NodeExporter{
			Enabled: true,
			// etcd's own mount when it has one, else the root filesystem
			// where /var/lib/etcd usually lives.
			Filesystem: `mountpoint=~"/|/var/lib/etcd.*",fstype!~"tmpfs|ramfs|overlay|squashfs"`,
		},
		PrometheusRule: PrometheusRuleMeta{
			Name: "etcd-monitor",
			Labels: map[string]string{
				"app.kubernetes.io/name":    "etcd-monitor",
				"app.kubernetes.io/part-of": "etcd-monitor",
				"role":                      "alert-rules",
			},
		},
		Windows: Windows{
			Rate:                    dur("5m"),
			LeaderChanges:           dur("1h"),
			QuotaPredictionLookback: dur("6h"),
			QuotaPredictionHorizon:  dur("4h"),
			QuotaGrowthLookback:     dur("30m"),
			Compaction:              dur("12h"),
			BaselineWindow:          dur("1h"),
			BaselineOffset:          dur("1w"),
		},
		Thresholds: Thresholds{
			MonitorStaleAfter:            dur("5m"),
			QuorumFailureTolerance:       0,
			MinHealthyMembers:            2,
			LeaderChangesWarning:         2,
			LeaderChangesCritical:        3,
			ProbeLatencyP99Warning:       dur("50ms"),
			ProbeLatencyP99Critical:      dur("100ms"),
			ProbeErrorRatio:              0.05,
			ProbeLatencyRegressionFactor: 2,
			ProbeLatencyRegressionFloor:  dur("10ms"),
			DBQuotaUsageWarning:          0.75,
			DBQuotaUsageCritical:         0.90,
			DBSizeWarning:                6 << 30,
			DBSizeCritical:               8 << 30,
			DBQuotaPredictionMinUsage:    0.5,
			DBQuotaFillWarning:           dur("2h"),
			DBQuotaFillCritical:          dur("30m"),
			FragmentationFreeBytes:       500 << 20,
			FragmentationRatio:           0.5,
			CompactionPendingRevisions:   100000,
			RaftIndexLag:                 1000,
			RaftApplyLagWarning:          1000,
			RaftApplyLagCritical:         4000,
			TLSExpiryWarning:             dur("14d"),
			TLSExpiryCritical:            dur("3d"),
			CAExpiryWarning:              dur("90d"),
			CAExpiryCritical:             dur("30d"),
			WALFsyncP99:                  dur("10ms"),
			BackendCommitP99:             dur("25ms"),
			PeerRTTBucket:                0.2048,
			PeerRTTSlowRatio:             0.01,
			PeerSentFailuresRate:         0,
			ProposalsPending:             10,
			ProposalsFailedRate:          0,
			GRPCFailureRatio:             0.05,
			GRPCMinRequestRate:           1,
			DiskFreeWarning:              0.10,
			DiskFreeCritical:             0.05,
			ClockOffset:                  dur("100ms"),
			SnapshotMaxAge:               dur("24h"),
			FDUsageWarning:               0.8,
			FDUsageCritical:              0.9,
		},
		For: For{
			MonitorDown:             dur("5m"),
			MonitorStale:            dur("1m"),
			MemberUnreachable:       dur("5m"),
			MemberPartitioned:       dur("2m"),
			QuorumAtRisk:            dur("15m"),
			QuorumLost:              dur("30s"),
			QuorumLostMembersDown:   0,
			NoLeader:                dur("1m"),
			SplitBrain:              dur("1m"),
			FrequentLeaderChanges:   0,
			ProbeLatencyHigh:        dur("10m"),
			ProbeErrorsHigh:         dur("10m"),
			ProbeLatencyRegressed:   dur("30m"),
			DatabaseQuotaUsageHigh:  dur("5m"),
			DatabaseSizeHigh:        dur("5m"),
			DatabaseQuotaExhaustion: dur("30m"),
			DatabaseQuotaFillingUp:  dur("5m"),
			DatabaseFragmented:      dur("30m"),
			NoCompaction:            dur("15m"),
			NoSpaceAlarm:            0,
			CorruptAlarm:            0,
			RaftIndexLag:            dur("5m"),
			RaftApplyLag:            dur("5m"),
			KVHashMismatch:          dur("5m"),
			CertificateExpiring:     dur("10m"),
			VersionSkew:             dur("1h"),
			SlowWALFsync:            dur("10m"),
			SlowBackendCommit:       dur("10m"),
			PeerRTTHigh:             dur("10m"),
			ProposalsFailing:        dur("15m"),
			GRPCRequestsFailing:     dur("10m"),
			DiskSpaceLow:            dur("10m"),
			ClockOffset:             dur("10m"),
			SnapshotTooOld:          dur("15m"),
			SnapshotFailed:          0,
			MetricsNotScraped:       dur("10m"),
			PeerSendFailures:        dur("15m"),
			ProposalsPending:        dur("10m"),
			FileDescriptorsHigh:     dur("10m"),
			CACertificateExpiring:   dur("1h"),
		},
		// Several failed scrapes at the deployed 15s interval (two at
		// Prometheus' default 1m), or a restart of the monitor. Critical and
		// warning are equal so that a critical alert never outlives the
		// warning it inhibits (which would mute the warning's resolution).
		KeepFiringFor: KeepFiringFor{
			Critical: dur("2m"),
			Warning:  dur("2m"),
			Info:     dur("2m"),
		},
	}
}

func dur(s string) Duration {
	d, err := model.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return Duration(d)
}

// LoadConfig reads a generator config on top of DefaultConfig. Unknown fields
// are refused, and errors name the file, the line and the field.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("rules config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("rules config %s%s", path, err)
	}
	return cfg, nil
}

// ParseConfig is LoadConfig without the file. Its errors start with
// ":LINE: " when the line is known, else ": ", so LoadConfig can prefix the
// file name.
func ParseConfig(data []byte) (Config, error) {
	cfg := DefaultConfig()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Config{}, locate(nil, err.Error())
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && err.Error() != "EOF" {
		return Config{}, locate(&root, err.Error())
	}
	if err := cfg.Validate(); err != nil {
		if fe, ok := err.(*fieldError); ok {
			if line := lineOfPath(&root, fe.path); line > 0 {
				return Config{}, fmt.Errorf(":%d: %s", line, fe)
			}
		}
		return Config{}, fmt.Errorf(": %w", err)
	}
	return cfg, nil
}

var (
	yamlLineRe    = regexp.MustCompile(`line (\d+): (.*)`)
	unknownFieldR = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
)

// locate turns a yaml.v3 error (possibly several lines) into one line with the
// field's dotted path.
func locate(root *yaml.Node, msg string) error {
	m := yamlLineRe.FindStringSubmatch(msg)
	if m == nil {
		return fmt.Errorf(": %s", strings.ReplaceAll(strings.TrimPrefix(msg, "yaml: "), "\n", " "))
	}
	line, _ := strconv.Atoi(m[1])
	detail := m[2]
	path := pathAtLine(root, line)
	if u := unknownFieldR.FindStringSubmatch(detail); u != nil {
		known := knownFields(u[2])
		if path == "" {
			path = u[1]
		}
		return fmt.Errorf(":%d: %s: unknown field (known: %s)", line, path, strings.Join(known, ", "))
	}
	if path != "" {
		return fmt.Errorf(":%d: %s: %s", line, path, detail)
	}
	return fmt.Errorf(":%d: %s", line, detail)
}

// knownFields lists the yaml names of a config type named by yaml.v3's
// "rules.Thresholds" style.
func knownFields(typeName string) []string {
	types := []any{Config{}, Selectors{}, NodeExporter{}, PrometheusRuleMeta{}, Windows{}, Thresholds{}, For{}, KeepFiringFor{}}
	for _, v := range types {
		t := reflect.TypeOf(v)
		if t.String() != typeName {
			continue
		}
		var names []string
		for i := range t.NumField() {
			names = append(names, strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0])
		}
		sort.Strings(names)
		return names
	}
	return nil
}

// pathAtLine finds the dotted key path of the mapping key or value on line.
func pathAtLine(n *yaml.Node, line int) string {
	if n == nil {
		return ""
	}
	var walk func(n *yaml.Node, prefix string) string
	walk = func(n *yaml.Node, prefix string) string {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for i, c := range n.Content {
				p := prefix
				if n.Kind == yaml.SequenceNode {
					p = fmt.Sprintf("%s[%d]", prefix, i)
				}
				if c.Line == line && c.Kind == yaml.ScalarNode {
					return p
				}
				if r := walk(c, p); r != "" {
					return r
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if prefix != "" {
					p = prefix + "." + k.Value
				}
				if k.Line == line && (v.Kind == yaml.ScalarNode || v.Line != line || len(v.Content) == 0) {
					return p
				}
				if r := walk(v, p); r != "" {
					return r
				}
			}
		}
		return ""
	}
	return walk(n, "")
}

// lineOfPath is the inverse of pathAtLine for validation errors.
func lineOfPath(n *yaml.Node, path string) int {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	parts := strings.Split(path, ".")
	for pi, part := range parts {
		key, index, hasIndex := strings.Cut(strings.TrimSuffix(part, "]"), "[")
		if n.Kind != yaml.MappingNode {
			return 0
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				found = true
				line := n.Content[i].Line
				n = n.Content[i+1]
				if hasIndex {
					j, err := strconv.Atoi(index)
					if err != nil || n.Kind != yaml.SequenceNode || j >= len(n.Content) {
						return line
					}
					n = n.Content[j]
					line = n.Line
				}
				if pi == len(parts)-1 {
					return line
				}
				break
			}
		}
		if !found {
			return 0
		}
	}
	return 0
}

// fieldError is a validation error about one config field.
type fieldError struct {
	path string
	msg  string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

func fieldErrf(path, format string, args ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// Validate checks what would otherwise render rules that never fire or fire
// all the time. It returns the first problem found.
func (c Config) Validate() error {
	for _, s := range []struct {
		path string
		sel  Selector
	}{
		{"selectors.monitor", c.Selectors.Monitor},
		{"selectors.etcd", c.Selectors.Etcd},
		{"selectors.node", c.Selectors.Node},
		{"selectors.snapshot", c.Selectors.Snapshot},
		{"node_exporter.filesystem", c.NodeExporter.Filesystem},
	} {
		if err := s.sel.check(); err != nil {
			return fieldErrf(s.path, "%v", err)
		}
	}
	if !model.LegacyValidation.IsValidLabelName(c.ClusterLabel) {
		return fieldErrf("cluster_label", "%q is not a valid Prometheus label name", c.ClusterLabel)
	}
	if u, err := url.Parse(c.RunbookURL); err != nil || u.Scheme == "" || u.Host == "" || u.Fragment != "" {
		return fieldErrf("runbook_url", "%q must be an absolute URL without a #fragment (the alert name is appended as the anchor)", c.RunbookURL)
	}
	if c.PrometheusRule.Name == "" {
		return fieldErrf("prometheus_rule.name", "must not be empty")
	}

	if err := positiveDurations("windows", c.Windows, false); err != nil {
		return err
	}
	if err := positiveDurations("for", c.For, true); err != nil {
		return err
	}
	if err := positiveDurations("keep_firing_for", c.KeepFiringFor, true); err != nil {
		return err
	}

	t := c.Thresholds
	if err := positiveDurations("thresholds", t, false); err != nil {
		return err
	}
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"probe_error_ratio", t.ProbeErrorRatio},
		{"db_quota_usage_warning", t.DBQuotaUsageWarning},
		{"db_quota_usage_critical", t.DBQuotaUsageCritical},
		{"db_quota_prediction_min_usage", t.DBQuotaPredictionMinUsage},
		{"fragmentation_ratio", t.FragmentationRatio},
		{"grpc_failure_ratio", t.GRPCFailureRatio},
		{"disk_free_warning", t.DiskFreeWarning},
		{"disk_free_critical", t.DiskFreeCritical},
		{"peer_rtt_slow_ratio", t.PeerRTTSlowRatio},
		{"fd_usage_warning", t.FDUsageWarning},
		{"fd_usage_critical", t.FDUsageCritical},
	} {
		if !(r.v > 0 && r.v < 1) {
			return fieldErrf("thresholds."+r.name, "%v is not a ratio between 0 and 1 (exclusive)", r.v)
		}
	}
	for _, r := range []struct {
		name string
		v    float64
	}{
		{"quorum_failure_tolerance", t.QuorumFailureTolerance},
		{"min_healthy_members", t.MinHealthyMembers},
		{"leader_changes_warning", t.LeaderChangesWarning},
		{"leader_changes_critical", t.LeaderChangesCritical},
		{"compaction_pending_revisions", t.CompactionPendingRevisions},
		{"raft_index_lag", t.RaftIndexLag},
		{"raft_apply_lag_warning", t.RaftApplyLagWarning},
		{"raft_apply_lag_critical", t.RaftApplyLagCritical},
		{"proposals_failed_rate", t.ProposalsFailedRate},
		{"grpc_min_request_rate", t.GRPCMinRequestRate},
		{"peer_sent_failures_rate", t.PeerSentFailuresRate},
		{"proposals_pending", t.ProposalsPending},
		{"db_size_warning", float64(t.DBSizeWarning)},
		{"db_size_critical", float64(t.DBSizeCritical)},
		{"fragmentation_free_bytes", float64(t.FragmentationFreeBytes)},
	} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			return fieldErrf("thresholds."+r.name, "%v must be a finite number, 0 or more", r.v)
		}
	}
	if t.ProbeLatencyRegressionFactor <= 1 {
		return fieldErrf("thresholds.probe_latency_regression_factor", "%v must be above 1 (2 means twice as slow as the baseline)", t.ProbeLatencyRegressionFactor)
	}
	// Higher is worse for these: warning must come first.
	for _, p := range []struct {
		name      string
		warn, crt float64
		show      func(float64) string
	}{
		{"probe_latency_p99", t.ProbeLatencyP99Warning.Seconds(), t.ProbeLatencyP99Critical.Seconds(), showSeconds},
		{"db_quota_usage", t.DBQuotaUsageWarning, t.DBQuotaUsageCritical, showNumber},
		{"db_size", float64(t.DBSizeWarning), float64(t.DBSizeCritical), showBytes},
		{"leader_changes", t.LeaderChangesWarning, t.LeaderChangesCritical, showNumber},
		{"raft_apply_lag", t.RaftApplyLagWarning, t.RaftApplyLagCritical, showNumber},
		{"fd_usage", t.FDUsageWarning, t.FDUsageCritical, showNumber},
	} {
		if p.warn >= p.crt {
			return fieldErrf("thresholds."+p.name+"_warning", "warning (%s) must be below %s_critical (%s)", p.show(p.warn), p.name, p.show(p.crt))
		}
	}
	// Lower is worse for these: the warning comes at the larger value.
	for _, p := range []struct {
		name      string
		warn, crt float64
		show      func(float64) string
	}{
		{"tls_expiry", t.TLSExpiryWarning.Seconds(), t.TLSExpiryCritical.Seconds(), showSeconds},
		{"ca_expiry", t.CAExpiryWarning.Seconds(), t.CAExpiryCritical.Seconds(), showSeconds},
		{"db_quota_fill", t.DBQuotaFillWarning.Seconds(), t.DBQuotaFillCritical.Seconds(), showSeconds},
		{"disk_free", t.DiskFreeWarning, t.DiskFreeCritical, showNumber},
	} {
		if p.warn <= p.crt {
			return fieldErrf("thresholds."+p.name+"_warning", "warning (%s) must be above %s_critical (%s): lower is worse here", p.show(p.warn), p.name, p.show(p.crt))
		}
	}
	if _, ok := peerRTTBucketLabel(t.PeerRTTBucket); !ok {
		return fieldErrf("thresholds.peer_rtt_bucket", "%v is not an upper bound of etcd_network_peer_round_trip_time_seconds (one of %s)", t.PeerRTTBucket, strings.Join(peerRTTBuckets(), ", "))
	}
	known := map[string]bool{}
	for _, a := range alertDefs() {
		known[a.name] = true
	}
	for i, name := range c.DisabledAlerts {
		if !known[name] {
			return fieldErrf(fmt.Sprintf("disabled_alerts[%d]", i), "no alert is named %q", name)
		}
	}
	return nil
}

// peerRTTBuckets are the `le` labels of etcd's peer round-trip histogram:
// prometheus.ExponentialBuckets(0.0001, 2, 16) in etcd's rafthttp. Doubling
// is exact in binary, so each is the shortest decimal form client_golang
// writes.
func peerRTTBuckets() []string {
	out := make([]string, 16)
	b := 0.0001
	for i := range out {
		out[i] = strconv.FormatFloat(b, 'f', -1, 64)
		b *= 2
	}
	return out
}

// peerRTTBucketLabel returns the `le` label of the bucket whose upper bound
// is v: EtcdPeerRTTHigh counts the round trips above it exactly, which only
// works at a boundary (between two, only an interpolation could say).
func peerRTTBucketLabel(v float64) (string, bool) {
	for _, le := range peerRTTBuckets() {
		if b, _ := strconv.ParseFloat(le, 64); math.Abs(b-v) <= 1e-9*b {
			return le, true
		}
	}
	return "", false
}

// positiveDurations checks every Duration field of a struct is above zero
// (or, with allowZero, not negative).
func positiveDurations(section string, v any, allowZero bool) error {
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		d, ok := rv.Field(i).Interface().(Duration)
		if !ok {
			continue
		}
		name := section + "." + strings.Split(rv.Type().Field(i).Tag.Get("yaml"), ",")[0]
		if d < 0 && allowZero {
			return fieldErrf(name, "%s must not be negative", d)
		}
		if d <= 0 && !allowZero {
			return fieldErrf(name, "%s must be above 0", d)
		}
	}
	return nil
}

func showSeconds(s float64) string { return Duration(s * float64(time.Second)).String() }
func showNumber(f float64) string  { return strconv.FormatFloat(f, 'g', -1, 64) }
func showBytes(f float64) string   { return Bytes(f).String() }

// Duration is a Prometheus duration ("50ms", "5m", "14d", "1w") in YAML.
type Duration model.Duration

// UnmarshalYAML reports the line of a bad duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration like 50ms, 5m or 14d", n.Line)
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	if v, err := model.ParseDuration(n.Value); err == nil {
		*d = Duration(v)
		return nil
	}
	// Go's form also takes fractions (0.5s), which Prometheus' does not.
	if v, err := time.ParseDuration(n.Value); err == nil {
		*d = Duration(v)
		return nil
	}
	return fmt.Errorf("line %d: %q is not a duration (use e.g. 50ms, 5m, 14d)", n.Line, n.Value)
}

func (d Duration) String() string   { return model.Duration(d).String() }
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// Bytes is a size in YAML: a plain number of bytes or one with a unit
// (500MiB, 6GiB; KB/MB/GB are powers of 1000).
type Bytes int64

var bytesRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]i?B|B)?\s*$`)

var byteUnits = map[string]float64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
}

// UnmarshalYAML reports the line of a bad size.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	m := bytesRe.FindStringSubmatch(n.Value)
	if n.Kind != yaml.ScalarNode || m == nil {
		return fmt.Errorf("line %d: %q is not a size (use e.g. 500MiB, 6GiB or a number of bytes)", n.Line, n.Value)
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	*b = Bytes(f * byteUnits[m[2]])
	return nil
}

func (b Bytes) String() string {
	for _, u := range []string{"TiB", "GiB", "MiB", "KiB"} {
		if b != 0 && float64(b) >= byteUnits[u] && math.Mod(float64(b), byteUnits[u]) == 0 {
			return fmt.Sprintf("%d%s", int64(float64(b)/byteUnits[u]), u)
		}
	}
	return fmt.Sprintf("%dB", int64(b))
}

// Selector is a comma-separated list of PromQL label matchers.
type Selector string

var matcherRe = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)`)

// check parses the matchers well enough to refuse what would make every
// rendered expression invalid: an empty selector, braces, a bad matcher.
func (s Selector) check() error {
	rest := strings.TrimSpace(string(s))
	if rest == "" {
		return fmt.Errorf("must not be empty (write matchers such as job=\"etcd\")")
	}
	if strings.ContainsAny(rest, "{}") {
		return fmt.Errorf("%q: write the matchers without braces", string(s))
	}
	for rest != "" {
		m := matcherRe.FindStringSubmatchIndex(rest)
		if m == nil {
			return fmt.Errorf("%q: not a list of label matchers like job=\"etcd\",env=~\"prod.*\"", string(s))
		}
		if op := rest[m[4]:m[5]]; op == "=~" || op == "!~" {
			if _, err := regexp.Compile(unquote(rest[m[6]:m[7]])); err != nil {
				return fmt.Errorf("%q: bad regular expression: %v", string(s), err)
			}
		}
		rest = strings.TrimSpace(rest[m[1]:])
		if m[8] != m[9] && rest == "" { // trailing comma
			return fmt.Errorf("%q: trailing comma", string(s))
		}
	}
	return nil
}

func unquote(s string) string {
	u, err := strconv.Unquote(`"` + s + `"`)
	if err != nil {
		return s
	}
	return u
}
