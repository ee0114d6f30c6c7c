package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The house style of the dashboards on top of Grafana's Foundation SDK:
// every panel and query on the data source variable, and the same options
// for every panel of a kind, so each dashboard file only says what differs.

// datasourceVar is the name of the data source variable every panel and
// query refers to, so the dashboards work with any Prometheus data source.
const datasourceVar = "datasource"

var promDS = commonDS("prometheus", "${"+datasourceVar+"}")

func commonDS(typ, uid string) common.DataSourceRef {
	return common.DataSourceRef{Type: &typ, Uid: &uid}
}

// query is a PromQL query of a panel; the panel constructors give each its
// refId (A, B, ...) in order.
type query = *prometheus.DataqueryBuilder

func promQ(expr, legend string, format prometheus.PromQueryFormat) query {
	return prometheus.NewDataqueryBuilder().Datasource(promDS).EditorMode(prometheus.QueryEditorModeCode).
		Expr(expr).Format(format).LegendFormat(legend)
}

// rangeQ is a time series query (timeseries, state timeline panels).
func rangeQ(expr, legend string) query {
	return promQ(expr, legend, prometheus.PromQueryFormatTimeSeries).Range()
}

// instantQ is a query at the end of the time range (stat, bar gauge).
func instantQ(expr, legend string) query {
	return promQ(expr, legend, prometheus.PromQueryFormatTimeSeries).Instant()
}

// tableQ is an instant query whose labels become table columns.
func tableQ(expr string) query {
	return promQ(expr, "__auto", prometheus.PromQueryFormatTable).Instant()
}

// heatmapQ is a range query of histogram buckets, one series per bucket.
func heatmapQ(expr string) query {
	return promQ(expr, "{{le}}", prometheus.PromQueryFormatHeatmap).Range()
}

// targets names the queries A, B, ... in order.
func targets(qs []query) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(qs))
	for i, q := range qs {
		out[i] = q.RefId(string(rune('A' + i)))
	}
	return out
}

func reduceLast() *common.ReduceDataOptionsBuilder {
	return common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false)
}

func byThresholds() *dashboard.FieldColorBuilder {
	return dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)
}

// newStat shows the last value of each series.
func newStat(title, desc, unit string, qs ...query) *stat.PanelBuilder {
	return stat.NewPanelBuilder().Title(title).Description(desc).Datasource(promDS).Targets(targets(qs)).
		Unit(unit).ColorScheme(byThresholds()).Thresholds(thresholds(step{color: "green"})).
		ColorMode(common.BigValueColorModeBackground).GraphMode(common.BigValueGraphModeNone).
		JustifyMode(common.BigValueJustifyModeAuto).Orientation(common.VizOrientationAuto).
		ReduceOptions(reduceLast()).ShowPercentChange(false).TextMode(common.BigValueTextModeAuto).WideLayout(true)
}

// legend is a legend below or beside a graph; calcs are the values it shows
// of each series.
func legend(mode common.LegendDisplayMode, placement common.LegendPlacement, calcs ...string) *common.VizLegendOptionsBuilder {
	if calcs == nil {
		calcs = []string{} // Grafana reads calcs as a list, never null
	}
	return common.NewVizLegendOptionsBuilder().Calcs(calcs).DisplayMode(mode).Placement(placement).ShowLegend(true)
}

// newTimeseries is a graph of range queries.
func newTimeseries(title, desc, unit string, qs ...query) *timeseries.PanelBuilder {
	return timeseries.NewPanelBuilder().Title(title).Description(desc).Datasource(promDS).Targets(targets(qs)).
		Unit(unit).ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic)).
		DrawStyle(common.GraphDrawStyleLine).FillOpacity(10).LineWidth(1).PointSize(4).ShowPoints(common.VisibilityModeNever).
		SpanNulls(common.BoolOrFloat64{Bool: cog.ToPtr(false)}).AxisSoftMin(0).
		Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNone).Group("A")).
		Legend(legend(common.LegendDisplayModeTable, common.LegendPlacementBottom, "lastNotNull", "max")).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending))
}

// stepped draws each value until the next, without fill: a benchmark
// result holds until the next run replaces it.
func stepped(p *timeseries.PanelBuilder) *timeseries.PanelBuilder {
	return p.LineInterpolation(common.LineInterpolationStepAfter).FillOpacity(0)
}

// newTable joins instant table queries on their common labels. columns maps
// a query's "Value #<refId>" column to its title; order lists the columns
// first (labels included), the rest follow; hide lists columns left out.
func newTable(title, desc string, columns map[string]string, order []string, hide []string, qs ...query) *table.PanelBuilder {
	exclude := map[string]bool{"Time": true}
	for _, h := range hide {
		exclude[h] = true
	}
	index := map[string]int{}
	for i, c := range order {
		index[c] = i
	}
	return table.NewPanelBuilder().Title(title).Description(desc).Datasource(promDS).Targets(targets(qs)).
		Align(common.FieldTextAlignmentAuto).CellOptions(common.TableCellOptions{TableAutoCellOptions: common.NewTableAutoCellOptions()}).
		Inspect(false).CellHeight(common.TableCellHeightSm).ShowHeader(true).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"})).
		Transformations([]dashboard.DataTransformerConfig{
			{Id: "merge", Options: map[string]any{}},
			{Id: "organize", Options: map[string]any{"excludeByName": exclude, "indexByName": index, "renameByName": columns}},
		})
}

