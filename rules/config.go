package rules

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/bytesize"
	"github.com/etcd-monitor/etcd-monitor/internal/yamlerr"
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
	MonitorRoundsBehindRatio     float64  `yaml:"monitor_rounds_behind_ratio"`
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
	MonitorConfigReload     Duration `yaml:"monitor_config_reload_failed"`
	MonitorShardsIncomplete Duration `yaml:"monitor_shards_incomplete"`
	MonitorAccessDenied     Duration `yaml:"monitor_access_denied"`
	MonitorFallingBehind    Duration `yaml:"monitor_falling_behind"`
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
			MonitorRoundsBehindRatio:     0.01,
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
			MonitorConfigReload:     dur("10m"),
			MonitorShardsIncomplete: dur("5m"),
			MonitorAccessDenied:     dur("10m"),
			MonitorFallingBehind:    dur("10m"),
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

// maxConfigSize bounds what LoadConfig reads: the config with every field
// set and commented is 10 KiB, so a larger file is something else (a log, a
// device) and is refused before it is read into memory.
const maxConfigSize = 1 << 20

// LoadConfig reads a generator config on top of DefaultConfig. Unknown fields
// are refused, and errors are one line naming the file, the line and the
// field: "rules config FILE:LINE: FIELD: problem".
func LoadConfig(path string) (Config, error) {
	data, err := readConfig(path)
	if err != nil {
		return Config{}, errors.New(yamlerr.OneLine("rules config: " + err.Error()))
	}
	cfg, err := parseConfig(path, data)
	if err != nil {
		return Config{}, fmt.Errorf("rules config %w", err)
	}
	return cfg, nil
}

func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d MiB, not a rules config file", path, maxConfigSize>>20)
	}
	return data, nil
}

// ParseConfig is LoadConfig without the file. Its errors start with
// ":LINE: FIELD: " when the line is known, else ": ", so that a caller can
// put the file name in front.
func ParseConfig(data []byte) (Config, error) { return parseConfig("", data) }

// parseConfig decodes data into DefaultConfig with known fields only, as
// blackbox_exporter decodes its modules, then validates the result. The
// YAML nodes are kept to place every error at its line and field:
// internal/yamlerr takes apart what yaml.v3 reports.
func parseConfig(file string, data []byte) (Config, error) {
	cfg := DefaultConfig()
	root, err := yamlerr.ParseDocument(file, data)
	if err != nil {
		return Config{}, err
	}
	if root != nil {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return Config{}, decodeError(file, root, err)
		}
	}
	if err := cfg.Validate(); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			if line := lineOfPath(root, fe.path, fe.near); line > 0 {
				return Config{}, yamlerr.Errorf(file, line, fe.path, "%s", fe.msg)
			}
		}
		// Only a value the file does not set can be wrong without a line,
		// and the defaults are valid; still, say it without one.
		return Config{}, errors.New(yamlerr.OneLine(file + ": " + err.Error()))
	}
	return cfg, nil
}

// configTypes are the structs a config decodes into, for the fields an
// unknown one is compared with.
func configTypes() []reflect.Type {
	return []reflect.Type{
		reflect.TypeFor[Config](), reflect.TypeFor[Selectors](), reflect.TypeFor[NodeExporter](),
		reflect.TypeFor[PrometheusRuleMeta](), reflect.TypeFor[Windows](), reflect.TypeFor[Thresholds](),
		reflect.TypeFor[For](), reflect.TypeFor[KeepFiringFor](),
	}
}

// decodeError places what yaml.v3's Decode reports at its line and field,
// with the field meant when one is misspelt.
func decodeError(file string, root *yaml.Node, err error) error {
	d, ok := yamlerr.Decode(err)
	if !ok {
		return yamlerr.Errorf(file, 1, "syntax error", "%s", d.Msg)
	}
	var ve *valueError
	switch {
	case errors.As(err, &ve):
		// A duration or size said what is wrong with it; its position
		// names the field even where several share the line.
		field, _, _ := findNode(root, func(_ string, _, v *yaml.Node) bool { return v.Line == ve.line && v.Column == ve.column })
		return yamlerr.Errorf(file, ve.line, field, "%s", ve.msg)
	case d.Unknown != "":
		field, _, _ := findNode(root, func(_ string, k, _ *yaml.Node) bool { return k != nil && k.Line == d.Line && k.Value == d.Unknown })
		if field == "top level" {
			field = d.Unknown
		}
		for _, t := range configTypes() {
			if t.String() == d.Type {
				// Sorted: Thresholds alone has over 40 fields.
				known := yamlerr.Known(t)
				slices.Sort(known)
				return yamlerr.Errorf(file, d.Line, field, "%s", yamlerr.UnknownField(d.Unknown, known))
			}
		}
		return yamlerr.Errorf(file, d.Line, field, "unknown field")
	case d.Tag != "":
		// The innermost node on the line that yaml.v3 describes: in
		// "a: [x, [y]]" the inner list is what is wrong.
		field, _, node := findNode(root, func(_ string, _, v *yaml.Node) bool {
			return v.Line == d.Line && v.ShortTag() == d.Tag && strings.HasPrefix(v.Value, strings.TrimSuffix(d.Value, "..."))
		})
		got := "a " + yamlerr.TagName(d.Tag)
		if node != nil {
			// yaml.v3 shortens the value in its message; the node has it all.
			got = yamlerr.Describe(node)
		}
		return yamlerr.Errorf(file, d.Line, field, "want %s, got %s", wantOf(d.Type), got)
	}
	field, _, _ := findNode(root, func(_ string, k, _ *yaml.Node) bool { return k != nil && k.Line == d.Line })
	return yamlerr.Errorf(file, d.Line, field, "%s", d.Msg)
}

