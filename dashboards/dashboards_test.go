package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/etcd-monitor/etcd-monitor/internal/testenv/golden"
	"github.com/etcd-monitor/etcd-monitor/internal/testenv/testbin"
)

// The committed files are what users import and what the other tests
// check, so they must be exactly the generator's output.
func TestGeneratedFilesUpToDate(t *testing.T) {
	files, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	golden.Files(t, ".", files, "*.json", "go generate ./dashboards")
}

func load(t *testing.T) []*Dashboard {
	t.Helper()
	ds, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 {
		t.Fatalf("loaded %d dashboards, want 3", len(ds))
	}
	return ds
}

// The UIDs are stable identifiers: bookmarks, links between dashboards and
// provisioning depend on them.
func TestStableUIDs(t *testing.T) {
	want := map[string]string{
		FileOverview:  "etcd-monitor-overview",
		FileEtcd:      "etcd-monitor-etcd",
		FileBenchmark: "etcd-monitor-benchmark",
	}
	for _, d := range load(t) {
		if want[d.File] == "" {
			t.Errorf("%s: unexpected dashboard file", d.File)
			continue
		}
		if d.UID != want[d.File] {
			t.Errorf("%s: uid %q, want %q", d.File, d.UID, want[d.File])
		}
		if len(d.UID) > 40 {
			t.Errorf("%s: uid %q is longer than Grafana's 40 characters", d.File, d.UID)
		}
		if d.Title == "" || !slices.Contains(d.Tags, "etcd-monitor") {
			t.Errorf("%s: title %q tags %v: want a title and the tag etcd-monitor (the dashboards link each other by it)", d.File, d.Title, d.Tags)
		}
	}
}

