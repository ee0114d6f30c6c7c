package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
)

// The dashboards as shipped. Load reads these, not the builders, so the
// tests see exactly what users import.
//
//go:embed *.json
var jsonFiles embed.FS

// FS returns the dashboard JSON files.
func FS() fs.FS { return jsonFiles }

// Dashboard is what the tests need to know of a dashboard file.
type Dashboard struct {
	File        string
	UID         string
	Title       string
	Tags        []string
	Variables   []Variable
	Panels      []Panel // every panel, rows and panels inside collapsed rows included
	Annotations []Annotation
}

// Variable is a template variable.
type Variable struct {
	Name, Type, Label string
	// Query is a query variable's query (e.g. label_values(metric, label)),
	// a data source variable's plugin type, a custom variable's values.
	Query      string
	Datasource string // data source UID of a query variable
	Multi      bool
	IncludeAll bool
	AllValue   string
	Current    string // a custom variable's default
}

// Panel is one panel.
type Panel struct {
	ID         int
	Type       string
	Title      string
	Row        string // title of the row the panel is under
	Datasource string // data source UID
	GridPos    GridPos
	Targets    []Target
}

// GridPos is a panel's place on Grafana's 24-column grid.
type GridPos struct{ X, Y, W, H int }

// Target is one query of a panel.
type Target struct {
	RefID      string
	Expr       string
	Format     string
	Instant    bool
	Range      bool
	Datasource string
}

// Annotation is a PromQL annotation query (Grafana's built-in one has no
// expression and is left out).
type Annotation struct {
	Name, Expr, Datasource string
}

// Query is a PromQL expression of a dashboard and where it comes from.
type Query struct {
	Dashboard string // UID
	Panel     string // panel title, or "annotation: <name>"
	PanelID   int
	RefID     string
	Expr      string
	// Instant queries are evaluated at the end of the time range, the
	// others over all of it.
	Instant bool
}

func (q Query) String() string {
	return fmt.Sprintf("%s/%s [%s]", q.Dashboard, q.Panel, q.RefID)
}