// wantOf names what a Go type of the config takes in YAML, for "want X, got
// Y". Durations and sizes say it themselves (UnmarshalYAML).
func wantOf(goType string) string {
	switch {
	case goType == "float64":
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string", goType == reflect.TypeFor[Selector]().String():
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "rules."):
		return "a mapping"
	}
	return goType
}

// findNode walks the document outside in and returns the dotted path
// ("thresholds.x", "disabled_alerts[2]", "top level" for the root), key and
// value of the deepest node match accepts, the first of those at one depth.
// key is the mapping key holding the value, nil for a list item and the
// root.
func findNode(root *yaml.Node, match func(path string, key, value *yaml.Node) bool) (string, *yaml.Node, *yaml.Node) {
	best, bestKey, bestNode, bestDepth := "top level", (*yaml.Node)(nil), (*yaml.Node)(nil), -1
	var walk func(k, n *yaml.Node, path string, depth int)
	walk = func(k, n *yaml.Node, path string, depth int) {
		if depth > bestDepth && match(path, k, n) {
			best, bestKey, bestNode, bestDepth = path, k, n, depth
		}
		switch n.Kind {
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(nil, c, fmt.Sprintf("%s[%d]", path, i), depth+1)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if depth > 0 {
					p = path + "." + p
				}
				walk(n.Content[i], n.Content[i+1], p, depth+1)
			}
		}
	}
	if root != nil {
		walk(nil, root, "top level", 0)
	}
	return best, bestKey, bestNode
}

// valueError is what a Duration or Bytes says about its YAML value, with
// the value's position to name the field by.
type valueError struct {
	line, column int
	msg          string
}

// Error has yaml.v3's "line N: " form, which yamlerr.Decode reads.
func (e *valueError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func badValue(n *yaml.Node, format string, args ...any) error {
	return &valueError{line: n.Line, column: n.Column, msg: fmt.Sprintf(format, args...)}
}

// lineOfPath is the line of the first of paths ("thresholds.x",
// "disabled_alerts[2]") the file sets, 0 if it sets none.
func lineOfPath(root *yaml.Node, paths ...string) int {
	for _, want := range paths {
		_, k, v := findNode(root, func(path string, _, _ *yaml.Node) bool { return path == want })
		switch {
		case k != nil:
			return k.Line
		case v != nil:
			return v.Line
		}
	}
	return 0
}

// fieldError is a validation error about one config field.
type fieldError struct {
	path string
	msg  string
	// near is the field whose line is shown when path is not in the file:
	// a warning threshold left at its default is wrong because of the
	// critical one the file sets.
	near string
}

func (e *fieldError) Error() string { return e.path + ": " + e.msg }

func fieldErrf(path, format string, args ...any) error {
	return &fieldError{path: path, msg: fmt.Sprintf(format, args...)}
}

// pairErr is about a threshold's warning and critical values, which are
// wrong together: it names the warning, at the line of whichever the file
// sets.
func pairErr(name, format string, args ...any) error {
	return &fieldError{path: "thresholds." + name + "_warning", msg: fmt.Sprintf(format, args...), near: "thresholds." + name + "_critical"}
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
		{"monitor_rounds_behind_ratio", t.MonitorRoundsBehindRatio},
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
			return pairErr(p.name, "warning (%s) must be below %s_critical (%s)", p.show(p.warn), p.name, p.show(p.crt))
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
			return pairErr(p.name, "warning (%s) must be above %s_critical (%s): lower is worse here", p.show(p.warn), p.name, p.show(p.crt))
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
		return badValue(n, "want a duration like 50ms, 5m or 14d, got %s", yamlerr.Kind(n))
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
	return badValue(n, "%q is not a duration (use e.g. 50ms, 5m, 14d)", n.Value)
}

func (d Duration) String() string   { return model.Duration(d).String() }
func (d Duration) Seconds() float64 { return time.Duration(d).Seconds() }

// Bytes is a size in YAML, read by internal/bytesize as every size of
// etcd-monitor is: a plain number of bytes or one with a unit (500MiB, 6GiB;
// KB/MB/GB are powers of 1000).
type Bytes int64

// UnmarshalYAML reports the line of a bad size.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return badValue(n, "want a size like 500MiB or 6GiB, got %s", yamlerr.Kind(n))
	}
	v, err := bytesize.Parse(n.Value)
	if err != nil {
		return badValue(n, "%v", err)
	}
	*b = Bytes(v)
	return nil
}

// String is the size exactly, as a config file would write it (6GiB,
// 200000000B): the annotations and errors quote the config.
func (b Bytes) String() string {
	s := bytesize.Exact(int64(b))
	if last := s[len(s)-1]; last >= '0' && last <= '9' {
		return s + "B"
	}
	return s
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
