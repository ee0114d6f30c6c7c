package dashboards

import (
	"fmt"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// newBoard starts a dashboard with what all three share: the data source
// variable first, the links menu to the others (by the etcd-monitor tag),
// Grafana's own annotations, 30s refresh over the last hour, a shared
// crosshair. Panels go in with WithRow and WithPanel; the SDK places each
// (Span columns wide, Height rows high) after the previous one, left to
// right in rows of 24 columns.
func newBoard(uid, title, desc string, vars ...cog.Builder[dashboard.VariableModel]) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).Uid(uid).Description(desc).Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).Refresh("30s").Time("now-1h", "now").Timezone("").
		Timepicker(dashboard.NewTimePickerBuilder()).Version(1).
		Tags([]string{"etcd", "etcd-monitor"}).
		Link(dashboard.NewDashboardLinkBuilder("etcd-monitor dashboards").Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{"etcd-monitor"}).AsDropdown(true).Icon("external link").IncludeVars(true).KeepTime(true).
			TargetBlank(false).Tooltip("").Url("")).
		Annotation(dashboard.NewAnnotationQueryBuilder().Name("Annotations & Alerts").BuiltIn(1).Type("dashboard").
			Datasource(grafanaDS).Enable(true).Hide(true).IconColor("rgba(0, 211, 255, 1)")).
		Variables(append([]cog.Builder[dashboard.VariableModel]{datasourceVariable()}, vars...))
}

// grafanaDS is Grafana's own data source, which holds the annotations users
// add by hand.
var grafanaDS = commonDS("grafana", "-- Grafana --")

// row starts a new (expanded) row below the panels so far.
func row(title string) *dashboard.RowBuilder { return dashboard.NewRowBuilder(title) }

// datasourceVariable selects the Prometheus data source.
func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder(datasourceVar).Label("Data source").Type("prometheus").
		Description("The Prometheus that scrapes etcd-monitor (and etcd, and the Pushgateway).")
}

// queryVariable is a label_values() variable over the data source. With
// multi and includeAll, "All" is the regex .+, so selectors are written
// label=~"$name".
func queryVariable(name, label, metric, labelName, desc string) *dashboard.QueryVariableBuilder {
	def := fmt.Sprintf("label_values(%s, %s)", metric, labelName)
	return dashboard.NewQueryVariableBuilder(name).Label(label).Description(desc).Datasource(promDS).Definition(def).
		Query(dashboard.StringOrMap{Map: map[string]any{"qryType": 1, "query": def, "refId": "PrometheusVariableQueryEditor-VariableQuery"}}).
		Multi(true).IncludeAll(true).AllValue(".+").Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).Regex("")
}

// customVariable is a fixed list of values; the first is the default.
func customVariable(name, label, desc string, values ...string) *dashboard.CustomVariableBuilder {
	opts := make([]dashboard.VariableOption, len(values))
	for i, v := range values {
		opts[i] = dashboard.VariableOption{Selected: cog.ToPtr(i == 0), Text: text(v), Value: text(v)}
	}
	return dashboard.NewCustomVariableBuilder(name).Label(label).Description(desc).
		Values(dashboard.StringOrMap{String: cog.ToPtr(strings.Join(values, ","))}).
		Current(opts[0]).Options(opts)
}

func text(s string) dashboard.StringOrArrayOfString {
	return dashboard.StringOrArrayOfString{String: &s}
}

// annotation marks the time of every series of expr on all the panels.
func annotation(name, color, expr, title, text string) *dashboard.AnnotationQueryBuilder {
	return dashboard.NewAnnotationQueryBuilder().Name(name).Datasource(promDS).Enable(true).Hide(false).IconColor(color).
		Expr(expr).Step("$__interval").TitleFormat(title).TextFormat(text)
}

// finish does what the builders cannot: it gives every panel and row its
// id, in order from 1 (the SDK leaves ids to the caller, Grafana needs them
// unique), and takes the links menu and the annotation toggles back out of
// Grafana 12's controls menu, where the SDK puts them by default and no
// builder takes them out: they stay above the panels, as in every Grafana
// version the dashboards support.
func finish(d *dashboard.Dashboard) {
	for i := range d.Links {
		d.Links[i].Placement = nil
	}
	for i := range d.Annotations.List {
		d.Annotations.List[i].Placement = nil
	}
	id := uint32(0)
	for _, p := range d.Panels {
		id++
		switch {
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		case p.Panel != nil:
			p.Panel.Id = cog.ToPtr(id)
		}
	}
}
