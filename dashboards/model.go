package dashboards

import (
	"fmt"
	"strings"
)

// The Grafana dashboard JSON model, only as much of it as the dashboards
// use. Struct field order is the JSON key order, so a render is stable.

// schemaVersion is the dashboard schema the files are written in (Grafana
// 10.4 and later read it; newer versions migrate it on load).
const schemaVersion = 39

// datasourceVar is the name of the data source variable every panel and
// query refers to, so the dashboards work with any Prometheus data source.
const datasourceVar = "datasource"

type dsRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

var promDS = &dsRef{Type: "prometheus", UID: "${" + datasourceVar + "}"}

type dashboard struct {
	Annotations          annotations    `json:"annotations"`
	Description          string         `json:"description"`
	Editable             bool           `json:"editable"`
	FiscalYearStartMonth int            `json:"fiscalYearStartMonth"`
	GraphTooltip         int            `json:"graphTooltip"`
	ID                   *int           `json:"id"`
	Links                []link         `json:"links"`
	Panels               []*panel       `json:"panels"`
	Refresh              string         `json:"refresh"`
	SchemaVersion        int            `json:"schemaVersion"`
	Tags                 []string       `json:"tags"`
	Templating           templating     `json:"templating"`
	Time                 timeRange      `json:"time"`
	Timepicker           map[string]any `json:"timepicker"`
	Timezone             string         `json:"timezone"`
	Title                string         `json:"title"`
	UID                  string         `json:"uid"`
	Version              int            `json:"version"`
}

type annotations struct {
	List []annotation `json:"list"`
}

type annotation struct {
	BuiltIn    int    `json:"builtIn,omitempty"`
	Datasource *dsRef `json:"datasource"`
	Enable     bool   `json:"enable"`
	Expr       string `json:"expr,omitempty"`
	Hide       bool   `json:"hide"`
	IconColor  string `json:"iconColor"`
	Name       string `json:"name"`
	Step       string `json:"step,omitempty"`
	TagKeys    string `json:"tagKeys,omitempty"`
	TextFormat string `json:"textFormat,omitempty"`
	TitleFmt   string `json:"titleFormat,omitempty"`
	Type       string `json:"type,omitempty"`
	UseValue   bool   `json:"useValueForTime,omitempty"`
}

// builtInAnnotation is Grafana's own annotations and alerts entry, which
// every dashboard has.
func builtInAnnotation() annotation {
	return annotation{
		BuiltIn: 1, Datasource: &dsRef{Type: "grafana", UID: "-- Grafana --"}, Enable: true, Hide: true,
		IconColor: "rgba(0, 211, 255, 1)", Name: "Annotations & Alerts", Type: "dashboard",
	}
}

