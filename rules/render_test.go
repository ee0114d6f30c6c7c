package rules

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/golden"
)

// The committed files are what users deploy and what the promtool tests
// test, so they must be exactly the generator's output.
func TestGeneratedFilesUpToDate(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFiles(dir, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{}
	for _, name := range []string{FileDefault, FileFast, FilePrometheusRule} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want[name] = b
	}
	golden.Files(t, ".", want, "", "go test ./rules -run TestGeneratedFilesUpToDate -update (or go generate ./rules)")
}

// config.yml documents the defaults; it must not drift from DefaultConfig.
func TestDefaultConfigYAMLMatchesDefaults(t *testing.T) {
	cfg, err := ParseConfig([]byte(DefaultConfigYAML))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, withEmptyLists(DefaultConfig())) {
		t.Errorf("rules/config.yml and DefaultConfig differ:\n file: %+v\n code: %+v", cfg, DefaultConfig())
	}
	// Every field must be spelled out in the file, so it documents them all.
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(DefaultConfigYAML), &doc); err != nil {
		t.Fatal(err)
	}
	for _, section := range []struct {
		name string
		v    any
	}{{"windows", Windows{}}, {"thresholds", Thresholds{}}, {"for", For{}}, {"keep_firing_for", KeepFiringFor{}}, {"selectors", Selectors{}}} {
		m, _ := doc[section.name].(map[string]any)
		eachField(section.v, func(name string, _ any) {
			if _, ok := m[name]; !ok {
				t.Errorf("rules/config.yml: %s.%s is not listed", section.name, name)
			}
		})
	}
}

func withEmptyLists(c Config) Config {
	if c.DisabledAlerts == nil {
		c.DisabledAlerts = []string{}
	}
	return c
}

func TestRenderIsDeterministic(t *testing.T) {
	a, err := Render(DefaultConfig(), ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b, _ := Render(DefaultConfig(), ProfileDefault)
		if !bytes.Equal(a, b) {
			t.Fatal("two renders of the same config differ")
		}
	}
}

func TestRenderUsesConfiguredLabelsAndSelectors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ClusterLabel = "kv_cluster"
	cfg.Selectors.Monitor = `job="mon",env="prod"`
	cfg.Selectors.Etcd = `job=~"etcd-.*"`
	cfg.RunbookURL = "https://wiki.example.com/etcd"
	cfg.Thresholds.ProbeLatencyP99Warning = dur("75ms")
	cfg.For.MemberUnreachable = dur("7m")
	cfg.DisabledAlerts = []string{"EtcdClockOffset"}
	f, err := Build(cfg, ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	var sawWarn, sawFor bool
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if strings.Contains(r.Expr, "etcd_cluster") {
				t.Errorf("%s%s still uses etcd_cluster: %s", r.Record, r.Alert, r.Expr)
			}
			if strings.Contains(r.Expr, `job="etcd-monitor"`) || strings.Contains(r.Expr, `job="etcd"`) {
				t.Errorf("%s%s still uses a default selector: %s", r.Record, r.Alert, r.Expr)
			}
			if r.Alert == "EtcdClockOffset" {
				t.Error("EtcdClockOffset was disabled but rendered")
			}
			if r.Alert != "" {
				if !strings.HasPrefix(r.Annotations["runbook_url"], "https://wiki.example.com/etcd#etcd") {
					t.Errorf("%s runbook_url = %q", r.Alert, r.Annotations["runbook_url"])
				}
				for k, v := range r.Annotations {
					if strings.Contains(v, "etcd_cluster") {
						t.Errorf("%s annotation %s still names etcd_cluster: %s", r.Alert, k, v)
					}
				}
			}
			if r.Alert == "EtcdProbeLatencyHigh" && r.Labels["severity"] == "warning" {
				// The comparison, then the clusters whose rounds start late.
				sawWarn = strings.Contains(r.Expr, ":p99 > 0.075\n") && strings.Contains(r.Annotations["description"], "75ms")
			}
			if r.Alert == "EtcdMemberUnreachable" {
				sawFor = r.For == "7m"
			}
		}
	}
	if !sawWarn || !sawFor {
		t.Errorf("threshold rendered: %v, for rendered: %v", sawWarn, sawFor)
	}
}

func TestNodeExporterAlertsCanBeTurnedOff(t *testing.T) {
	cfg := DefaultConfig()
	cfg.NodeExporter.Enabled = false
	f, err := Build(cfg, ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if strings.Contains(r.Expr, "node_") {
				t.Errorf("%s uses node_exporter metrics with node_exporter disabled", r.Alert)
			}
		}
	}
}

