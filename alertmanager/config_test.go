package alertmanager

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
)

const (
	configFile  = "alertmanager.yml"
	rulesFile   = "../rules/etcd-monitor.rules.yml"
	installHint = "run make tools"
)

func amtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin := testbin.Require(t, installHint, "amtool")
	out, err := exec.Command(bin, args...).CombinedOutput()
	return string(out), err
}

func TestCheckConfig(t *testing.T) {
	out, err := amtool(t, "check-config", configFile)
	if err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
}

// Receivers per severity, whatever the cluster: the webhook (alert history)
// always comes first, people after.
var wantReceivers = map[string]string{
	"critical": "webhook,pagerduty,slack",
	"warning":  "webhook,slack,email",
	"info":     "webhook,email",
	"":         "webhook,email", // no or unknown severity still reaches a person
	"page-me":  "webhook,email",
}

func TestRoutesPerSeverityAndCluster(t *testing.T) {
	for sev, want := range wantReceivers {
		for _, cluster := range []string{"prod", "staging", ""} {
			args := []string{"config", "routes", "test", "--config.file=" + configFile, "--verify.receivers=" + want, "alertname=EtcdTest"}
			if sev != "" {
				args = append(args, "severity="+sev)
			}
			if cluster != "" {
				args = append(args, "etcd_cluster="+cluster)
			}
			out, err := amtool(t, args...)
			if err != nil || strings.TrimSpace(out) != want {
				t.Errorf("severity %q cluster %q: got %q (%v), want %s", sev, cluster, strings.TrimSpace(out), err, want)
			}
		}
	}
}