// The "etcd-monitor dashboards" menu links the three by their tag, keeping
// the time range and variables, and it and the annotation toggles stay
// above the panels: the SDK's default placement ("inControlsMenu") would
// fold them into Grafana 12's controls menu.
func TestLinksAndAnnotationsAboveThePanels(t *testing.T) {
	for _, d := range load(t) {
		b, err := fs.ReadFile(FS(), d.File)
		if err != nil {
			t.Fatal(err)
		}
		var raw struct {
			Links       []map[string]any `json:"links"`
			Annotations struct {
				List []map[string]any `json:"list"`
			} `json:"annotations"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if len(raw.Links) != 1 {
			t.Fatalf("%s: %d links, want the one dashboards menu", d.UID, len(raw.Links))
		}
		l := raw.Links[0]
		if l["type"] != "dashboards" || l["title"] != "etcd-monitor dashboards" || l["asDropdown"] != true ||
			l["includeVars"] != true || l["keepTime"] != true || fmt.Sprint(l["tags"]) != "[etcd-monitor]" {
			t.Errorf("%s: link %v: want the etcd-monitor dashboards menu by tag, keeping time and variables", d.UID, l)
		}
		for _, o := range append(raw.Links, raw.Annotations.List...) {
			name := o["name"] // an annotation's
			if name == nil {
				name = o["title"] // a link's
			}
			if p, ok := o["placement"]; ok {
				t.Errorf("%s: %v has placement %v: want it above the panels (no placement)", d.UID, name, p)
			}
		}
	}
}

const dsRefUID = "${datasource}"

func TestVariables(t *testing.T) {
	for _, d := range load(t) {
		ds := d.Variable("datasource")
		if ds == nil || ds.Type != "datasource" || ds.Query != "prometheus" {
			t.Errorf("%s: want a datasource variable of plugin type prometheus, got %+v", d.UID, ds)
		}
		c := d.Variable("cluster")
		if c == nil {
			t.Errorf("%s: no cluster variable", d.UID)
			continue
		}
		if c.Type != "query" || c.Datasource != dsRefUID || !c.Multi || !c.IncludeAll || c.AllValue != ".+" {
			t.Errorf("%s: cluster variable %+v: want a multi-value query variable on ${datasource} whose All is .+", d.UID, c)
		}
		if _, label, ok := LabelValuesQuery(c.Query); !ok || label != "etcd_cluster" {
			t.Errorf("%s: cluster variable query %q: want label_values(..., etcd_cluster)", d.UID, c.Query)
		}
		for _, v := range d.Variables {
			if v.Type == "query" {
				if v.Datasource != dsRefUID {
					t.Errorf("%s: variable %s uses data source %q, want %s", d.UID, v.Name, v.Datasource, dsRefUID)
				}
				if _, _, ok := LabelValuesQuery(v.Query); !ok {
					t.Errorf("%s: variable %s: query %q is not label_values(selector, label)", d.UID, v.Name, v.Query)
				}
			}
		}
	}
}

// Every panel is on the grid, has a unique id, queries the data source
// variable, and every query has an expression.
func TestPanels(t *testing.T) {
	types := []string{"row", "stat", "timeseries", "table", "heatmap", "bargauge", "state-timeline"}
	for _, d := range load(t) {
		ids := map[int]string{}
		titles := map[string]bool{}
		var boxes []Panel
		for _, p := range d.Panels {
			where := fmt.Sprintf("%s panel %d %q", d.UID, p.ID, p.Title)
			if p.ID <= 0 {
				t.Errorf("%s: id must be positive", where)
			}
			if other, dup := ids[p.ID]; dup {
				t.Errorf("%s: id also used by %q", where, other)
			}
			ids[p.ID] = p.Title
			if p.Title == "" {
				t.Errorf("%s: no title", where)
			}
			if titles[p.Title] {
				t.Errorf("%s: title used twice (the tests find panels by title)", where)
			}
			titles[p.Title] = true
			if !slices.Contains(types, p.Type) {
				t.Errorf("%s: panel type %q is not one of %v", where, p.Type, types)
			}
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v is off Grafana's 24-column grid", where, g)
			}
			for _, o := range boxes {
				og := o.GridPos
				if g.X < og.X+og.W && og.X < g.X+g.W && g.Y < og.Y+og.H && og.Y < g.Y+g.H {
					t.Errorf("%s: overlaps panel %q (%+v and %+v)", where, o.Title, g, og)
				}
			}
			boxes = append(boxes, p)
			if p.Type == "row" {
				if len(p.Targets) > 0 {
					t.Errorf("%s: a row has queries", where)
				}
				continue
			}
			if p.Datasource != dsRefUID {
				t.Errorf("%s: data source %q, want %s", where, p.Datasource, dsRefUID)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no queries", where)
			}
			refs := map[string]bool{}
			for _, q := range p.Targets {
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("%s [%s]: empty expr", where, q.RefID)
				}
				if q.RefID == "" || refs[q.RefID] {
					t.Errorf("%s: refId %q missing or repeated", where, q.RefID)
				}
				refs[q.RefID] = true
				if q.Datasource != dsRefUID {
					t.Errorf("%s [%s]: data source %q, want %s", where, q.RefID, q.Datasource, dsRefUID)
				}
				if q.Instant == q.Range {
					t.Errorf("%s [%s]: want exactly one of instant and range", where, q.RefID)
				}
				if p.Type == "table" && q.Format != "table" {
					t.Errorf("%s [%s]: table panels take format table, got %q", where, q.RefID, q.Format)
				}
				if p.Type == "heatmap" && q.Format != "heatmap" {
					t.Errorf("%s [%s]: heatmap panels take format heatmap, got %q", where, q.RefID, q.Format)
				}
			}
		}
	}
}

// Every variable a query refers to exists, and every variable is used.
func TestVariableReferences(t *testing.T) {
	for _, d := range load(t) {
		declared := map[string]bool{}
		for _, v := range d.Variables {
			declared[v.Name] = true
		}
		used := map[string]bool{"datasource": true} // referenced by ${datasource} in data source fields
		check := func(where, expr string) {
			for _, n := range VariablesIn(expr) {
				used[n] = true
				if !declared[n] && !slices.Contains(BuiltinVariables, n) {
					t.Errorf("%s: %s refers to $%s, which the dashboard does not declare", d.UID, where, n)
				}
			}
		}
		for _, q := range d.Queries() {
			check(q.String(), q.Expr)
		}
		for _, v := range d.Variables {
			check("variable "+v.Name, v.Query)
		}
		for _, v := range d.Variables {
			if !used[v.Name] {
				t.Errorf("%s: variable %s is declared but no query uses it", d.UID, v.Name)
			}
		}
	}
}

// The panels the issue asks for exist (the e2e test queries them by title).
func TestRequiredPanels(t *testing.T) {
	want := map[string][]string{
		UIDOverview: {"Clusters", "Quorum", "Leader", "Failure tolerance", "Alarms", "Members",
			"Probe latency percentiles", "Probe latency heatmap", "Leader changes", "DB size against quota",
			"Fragmentation", "Raft index lag", "Write rate", "TLS certificate expiry"},
		UIDEtcd: {"WAL fsync p99", "Backend commit p99", "Peer round trip p99", "Proposals", "Requests",
			"Failed requests", "CPU", "Memory", "Open file descriptors", "Network bandwidth", "Watchers",
			"Connected clients (open streams)"},
		UIDBenchmark: {"Last runs", "Throughput", "Latency percentiles", "Throughput against baseline"},
	}
	for _, d := range load(t) {
		for _, title := range want[d.UID] {
			if p := d.Panel(title); p == nil || p.Type == "row" {
				t.Errorf("%s: no panel %q", d.UID, title)
			}
		}
	}
}

// ExampleValues expand every variable the dashboards use, for checks that
// need plain PromQL.
var exampleValues = map[string]string{
	"cluster": "prod", "instance": "10.0.0.1:2379", "workload": "write", "baseline": "7d",
	"__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000", "__range": "1h", "__range_s": "3600", "__range_ms": "3600000",
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`up{etcd_cluster=~"$cluster"}`, `up{etcd_cluster=~"prod"}`},
		{`rate(x[$__rate_interval])`, `rate(x[1m])`},
		{`x{a="${cluster}",b="${cluster:regex}"}`, `x{a="prod",b="prod"}`},
		{`x{a="$clusterx"}`, `x{a="$clusterx"}`}, // another name: left alone
		{`x{a=~"foo$"}`, `x{a=~"foo$"}`},         // a regex anchor is no variable
	} {
		if got := Expand(tc.in, exampleValues); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := VariablesIn(`a{x="$cluster",y="${instance}"}[$__rate_interval] $cluster`); !slices.Equal(got, []string{"cluster", "instance", "__rate_interval"}) {
		t.Errorf("VariablesIn: %v", got)
	}
	if s, l, ok := LabelValuesQuery(`label_values(up{job="a,b"}, instance)`); !ok || s != `up{job="a,b"}` || l != "instance" {
		t.Errorf("LabelValuesQuery: %q %q %v", s, l, ok)
	}
}

// Every expression, variables expanded, is valid PromQL: promtool checks
// them as recording rules. (../e2e runs them against a live Prometheus.)
func TestQueriesArePromQL(t *testing.T) {
	promtool := testbin.Require(t, "run `make tools`", "promtool")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rule
	var where []string
	for _, d := range load(t) {
		for _, q := range d.Queries() {
			rules = append(rules, rule{Record: fmt.Sprintf("dashboard_query_%d", len(rules)), Expr: Expand(q.Expr, exampleValues)})
			where = append(where, q.String())
		}
		for _, v := range d.Variables {
			if sel, _, ok := LabelValuesQuery(v.Query); ok {
				rules = append(rules, rule{Record: fmt.Sprintf("dashboard_query_%d", len(rules)), Expr: Expand(sel, exampleValues)})
				where = append(where, d.UID+" variable "+v.Name)
			}
		}
	}
	for i, r := range rules {
		if len(VariablesIn(r.Expr)) > 0 {
			t.Errorf("%s: unexpanded variable left in %q", where[i], r.Expr)
		}
	}
	groups := map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}}
	out, err := runPromtool(t, promtool, "dashboards.rules.yml", groups, "check", "rules")
	if err != nil {
		// promtool names the rule (dashboard_query_N) and the parse error.
		msg := string(out)
		for i := len(where) - 1; i >= 0; i-- {
			msg = strings.ReplaceAll(msg, fmt.Sprintf("dashboard_query_%d", i), where[i])
		}
		t.Fatalf("promtool check rules: %v\n%s", err, msg)
	}
	t.Logf("%d expressions are valid PromQL", len(rules))
}

// runPromtool writes doc as YAML to a file named name and runs promtool
// with args and that file.
func runPromtool(t *testing.T, promtool, name string, doc any, args ...string) ([]byte, error) {
	t.Helper()
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return exec.Command(promtool, append(args, f)...).CombinedOutput()
}

func TestProvisioning(t *testing.T) {
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, URL, Access string
			IsDefault                    bool `yaml:"isDefault"`
			JSONData                     struct {
				TimeInterval string `yaml:"timeInterval"`
			} `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	readYAML(t, "provisioning/datasources/etcd-monitor.yml", &ds)
	if ds.APIVersion != 1 || len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL == "" || ds.Datasources[0].Access != "proxy" {
		t.Errorf("datasource provisioning: %+v: want apiVersion 1 and one prometheus data source with a URL, access proxy", ds)
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "provisioning/dashboards/etcd-monitor.yml", &prov)
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || !filepath.IsAbs(prov.Providers[0].Options.Path) {
		t.Errorf("dashboard provisioning: %+v: want one file provider with an absolute path", prov)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(false)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