func TestFastProfileShortensDurations(t *testing.T) {
	def, err := Build(DefaultConfig(), ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	fst, err := Build(DefaultConfig(), ProfileFast)
	if err != nil {
		t.Fatal(err)
	}
	defRules, fastRules := flatten(def), flatten(fst)
	if len(defRules) != len(fastRules) {
		t.Fatalf("profiles have %d and %d rules", len(defRules), len(fastRules))
	}
	for i, r := range fastRules {
		if r.For != "" {
			d, err := parseDuration(r.For)
			if err != nil || d.Seconds() > 60 {
				t.Errorf("%s: fast for = %q, want at most 1m", r.Alert, r.For)
			}
		}
		if (r.For == "") != (defRules[i].For == "") {
			t.Errorf("%s: for %q in fast, %q in default", r.Alert, r.For, defRules[i].For)
		}
		// The end-to-end test expects resolutions within a minute.
		if r.Alert != "" && (r.KeepFiringFor == "") != (defRules[i].KeepFiringFor == "") {
			t.Errorf("%s: keep_firing_for %q in fast, %q in default", r.Alert, r.KeepFiringFor, defRules[i].KeepFiringFor)
		}
		if r.KeepFiringFor != "" {
			d, err := parseDuration(r.KeepFiringFor)
			if err != nil || d.Seconds() < 5 || d.Seconds() > 10 {
				t.Errorf("%s: fast keep_firing_for = %q, want 5s to 10s", r.Alert, r.KeepFiringFor)
			}
		}
		for _, long := range []string{"[5m]", "[1h]", "[6h]", "[12h]", "offset 1w"} {
			if strings.Contains(r.Expr, long) {
				t.Errorf("%s%s: fast profile still has %s", r.Record, r.Alert, long)
			}
		}
	}
}

// keep_firing_for follows the alert's severity, in both formats; 0s leaves
// the field out.
func TestKeepFiringForBySeverity(t *testing.T) {
	cfg := DefaultConfig()
	cfg.KeepFiringFor = KeepFiringFor{Critical: dur("5m"), Warning: dur("90s"), Info: 0}
	want := map[string]string{"critical": "5m", "warning": "1m30s", "info": ""}
	f, err := Build(cfg, ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range flatten(f) {
		if r.Record != "" {
			if r.KeepFiringFor != "" {
				t.Errorf("recording rule %s has keep_firing_for", r.Record)
			}
			continue
		}
		sev := r.Labels["severity"]
		seen[sev]++
		if r.KeepFiringFor != want[sev] {
			t.Errorf("%s (%s): keep_firing_for = %q, want %q", r.Alert, sev, r.KeepFiringFor, want[sev])
		}
	}
	for sev := range want {
		if seen[sev] == 0 {
			t.Errorf("no %s alert rendered", sev)
		}
	}

	// The rendered text: a field per critical and warning alert, none for
	// info, named as Prometheus and the PrometheusRule CRD name it.
	plain, err := Render(cfg, ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := RenderPrometheusRule(cfg, ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"rules": plain, "prometheusrule": pr} {
		var doc struct {
			Groups []struct {
				Rules []map[string]any `yaml:"rules"`
			} `yaml:"groups"`
			Spec struct {
				Groups []struct {
					Rules []map[string]any `yaml:"rules"`
				} `yaml:"groups"`
			} `yaml:"spec"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		groups := doc.Groups
		if name == "prometheusrule" {
			groups = doc.Spec.Groups
		}
		n := 0
		for _, g := range groups {
			for _, r := range g.Rules {
				labels, _ := r["labels"].(map[string]any)
				sev, _ := labels["severity"].(string)
				v, has := r["keep_firing_for"]
				if has {
					n++
				}
				if r["alert"] != nil && (has != (want[sev] != "") || (has && v != want[sev])) {
					t.Errorf("%s: %v (%s): keep_firing_for = %v (present %v), want %q", name, r["alert"], sev, v, has, want[sev])
				}
			}
		}
		if n != seen["critical"]+seen["warning"] {
			t.Errorf("%s: %d rules with keep_firing_for, want %d", name, n, seen["critical"]+seen["warning"])
		}
	}
}

func flatten(f RuleFile) []Rule {
	var out []Rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

func parseDuration(s string) (Duration, error) {
	var d Duration
	err := d.UnmarshalYAML(&yaml.Node{Kind: yaml.ScalarNode, Value: s})
	return d, err
}

// Every alert carries what the Alertmanager templates and routes use.
func TestAlertsCarrySeverityAndAnnotations(t *testing.T) {
	f, err := Build(DefaultConfig(), ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range flatten(f) {
		if r.Alert == "" {
			continue
		}
		switch r.Labels["severity"] {
		case "info", "warning", "critical":
		default:
			t.Errorf("%s: severity %q", r.Alert, r.Labels["severity"])
		}
		for _, k := range []string{"summary", "description", "value", "runbook_url"} {
			if strings.TrimSpace(r.Annotations[k]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, k)
			}
		}
		if !strings.Contains(r.Annotations["description"], "$value") {
			t.Errorf("%s: description does not show the live value: %s", r.Alert, r.Annotations["description"])
		}
		if strings.Contains(r.Expr+r.Annotations["description"]+r.Annotations["summary"], "${") {
			t.Errorf("%s: unexpanded placeholder", r.Alert)
		}
	}
}

// EtcdPeerRTTHigh counts the round trips above one of etcd's bucket bounds:
// the configured bound becomes that bucket's exact `le` label, and reads in
// milliseconds in the description.
func TestPeerRTTBucketRendersItsLeLabel(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Thresholds.PeerRTTBucket = 0.0032
	f, err := Build(cfg, ProfileDefault)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range flatten(f) {
		if r.Alert != "EtcdPeerRTTHigh" {
			continue
		}
		if !strings.Contains(r.Expr, `etcd_network_peer_round_trip_time_seconds_bucket{job="etcd",le="0.0032"}`) {
			t.Errorf("expression does not select the 0.0032 bucket:\n%s", r.Expr)
		}
		if !strings.Contains(r.Annotations["description"], "longer than 3.2ms") {
			t.Errorf("description does not name the bound: %s", r.Annotations["description"])
		}
		return
	}
	t.Fatal("no EtcdPeerRTTHigh rule")
}