// Load parses every shipped dashboard, ordered by file name.
func Load() ([]*Dashboard, error) {
	names, err := fs.Glob(jsonFiles, "*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []*Dashboard
	for _, n := range names {
		b, err := jsonFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		d, err := Parse(n, b)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

type rawDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// uid accepts a data source written as an object or, as older dashboards
// do, as a name.
func dsUID(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var ds rawDS
	if err := json.Unmarshal(raw, &ds); err == nil {
		return ds.UID
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

type rawPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Format     string          `json:"format"`
		Instant    bool            `json:"instant"`
		Range      bool            `json:"range"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []rawPanel `json:"panels"`
}

type rawDashboard struct {
	UID        string     `json:"uid"`
	Title      string     `json:"title"`
	Tags       []string   `json:"tags"`
	Panels     []rawPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Label      string          `json:"label"`
			Query      json.RawMessage `json:"query"`
			Datasource json.RawMessage `json:"datasource"`
			Multi      bool            `json:"multi"`
			IncludeAll bool            `json:"includeAll"`
			AllValue   string          `json:"allValue"`
			Current    struct {
				Value any `json:"value"`
			} `json:"current"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Name       string          `json:"name"`
			Expr       string          `json:"expr"`
			Datasource json.RawMessage `json:"datasource"`
		} `json:"list"`
	} `json:"annotations"`
}

// Parse reads one dashboard file.
func Parse(file string, b []byte) (*Dashboard, error) {
	var raw rawDashboard
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	d := &Dashboard{File: file, UID: raw.UID, Title: raw.Title, Tags: raw.Tags}
	for _, v := range raw.Templating.List {
		q := ""
		if len(v.Query) > 0 {
			var s string
			if err := json.Unmarshal(v.Query, &s); err == nil {
				q = s
			} else {
				var o struct {
					Query string `json:"query"`
				}
				if err := json.Unmarshal(v.Query, &o); err != nil {
					return nil, fmt.Errorf("%s: variable %s: query is neither a string nor an object: %w", file, v.Name, err)
				}
				q = o.Query
			}
		}
		cur, _ := v.Current.Value.(string)
		d.Variables = append(d.Variables, Variable{
			Name: v.Name, Type: v.Type, Label: v.Label, Query: q, Datasource: dsUID(v.Datasource),
			Multi: v.Multi, IncludeAll: v.IncludeAll, AllValue: v.AllValue, Current: cur,
		})
	}
	for _, a := range raw.Annotations.List {
		if a.Expr != "" {
			d.Annotations = append(d.Annotations, Annotation{Name: a.Name, Expr: a.Expr, Datasource: dsUID(a.Datasource)})
		}
	}
	var walk func(ps []rawPanel, row string)
	walk = func(ps []rawPanel, row string) {
		for _, p := range ps {
			pn := Panel{
				ID: p.ID, Type: p.Type, Title: p.Title, Row: row, Datasource: dsUID(p.Datasource),
				GridPos: GridPos{X: p.GridPos.X, Y: p.GridPos.Y, W: p.GridPos.W, H: p.GridPos.H},
			}
			for _, t := range p.Targets {
				pn.Targets = append(pn.Targets, Target{
					RefID: t.RefID, Expr: t.Expr, Format: t.Format, Instant: t.Instant, Range: t.Range, Datasource: dsUID(t.Datasource),
				})
			}
			d.Panels = append(d.Panels, pn)
			if p.Type == "row" {
				row = p.Title
				walk(p.Panels, row)
			}
		}
	}
	walk(raw.Panels, "")
	return d, nil
}

// Variable returns the variable called name, or nil.
func (d *Dashboard) Variable(name string) *Variable {
	for i := range d.Variables {
		if d.Variables[i].Name == name {
			return &d.Variables[i]
		}
	}
	return nil
}

// Panel returns the first panel titled title, or nil.
func (d *Dashboard) Panel(title string) *Panel {
	for i := range d.Panels {
		if d.Panels[i].Title == title {
			return &d.Panels[i]
		}
	}
	return nil
}

// Queries returns every PromQL expression of the dashboard: panel targets
// and annotations.
func (d *Dashboard) Queries() []Query {
	var out []Query
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{Dashboard: d.UID, Panel: p.Title, PanelID: p.ID, RefID: t.RefID, Expr: t.Expr, Instant: t.Instant && !t.Range})
		}
	}
	for _, a := range d.Annotations {
		out = append(out, Query{Dashboard: d.UID, Panel: "annotation: " + a.Name, Expr: a.Expr})
	}
	return out
}

// varRef matches Grafana's variable syntaxes: $name, ${name} and
// ${name:format}. ([[name]] is deprecated and not used here.)
var varRef = regexp.MustCompile(`\$\{(\w+)(?::[^}]*)?\}|\$(\w+)`)

// VariablesIn returns the names of the variables s refers to.
func VariablesIn(s string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range varRef.FindAllStringSubmatch(s, -1) {
		n := m[1] + m[2]
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// Expand replaces the variables of s that vals has a value for, as Grafana
// does before it sends a query; the others are left in place.
func Expand(s string, vals map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		m := varRef.FindStringSubmatch(ref)
		if v, ok := vals[m[1]+m[2]]; ok {
			return v
		}
		return ref
	})
}

// BuiltinVariables are Grafana's own variables that PromQL queries use.
var BuiltinVariables = []string{"__interval", "__interval_ms", "__rate_interval", "__range", "__range_s", "__range_ms"}

// LabelValuesQuery splits a variable query label_values(selector, label)
// into its parts; ok is false for any other form.
func LabelValuesQuery(q string) (selector, label string, ok bool) {
	q = strings.TrimSpace(q)
	if !strings.HasPrefix(q, "label_values(") || !strings.HasSuffix(q, ")") {
		return "", "", false
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(q, "label_values("), ")")
	i := strings.LastIndex(inner, ",")
	if i < 0 {
		return "", "", false
	}
	return strings.TrimSpace(inner[:i]), strings.TrimSpace(inner[i+1:]), true
}
