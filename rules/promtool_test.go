package rules

import (
	"bufio"
	"fmt"
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

const installHint = "run make tools"

// promtool validates what Prometheus will load: the committed files, the
// PrometheusRule's spec, and a rendering with every knob changed.
func TestPromtoolCheckRules(t *testing.T) {
	promtool := testbin.Require(t, installHint, "promtool")
	dir := t.TempDir()

	var pr struct {
		Spec RuleFile `yaml:"spec"`
	}
	b, err := os.ReadFile(FilePrometheusRule)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &pr); err != nil {
		t.Fatal(err)
	}
	spec, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, dir, "prometheusrule-spec.yml", spec)

	cfg := DefaultConfig()
	cfg.ClusterLabel = "cluster"
	cfg.Selectors.Monitor = `job=~"etcd-monitor|etcd-monitor-ha",namespace="monitoring"`
	cfg.Selectors.Etcd = `job="kube-etcd"`
	cfg.Selectors.Node = `job="node-exporter"`
	cfg.NodeExporter.Filesystem = `mountpoint="/var/lib/etcd"`
	cfg.Thresholds.ProbeLatencyP99Warning = dur("20ms")
	cfg.Thresholds.PeerRTTBucket = 0.1024
	cfg.KeepFiringFor = KeepFiringFor{Critical: dur("5m"), Warning: dur("90s"), Info: 0}
	custom, err := Render(cfg, ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, dir, "custom.rules.yml", custom)

	args := []string{"check", "rules", "--lint=all", "--lint-fatal",
		FileDefault, FileFast, filepath.Join(dir, "prometheusrule-spec.yml"), filepath.Join(dir, "custom.rules.yml")}
	out, err := exec.Command(promtool, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeTestFile(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Each test file runs in its own promtool, in parallel: the week-long
// baseline test dominates otherwise.
func TestPromtoolTestRules(t *testing.T) {
	promtool := testbin.Require(t, installHint, "promtool")
	files, err := filepath.Glob("tests/*.yml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no promtool tests in rules/tests: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command(promtool, "test", "rules", f).CombinedOutput()
			if err != nil {
				t.Fatalf("promtool test rules %s: %v\n%s", f, err, out)
			}
		})
	}
}

type unitTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name           string `yaml:"name"`
		AlertRuleTests []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func loadUnitTests(t *testing.T) map[string]unitTestFile {
	t.Helper()
	files, _ := filepath.Glob("tests/*.yml")
	out := map[string]unitTestFile{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var u unitTestFile
		if err := yaml.Unmarshal(b, &u); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, rf := range u.RuleFiles {
			if rf != "../"+FileDefault {
				t.Errorf("%s tests %s; the tests must test the committed default rules", f, rf)
			}
		}
		out[f] = u
	}
	return out
}