// Every alert the rules can raise, with its own labels, reaches the receivers
// of its severity.
func TestRoutesForEveryRenderedAlert(t *testing.T) {
	rules := loadRules(t)
	if len(rules) == 0 {
		t.Fatal("no alerting rules found in " + rulesFile)
	}
	for _, r := range rules {
		want := wantReceivers[r.Labels["severity"]]
		out, err := amtool(t, "config", "routes", "test", "--config.file="+configFile, "--verify.receivers="+want,
			"alertname="+r.Alert, "severity="+r.Labels["severity"], "etcd_cluster=prod")
		if err != nil {
			t.Errorf("%s (%s): routed to %q, want %s (%v)", r.Alert, r.Labels["severity"], strings.TrimSpace(out), want, err)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert  string            `yaml:"alert"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type alertRule struct {
	Alert  string
	Labels map[string]string
}

func loadRules(t *testing.T) []alertRule {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var out []alertRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, alertRule{r.Alert, r.Labels})
			}
		}
	}
	return out
}

type amConfig struct {
	Route struct {
		GroupBy        []string `yaml:"group_by"`
		GroupInterval  string   `yaml:"group_interval"`
		GroupWait      string   `yaml:"group_wait"`
		RepeatInterval string   `yaml:"repeat_interval"`
	} `yaml:"route"`
	InhibitRules []struct {
		SourceMatchers []string `yaml:"source_matchers"`
		TargetMatchers []string `yaml:"target_matchers"`
		Equal          []string `yaml:"equal"`
	} `yaml:"inhibit_rules"`
	Receivers []map[string]any `yaml:"receivers"`
}

func loadConfig(t *testing.T) amConfig {
	t.Helper()
	b, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var c amConfig
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGroupingIsTheSeedsDedupWindow(t *testing.T) {
	c := loadConfig(t)
	if got := strings.Join(c.Route.GroupBy, ","); got != "alertname,etcd_cluster" {
		t.Errorf("group_by = %s, want alertname,etcd_cluster", got)
	}
	if c.Route.GroupInterval != "5m" {
		t.Errorf("group_interval = %s, want the original etcd-monitor guide's 5m dedup window", c.Route.GroupInterval)
	}
}

var matcherRe = regexp.MustCompile(`^(\w+)(=~|=|!=|!~)"(.*)"$`)

// matcherNames returns the alert names a list of matchers selects, and the
// other label matchers it has.
func matcherNames(t *testing.T, ms []string) (names []string, other map[string]string) {
	t.Helper()
	other = map[string]string{}
	for _, m := range ms {
		p := matcherRe.FindStringSubmatch(m)
		if p == nil {
			t.Fatalf("unparsed matcher %q", m)
		}
		if p[1] == "alertname" {
			names = append(names, strings.Split(p[3], "|")...)
		} else {
			other[p[1]] = p[2] + p[3]
		}
	}
	sort.Strings(names)
	return names, other
}

// The inhibitions the issue asks for, read back from the file, with every
// alert name they mention checked against the rendered rules. (amtool cannot
// evaluate inhibitions; TestDeliveryAndInhibition runs a real Alertmanager.)
func TestInhibitRules(t *testing.T) {
	c := loadConfig(t)
	exists := map[string]bool{}
	for _, r := range loadRules(t) {
		exists[r.Alert] = true
	}
	type rule struct {
		source, target []string
		equal          string
	}
	var got []rule
	for _, ir := range c.InhibitRules {
		s, sOther := matcherNames(t, ir.SourceMatchers)
		tg, tOther := matcherNames(t, ir.TargetMatchers)
		for _, n := range append(append([]string{}, s...), tg...) {
			if !exists[n] {
				t.Errorf("inhibit rule names %s, which %s does not define", n, rulesFile)
			}
		}
		if len(s) == 0 && sOther["severity"] == "=critical" && tOther["severity"] == "=warning" {
			s, tg = []string{"severity=critical"}, []string{"severity=warning"}
		}
		got = append(got, rule{s, tg, strings.Join(ir.Equal, ",")})
	}
	contains := func(list []string, names ...string) bool {
		set := map[string]bool{}
		for _, n := range list {
			set[n] = true
		}
		for _, n := range names {
			if !set[n] {
				return false
			}
		}
		return true
	}
	checks := []struct {
		what           string
		source         string
		targets        []string
		equalMustStart string
	}{
		{"quorum lost silences member, leader and probe alerts of its cluster", "EtcdQuorumLost",
			[]string{"EtcdMemberUnreachable", "EtcdMemberPartitioned", "EtcdNoLeader", "EtcdFrequentLeaderChanges", "EtcdProbeLatencyHigh", "EtcdProbeErrorsHigh"}, "etcd_cluster"},
		{"a member down silences its own probe, TLS and partition alerts", "EtcdMemberUnreachable",
			[]string{"EtcdProbeLatencyHigh", "EtcdProbeErrorsHigh", "EtcdCertificateExpiring", "EtcdMemberPartitioned"}, "etcd_cluster,endpoint"},
		{"the monitor refused by a member silences that member's probe alerts", "EtcdMonitorAccessDenied",
			[]string{"EtcdMemberUnreachable", "EtcdProbeLatencyHigh", "EtcdProbeErrorsHigh"}, "etcd_cluster,endpoint"},
		{"NOSPACE silences probe errors", "EtcdNoSpaceAlarm", []string{"EtcdProbeErrorsHigh"}, "etcd_cluster"},
		{"CORRUPT silences probe errors", "EtcdCorruptAlarm", []string{"EtcdProbeErrorsHigh"}, "etcd_cluster"},
		{"critical silences the same alert's warning", "severity=critical", []string{"severity=warning"}, "alertname,etcd_cluster"},
	}
	for _, want := range checks {
		found := false
		for _, r := range got {
			if contains(r.source, want.source) && contains(r.target, want.targets...) &&
				(r.equal == want.equalMustStart || strings.HasPrefix(r.equal, want.equalMustStart+",")) {
				found = true
			}
		}
		if !found {
			t.Errorf("no inhibit rule: %s", want.what)
		}
	}
}

// The critical-silences-warning rule must compare every label that tells two
// alerts of one name apart, or a critical on one member would hide a warning
// on another. The labels come from the alerts the promtool tests expect.
func TestSeverityInhibitionComparesIdentifyingLabels(t *testing.T) {
	c := loadConfig(t)
	var equal map[string]bool
	for _, ir := range c.InhibitRules {
		if strings.Join(ir.SourceMatchers, "") == `severity="critical"` {
			equal = map[string]bool{}
			for _, l := range ir.Equal {
				equal[l] = true
			}
		}
	}
	if equal == nil {
		t.Fatal("no severity inhibition")
	}
	files, _ := filepath.Glob("../rules/tests/*.yml")
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var u struct {
			Tests []struct {
				AlertRuleTest []struct {
					ExpAlerts []struct {
						ExpLabels map[string]string `yaml:"exp_labels"`
					} `yaml:"exp_alerts"`
				} `yaml:"alert_rule_test"`
			} `yaml:"tests"`
		}
		if err := yaml.Unmarshal(b, &u); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range u.Tests {
			for _, at := range g.AlertRuleTest {
				for _, a := range at.ExpAlerts {
					for l := range a.ExpLabels {
						seen[l] = true
					}
				}
			}
		}
	}
	if len(seen) == 0 {
		t.Fatal("no expected alert labels found in ../rules/tests")
	}
	for l := range seen {
		if l != "severity" && !equal[l] {
			t.Errorf("alerts carry label %q but the critical-over-warning inhibition does not compare it", l)
		}
	}
}

// Secrets are referenced by file only.
func TestSecretsOnlyThroughFiles(t *testing.T) {
	b, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"routing_key:", "service_key:", "api_url:", "auth_password:", "smtp_auth_password:", "slack_api_url:"} {
		if regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key)).Match(b) {
			t.Errorf("%s has an inline %s; use the *_file form", configFile, strings.TrimSuffix(key, ":"))
		}
	}
	for _, want := range []string{"routing_key_file:", "api_url_file:", "smtp_auth_password_file:"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s has no %s", configFile, want)
		}
	}
}