// newHeatmap shows a histogram's buckets over time as Prometheus computed
// them.
func newHeatmap(title, desc, unit string, q query) *heatmap.PanelBuilder {
	return heatmap.NewPanelBuilder().Title(title).Description(desc).Datasource(promDS).Targets(targets([]query{q})).
		Calculate(false).CellGap(1).
		Color(heatmap.NewHeatmapColorOptionsBuilder().Exponent(0.5).Fill("dark-orange").Mode(heatmap.HeatmapColorModeScheme).
			Reverse(false).Scale(heatmap.HeatmapColorScaleExponential).Scheme("Oranges").Steps(64)).
		ExemplarsColor("rgba(255,0,255,0.7)").FilterValues(heatmap.NewFilterValueRangeBuilder().Le(1e-9)).
		ShowLegend().RowsFrame(heatmap.NewRowsHeatmapOptionsBuilder().Layout(common.HeatmapCellLayoutAuto)).
		Tooltip(heatmap.NewHeatmapTooltipBuilder().Mode(common.TooltipDisplayModeSingle).ShowColorScale(false).YHistogram(true)).
		YAxis(heatmap.NewYAxisConfigBuilder().AxisPlacement(common.AxisPlacementLeft).Reverse(false).Unit(unit))
}

// newBarGauge shows the last value of each series as a bar.
func newBarGauge(title, desc, unit string, qs ...query) *bargauge.PanelBuilder {
	return bargauge.NewPanelBuilder().Title(title).Description(desc).Datasource(promDS).Targets(targets(qs)).
		Unit(unit).ColorScheme(byThresholds()).Thresholds(thresholds(step{color: "green"})).
		DisplayMode(common.BarGaugeDisplayModeGradient).MaxVizHeight(300).MinVizHeight(16).MinVizWidth(8).
		NamePlacement(common.BarGaugeNamePlacementAuto).Orientation(common.VizOrientationHorizontal).
		ReduceOptions(reduceLast()).ShowUnfilled(true).Sizing(common.BarGaugeSizingAuto).ValueMode(common.BarGaugeValueModeColor)
}

// newStateTimeline shows 0/1 states of each series over time.
func newStateTimeline(title, desc string, qs ...query) *statetimeline.PanelBuilder {
	return statetimeline.NewPanelBuilder().Title(title).Description(desc).Datasource(promDS).Targets(targets(qs)).
		ColorScheme(byThresholds()).FillOpacity(80).LineWidth(0).NeverSpanNulls().
		AlignValue(common.TimelineValueAlignmentLeft).
		Legend(legend(common.LegendDisplayModeList, common.LegendPlacementBottom)).
		MergeValues(true).RowHeight(0.9).ShowValue(common.VisibilityModeNever).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeSingle).Sort(common.SortOrderNone))
}

type step struct {
	color string
	value float64
}

// thresholds are absolute colour steps; the first step is the base (no
// value).
func thresholds(steps ...step) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(thresholdSteps(steps))
}

func thresholdSteps(steps []step) []dashboard.Threshold {
	out := make([]dashboard.Threshold, len(steps))
	for i, st := range steps {
		out[i] = dashboard.Threshold{Color: st.color}
		if i > 0 {
			out[i].Value = cog.ToPtr(st.value)
		}
	}
	return out
}

// mapping names values, e.g. 0 → "LOST" in red.
type mapping struct {
	value, text, color string
}

func mappings(ms ...mapping) []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	for i, m := range ms {
		opts[m.value] = dashboard.ValueMappingResult{Color: cog.ToPtr(m.color), Index: cog.ToPtr(int32(i)), Text: cog.ToPtr(m.text)}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}

// Override properties. Grafana keeps them untyped (an id and a value), so
// these helpers are where their values get the SDK's types.
type property = dashboard.DynamicConfigValue

func props(ps ...property) []property { return ps }

func unitProp(u string) property { return property{Id: "unit", Value: u} }
func mappingsProp(ms ...mapping) property {
	return property{Id: "mappings", Value: mappings(ms...)}
}
func colorCells() property {
	return property{Id: "custom.cellOptions", Value: common.TableCellOptions{TableColoredBackgroundCellOptions: &common.TableColoredBackgroundCellOptions{
		Type: common.TableCellDisplayModeColorBackground, Mode: cog.ToPtr(common.TableCellBackgroundDisplayModeBasic),
	}}}
}
func thresholdsProp(steps ...step) property {
	return property{Id: "thresholds", Value: dashboard.ThresholdsConfig{Mode: dashboard.ThresholdsModeAbsolute, Steps: thresholdSteps(steps)}}
}
func dashedLine() property {
	return property{Id: "custom.lineStyle", Value: common.LineStyle{Dash: []float64{10, 10}, Fill: cog.ToPtr(common.LineStyleFillDash)}}
}
func fixedColor(c string) property {
	return property{Id: "color", Value: dashboard.FieldColor{FixedColor: cog.ToPtr(c), Mode: dashboard.FieldColorModeIdFixed}}
}

// Up/down style value mappings.
var (
	okBad = []mapping{{"0", "NO", "red"}, {"1", "YES", "green"}}
	badOK = []mapping{{"0", "NO", "green"}, {"1", "YES", "red"}}
)