// Every alert, at every severity it has, needs a test where it fires, and
// every alert a test where it must stay quiet.
func TestEveryAlertHasFiringAndQuietTests(t *testing.T) {
	f, err := Build(DefaultConfig(), ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	firing := map[string]bool{} // alertname/severity
	quiet := map[string]bool{}  // alertname
	for _, u := range loadUnitTests(t) {
		for _, g := range u.Tests {
			for _, at := range g.AlertRuleTests {
				if len(at.ExpAlerts) == 0 {
					quiet[at.Alertname] = true
				}
				for _, a := range at.ExpAlerts {
					firing[at.Alertname+"/"+a.ExpLabels["severity"]] = true
				}
			}
		}
	}
	alerts := 0
	for _, r := range flatten(f) {
		if r.Alert == "" {
			continue
		}
		alerts++
		if key := r.Alert + "/" + r.Labels["severity"]; !firing[key] {
			t.Errorf("%s (%s) has no promtool test in rules/tests where it fires", r.Alert, r.Labels["severity"])
		}
		if !quiet[r.Alert] {
			t.Errorf("%s has no promtool test in rules/tests where it must not fire (exp_alerts: [])", r.Alert)
		}
	}
	t.Logf("%d alerting rules, all with firing and quiet tests", alerts)
}

// The false positives that make people disable the etcd mixin's alerts, and
// the paging scenarios from etcd users' complaints, have a named test each;
// renaming or dropping one should be deliberate.
func TestKnownFalsePositivesAreTested(t *testing.T) {
	names := map[string]bool{}
	for _, u := range loadUnitTests(t) {
		for _, g := range u.Tests {
			names[g.Name] = true
		}
	}
	for _, want := range []string{
		"false positive: a rolling restart of 3 members does not page",
		"false positive: watch cancellations do not count as failed requests",
		"false positive: a member back within the for window does not alert",
		"false positive: a 200 MB fragmented database does not alert",
		"false positive: a few peer round trips in a coarse bucket do not alert",
		"paging: a 12-minute reboot of one member of three pages nobody",
		"paging: one member of three away beyond 15 minutes pages",
		"paging: quorum lost during a reboot pages at once",
		"paging: a rolling restart of 3 members pages nobody",
		"paging: a rolling restart of 5 members pages nobody",
		"paging: a rolling restart of 7 members pages nobody",
		"paging: an election beyond a rolling restart of 7 members pages",
		"paging: a quota filling in one hour warns early and pages before NOSPACE",
		"paging: a quota filling in one week",
		"blind spot: a broken scrape of etcd's /metrics is reported",
		"false positive: occasional late or skipped rounds do not warn",
		"false positive: a member that times out does not make the monitor late",
		"false positive: a cluster cut off from the monitor does not make it late",
		"probe latency of a cluster whose rounds start late does not page",
	} {
		if !names[want] {
			t.Errorf("no promtool test group named %q", want)
		}
	}
}

var headingRe = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)

var alertHeadingRe = regexp.MustCompile(`^Etcd[A-Z][A-Za-z0-9]*$`)

// runbookAnchors returns the GitHub anchors of docs/runbooks.md's headings,
// and the headings that look like alert names.
func runbookAnchors(t *testing.T) (map[string]bool, []string) {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "runbooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	anchors := map[string]bool{}
	var alertHeadings []string
	seen := map[string]int{}
	inFence := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		m := headingRe.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		if alertHeadingRe.MatchString(m[1]) {
			alertHeadings = append(alertHeadings, m[1])
		}
		a := Anchor(m[1])
		// GitHub suffixes repeated anchors with -1, -2, ...
		if n := seen[a]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return anchors, alertHeadings
}

func TestRunbookAnchorsExist(t *testing.T) {
	anchors, alertHeadings := runbookAnchors(t)
	f, err := Build(DefaultConfig(), ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, r := range flatten(f) {
		if r.Alert == "" {
			continue
		}
		url := r.Annotations["runbook_url"]
		base, anchor, ok := strings.Cut(url, "#")
		if !ok || base != DefaultConfig().RunbookURL {
			t.Errorf("%s: runbook_url %q is not %s#<anchor>", r.Alert, url, DefaultConfig().RunbookURL)
			continue
		}
		names[r.Alert] = true
		if !anchors[anchor] {
			t.Errorf("%s: runbook_url anchor #%s has no heading in docs/runbooks.md", r.Alert, anchor)
		}
	}
	// Sections for alerts that no longer exist mislead whoever follows them.
	var stale []string
	for _, h := range alertHeadings {
		if !names[h] {
			stale = append(stale, h)
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("docs/runbooks.md has sections for alerts the rules do not have: %v", stale)
	}
}

func TestAnchor(t *testing.T) {
	for in, want := range map[string]string{
		"EtcdMemberUnreachable":    "etcdmemberunreachable",
		"Before you start":         "before-you-start",
		"NOSPACE: compact, defrag": "nospace-compact-defrag",
	} {
		if got := Anchor(in); got != want {
			t.Errorf("Anchor(%q) = %q, want %q", in, got, want)
		}
	}
}