type link struct {
	AsDropdown  bool     `json:"asDropdown"`
	Icon        string   `json:"icon"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
	Tags        []string `json:"tags"`
	TargetBlank bool     `json:"targetBlank"`
	Title       string   `json:"title"`
	Tooltip     string   `json:"tooltip"`
	Type        string   `json:"type"`
	URL         string   `json:"url"`
}

type templating struct {
	List []variable `json:"list"`
}

type variable struct {
	AllValue    string         `json:"allValue,omitempty"`
	Current     map[string]any `json:"current"`
	Datasource  *dsRef         `json:"datasource,omitempty"`
	Definition  string         `json:"definition,omitempty"`
	Description string         `json:"description,omitempty"`
	Hide        int            `json:"hide"`
	IncludeAll  bool           `json:"includeAll"`
	Label       string         `json:"label"`
	Multi       bool           `json:"multi"`
	Name        string         `json:"name"`
	Options     []any          `json:"options"`
	Query       any            `json:"query"`
	Refresh     int            `json:"refresh"`
	Regex       string         `json:"regex"`
	Sort        int            `json:"sort,omitempty"`
	Type        string         `json:"type"`
}

// datasourceVariable selects the Prometheus data source.
func datasourceVariable() variable {
	return variable{
		Current: map[string]any{}, Label: "Data source", Name: datasourceVar, Options: []any{},
		Query: "prometheus", Refresh: 1, Type: "datasource",
		Description: "The Prometheus that scrapes etcd-monitor (and etcd, and the Pushgateway).",
	}
}

// queryVariable is a label_values() variable over the data source. With
// multi and includeAll, "All" is the regex allAll, so selectors are written
// label=~"$name".
func queryVariable(name, label, metric, labelName, desc string) variable {
	def := fmt.Sprintf("label_values(%s, %s)", metric, labelName)
	return variable{
		AllValue: ".+", Current: map[string]any{}, Datasource: promDS, Definition: def, Description: desc,
		IncludeAll: true, Label: label, Multi: true, Name: name, Options: []any{},
		Query:   map[string]any{"qryType": 1, "query": def, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
		Refresh: 2, Sort: 1, Type: "query",
	}
}

// customVariable is a fixed list of values; the first is the default.
func customVariable(name, label, desc string, values ...string) variable {
	var opts []any
	for i, v := range values {
		opts = append(opts, map[string]any{"selected": i == 0, "text": v, "value": v})
	}
	return variable{
		Current: map[string]any{"selected": true, "text": values[0], "value": values[0]}, Description: desc,
		Label: label, Name: name, Options: opts, Query: strings.Join(values, ","), Type: "custom",
	}
}

type timeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

type panel struct {
	Collapsed       *bool            `json:"collapsed,omitempty"`
	Datasource      *dsRef           `json:"datasource,omitempty"`
	Description     string           `json:"description,omitempty"`
	FieldConfig     *fieldConfig     `json:"fieldConfig,omitempty"`
	GridPos         gridPos          `json:"gridPos"`
	ID              int              `json:"id"`
	Interval        string           `json:"interval,omitempty"`
	Options         map[string]any   `json:"options,omitempty"`
	Panels          []*panel         `json:"panels,omitempty"`
	Targets         []target         `json:"targets,omitempty"`
	Title           string           `json:"title"`
	Transformations []transformation `json:"transformations,omitempty"`
	Type            string           `json:"type"`

	// Layout, not part of the JSON.
	w, h int
}

type fieldConfig struct {
	Defaults  map[string]any `json:"defaults"`
	Overrides []override     `json:"overrides"`
}

type override struct {
	Matcher    map[string]any `json:"matcher"`
	Properties []property     `json:"properties"`
}

type property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

type transformation struct {
	ID      string         `json:"id"`
	Options map[string]any `json:"options"`
}

type target struct {
	Datasource   *dsRef `json:"datasource"`
	EditorMode   string `json:"editorMode"`
	Expr         string `json:"expr"`
	Format       string `json:"format"`
	Instant      bool   `json:"instant"`
	LegendFormat string `json:"legendFormat"`
	Range        bool   `json:"range"`
	RefID        string `json:"refId"`
}

// rangeQ is a time series query (timeseries, state timeline panels).
func rangeQ(expr, legend string) target {
	return target{Datasource: promDS, EditorMode: "code", Expr: expr, Format: "time_series", LegendFormat: legend, Range: true}
}

// instantQ is a query at the end of the time range (stat, bar gauge).
func instantQ(expr, legend string) target {
	return target{Datasource: promDS, EditorMode: "code", Expr: expr, Format: "time_series", Instant: true, LegendFormat: legend}
}

// tableQ is an instant query whose labels become table columns.
func tableQ(expr string) target {
	return target{Datasource: promDS, EditorMode: "code", Expr: expr, Format: "table", Instant: true, LegendFormat: "__auto"}
}

// heatmapQ is a range query of histogram buckets, one series per bucket.
func heatmapQ(expr string) target {
	return target{Datasource: promDS, EditorMode: "code", Expr: expr, Format: "heatmap", LegendFormat: "{{le}}", Range: true}
}

func newPanel(typ, title, desc string, targets []target) *panel {
	for i := range targets {
		targets[i].RefID = string(rune('A' + i))
	}
	return &panel{
		Datasource: promDS, Description: desc, Title: title, Type: typ, Targets: targets,
		FieldConfig: &fieldConfig{Defaults: map[string]any{}, Overrides: []override{}},
		Options:     map[string]any{},
	}
}

var reduceLast = map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false}

// stat shows the last value of each series.
func stat(title, desc, unit string, targets ...target) *panel {
	p := newPanel("stat", title, desc, targets)
	p.FieldConfig.Defaults["unit"] = unit
	p.FieldConfig.Defaults["color"] = map[string]any{"mode": "thresholds"}
	p.thresholds(step{color: "green"})
	p.Options = map[string]any{
		"colorMode": "background", "graphMode": "none", "justifyMode": "auto", "orientation": "auto",
		"reduceOptions": reduceLast, "showPercentChange": false, "textMode": "auto", "wideLayout": true,
	}
	return p
}

// timeseries is a graph of range queries.
func timeseries(title, desc, unit string, targets ...target) *panel {
	p := newPanel("timeseries", title, desc, targets)
	p.FieldConfig.Defaults["unit"] = unit
	p.FieldConfig.Defaults["color"] = map[string]any{"mode": "palette-classic"}
	p.FieldConfig.Defaults["custom"] = map[string]any{
		"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1, "pointSize": 4, "showPoints": "never",
		"spanNulls": false, "axisSoftMin": 0, "stacking": map[string]any{"mode": "none", "group": "A"},
	}
	p.Options = map[string]any{
		"legend":  map[string]any{"calcs": []string{"lastNotNull", "max"}, "displayMode": "table", "placement": "bottom", "showLegend": true},
		"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
	}
	return p
}

// table joins instant table queries on their common labels. columns maps
// a query's "Value #<refId>" column to its title; order lists the columns
// first (labels included), the rest follow.
func table(title, desc string, columns map[string]string, order []string, hide []string, targets ...target) *panel {
	p := newPanel("table", title, desc, targets)
	p.FieldConfig.Defaults["custom"] = map[string]any{"align": "auto", "cellOptions": map[string]any{"type": "auto"}, "inspect": false}
	p.Options = map[string]any{"cellHeight": "sm", "showHeader": true, "footer": map[string]any{"show": false, "reducer": []string{"sum"}, "fields": ""}}
	exclude := map[string]bool{"Time": true}
	for _, h := range hide {
		exclude[h] = true
	}
	index := map[string]int{}
	for i, c := range order {
		index[c] = i
	}
	p.Transformations = []transformation{
		{ID: "merge", Options: map[string]any{}},
		{ID: "organize", Options: map[string]any{"excludeByName": exclude, "indexByName": index, "renameByName": columns}},
	}
	return p
}

// heatmap shows a histogram's buckets over time as Prometheus computed them.
func heatmap(title, desc, unit string, t target) *panel {
	p := newPanel("heatmap", title, desc, []target{t})
	p.Options = map[string]any{
		"calculate": false, "cellGap": 1,
		"color":     map[string]any{"exponent": 0.5, "fill": "dark-orange", "mode": "scheme", "reverse": false, "scale": "exponential", "scheme": "Oranges", "steps": 64},
		"exemplars": map[string]any{"color": "rgba(255,0,255,0.7)"}, "filterValues": map[string]any{"le": 1e-9},
		"legend": map[string]any{"show": true}, "rowsFrame": map[string]any{"layout": "auto"},
		"tooltip": map[string]any{"mode": "single", "showColorScale": false, "yHistogram": true},
		"yAxis":   map[string]any{"axisPlacement": "left", "reverse": false, "unit": unit},
	}
	return p
}

// bargauge shows the last value of each series as a bar.
func bargauge(title, desc, unit string, targets ...target) *panel {
	p := newPanel("bargauge", title, desc, targets)
	p.FieldConfig.Defaults["unit"] = unit
	p.FieldConfig.Defaults["color"] = map[string]any{"mode": "thresholds"}
	p.thresholds(step{color: "green"})
	p.Options = map[string]any{
		"displayMode": "gradient", "maxVizHeight": 300, "minVizHeight": 16, "minVizWidth": 8, "namePlacement": "auto",
		"orientation": "horizontal", "reduceOptions": reduceLast, "showUnfilled": true, "sizing": "auto", "valueMode": "color",
	}
	return p
}

// stateTimeline shows 0/1 states of each series over time.
func stateTimeline(title, desc string, targets ...target) *panel {
	p := newPanel("state-timeline", title, desc, targets)
	p.FieldConfig.Defaults["color"] = map[string]any{"mode": "thresholds"}
	p.FieldConfig.Defaults["custom"] = map[string]any{"fillOpacity": 80, "lineWidth": 0, "spanNulls": false}
	p.Options = map[string]any{
		"alignValue": "left", "legend": map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
		"mergeValues": true, "rowHeight": 0.9, "showValue": "never", "tooltip": map[string]any{"mode": "single", "sort": "none"},
	}
	return p
}

type step struct {
	color string
	value float64
}

// thresholds sets the colour steps; the first step is the base (no value).
func (p *panel) thresholds(steps ...step) *panel {
	var s []map[string]any
	for i, st := range steps {
		var v any = st.value
		if i == 0 {
			v = nil
		}
		s = append(s, map[string]any{"color": st.color, "value": v})
	}
	p.FieldConfig.Defaults["thresholds"] = map[string]any{"mode": "absolute", "steps": s}
	return p
}

// mapping names values, e.g. 0 → "LOST" in red.
type mapping struct {
	value, text, color string
}

func mappingsJSON(ms []mapping) []any {
	opts := map[string]any{}
	for i, m := range ms {
		opts[m.value] = map[string]any{"color": m.color, "index": i, "text": m.text}
	}
	return []any{map[string]any{"options": opts, "type": "value"}}
}

func (p *panel) mappings(ms ...mapping) *panel {
	p.FieldConfig.Defaults["mappings"] = mappingsJSON(ms)
	return p
}

// noValue is shown when the query returns nothing.
func (p *panel) noValue(text string) *panel {
	p.FieldConfig.Defaults["noValue"] = text
	return p
}

func (p *panel) minMax(min, max float64) *panel {
	p.FieldConfig.Defaults["min"] = min
	p.FieldConfig.Defaults["max"] = max
	return p
}

func (p *panel) decimals(n int) *panel {
	p.FieldConfig.Defaults["decimals"] = n
	return p
}

func (p *panel) option(key string, value any) *panel {
	p.Options[key] = value
	return p
}

// overrideByName sets properties of the field (column or series) so named.
func (p *panel) overrideByName(name string, props ...property) *panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, override{
		Matcher: map[string]any{"id": "byName", "options": name}, Properties: props,
	})
	return p
}

// overrideByQuery sets properties of every series of one query.
func (p *panel) overrideByQuery(refID string, props ...property) *panel {
	p.FieldConfig.Overrides = append(p.FieldConfig.Overrides, override{
		Matcher: map[string]any{"id": "byFrameRefID", "options": refID}, Properties: props,
	})
	return p
}

// Common override properties.
func unitProp(u string) property { return property{ID: "unit", Value: u} }
func mappingsProp(ms ...mapping) property {
	return property{ID: "mappings", Value: mappingsJSON(ms)}
}
func colorCells() property {
	return property{ID: "custom.cellOptions", Value: map[string]any{"type": "color-background", "mode": "basic"}}
}
func thresholdsProp(steps ...step) property {
	q := &panel{FieldConfig: &fieldConfig{Defaults: map[string]any{}}}
	q.thresholds(steps...)
	return property{ID: "thresholds", Value: q.FieldConfig.Defaults["thresholds"]}
}
func dashedLine() property {
	return property{ID: "custom.lineStyle", Value: map[string]any{"dash": []int{10, 10}, "fill": "dash"}}
}
func fixedColor(c string) property {
	return property{ID: "color", Value: map[string]any{"fixedColor": c, "mode": "fixed"}}
}

// Up/down style value mappings.
var (
	okBad = []mapping{{"0", "NO", "red"}, {"1", "YES", "green"}}
	badOK = []mapping{{"0", "NO", "green"}, {"1", "YES", "red"}}
)

// board lays panels out left to right in rows of 24 columns.
type board struct {
	d      *dashboard
	nextID int
	x, y   int
	rowH   int
}

func newBoard(uid, title, desc string, vars ...variable) *board {
	return &board{d: &dashboard{
		Annotations: annotations{List: []annotation{builtInAnnotation()}},
		Description: desc, Editable: true, GraphTooltip: 1,
		Links: []link{{
			AsDropdown: true, Icon: "external link", IncludeVars: true, KeepTime: true,
			Tags: []string{"etcd-monitor"}, Title: "etcd-monitor dashboards", Type: "dashboards",
		}},
		Panels: []*panel{}, Refresh: "30s", SchemaVersion: schemaVersion,
		Tags:       []string{"etcd", "etcd-monitor"},
		Templating: templating{List: append([]variable{datasourceVariable()}, vars...)},
		Time:       timeRange{From: "now-1h", To: "now"}, Timepicker: map[string]any{},
		Title: title, UID: uid, Version: 1,
	}}
}

func (b *board) id() int {
	b.nextID++
	return b.nextID
}

func (b *board) newline() {
	if b.x > 0 {
		b.y += b.rowH
		b.x, b.rowH = 0, 0
	}
}

// row starts a new (expanded) row.
func (b *board) row(title string) {
	b.newline()
	collapsed := false
	b.d.Panels = append(b.d.Panels, &panel{
		Collapsed: &collapsed, GridPos: gridPos{H: 1, W: 24, X: 0, Y: b.y}, ID: b.id(), Title: title, Type: "row",
		Panels: []*panel{},
	})
	b.y++
}

// add places a panel of w columns and h rows after the previous one.
func (b *board) add(w, h int, p *panel) {
	if b.x+w > 24 {
		b.newline()
	}
	p.GridPos = gridPos{H: h, W: w, X: b.x, Y: b.y}
	p.ID = b.id()
	b.d.Panels = append(b.d.Panels, p)
	b.x += w
	if h > b.rowH {
		b.rowH = h
	}
}

// annotateAtValue adds a PromQL annotation whose series values are the
// times (in ms) to mark.
func (b *board) annotateAtValue(name, color, expr, title, text string) {
	b.annotate(name, color, expr, title, text)
	b.d.Annotations.List[len(b.d.Annotations.List)-1].UseValue = true
}

// annotate adds a PromQL annotation: every series of expr marks its time.
func (b *board) annotate(name, color, expr, title, text string) {
	b.d.Annotations.List = append(b.d.Annotations.List, annotation{
		Datasource: promDS, Enable: true, Expr: expr, IconColor: color, Name: name, Step: "$__interval",
		TextFormat: text, TitleFmt: title,
	})
}
