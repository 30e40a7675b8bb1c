"""Panel, query, link and variable helpers shared by every IPP dashboard (grafana-foundation-sdk builders)."""

from __future__ import annotations

import string
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders import bargauge, dashboard, heatmap, prometheus, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import heatmap as heatmap_model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from grafana.site import SiteSettings
from grafana.thresholds import RuleThreshold

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
GREEN, ORANGE, RED, BLUE, GREY = "green", "orange", "red", "blue", "text"


# --- queries -------------------------------------------------------------------------------------

def query(expr: str, legend: str = "", *, instant: bool = False) -> prometheus.Dataquery:
    """A Prometheus range query, or an instant one in table format (stat and bar gauge panels undo the format)."""
    target = prometheus.Dataquery().expr(expr).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    if instant:
        target = target.instant().format(PromQueryFormat.TABLE)
    return target


def series_format(targets) -> list[prometheus.Dataquery]:
    """Targets as time series frames: a stat or bar gauge shows one value per series, not per table row."""
    return [target.format(PromQueryFormat.TIME_SERIES) for target in targets]


def rate(counter: str, selector: str = "") -> str:
    """rate() of a counter over $__rate_interval, so a window always holds at least four scrapes."""
    return f"rate({counter}{{{selector}}}[$__rate_interval])" if selector else f"rate({counter}[$__rate_interval])"


# --- thresholds, mappings, links -----------------------------------------------------------------

def steps(*pairs: tuple[float | None, str]) -> dashboard.ThresholdsConfig:
    """Absolute threshold steps: (None, base colour), (value, colour), ..."""
    return (dashboard.ThresholdsConfig().mode(model.ThresholdsMode.ABSOLUTE)
            .steps([model.Threshold(value=value, color=colour) for value, colour in pairs]))


def above(rule: RuleThreshold) -> dashboard.ThresholdsConfig:
    """Green below the rule's thresholds, orange from the first, red from the second (the alert's severities)."""
    colours = (ORANGE, RED) if len(rule.values) > 1 else (RED,)
    return steps((None, GREEN), *zip(rule.values, colours, strict=True))


def below(rule: RuleThreshold) -> dashboard.ThresholdsConfig:
    """Red below the rule's threshold, green from it up."""
    return steps((None, RED), (rule.values[0], GREEN))


def value_text(mapping: dict[str, tuple[str, str]]) -> model.ValueMap:
    """Show raw values as words with a colour: {"1": ("up", "green"), ...}."""
    return model.ValueMap(options={raw: model.ValueMappingResult(text=text, color=colour, index=index)
                                   for index, (raw, (text, colour)) in enumerate(mapping.items())})


YES_NO = value_text({"1": ("yes", GREEN), "0": ("no", RED)})


def link(title: str, url: str) -> model.DashboardLink:
    """A data link that opens in a new tab (action pages preview before anything runs)."""
    return dashboard.DashboardLink(title).url(url).target_blank(True).build()


class Built(cogbuilder.Builder):
    """Wrap an already built model where the SDK's panel builders want a builder."""

    def __init__(self, built) -> None:
        self._built = built

    def build(self):
        return self._built


def action_url(path: str, **params: str) -> str:
    """An action-service URL under $action_service with percent-encoded parameter values."""
    query_string = "&".join(f"{name}={value}" for name, value in params.items())
    return f"${{action_service}}{path}?{query_string}"


def cell(field_name: str) -> str:
    """The value of a table field in the clicked row, percent-encoded for a URL."""
    return f"${{__data.fields.{field_name}:percentencode}}"


def series_label(label: str) -> str:
    """A label of the clicked series, percent-encoded for a URL."""
    return f"${{__field.labels.{label}:percentencode}}"


def fault_links(value=cell) -> list[model.DashboardLink]:
    """Links from one (dbname, stage, label, fault) cell to its item list and to a revert preview."""
    params = {name: value(name) for name in ("dbname", "stage", "label", "fault")}
    return [link("Faulted items (action service)", action_url("/faults", **params)),
            link("Preview a revert of exactly these", action_url("/actions/revert", **params))]


def override(name: str, properties: dict[str, object]) -> dashboard.DashboardFieldConfigSourceOverrides:
    """Field override by name, e.g. override("fault", {"mappings": [...], "links": [...]})."""
    values = [model.DynamicConfigValue(id_val=key, value=value) for key, value in properties.items()]
    return (dashboard.DashboardFieldConfigSourceOverrides()
            .matcher(model.MatcherConfig(id_val="byName", options=name)).properties(values))


def merge_and_rename(rename: dict[str, str], hide: tuple[str, ...] = ("Time",)) -> list[model.DataTransformerConfig]:
    """Join the instant queries of a table on their labels, then name the value columns."""
    return [model.DataTransformerConfig(id_val="merge", options={}),
            model.DataTransformerConfig(id_val="organize", options={
                "excludeByName": {name: True for name in hide}, "renameByName": rename, "indexByName": {}})]


# --- panels --------------------------------------------------------------------------------------

@dataclass
class PanelSpec:
    """Layout and common field settings of one panel."""

    title: str
    unit: str
    description: str
    width: int = 12
    height: int = 8
    thresholds: dashboard.ThresholdsConfig | None = None
    links: list = field(default_factory=list)
    mappings: list = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None


def _common(builder, spec: PanelSpec, targets):
    builder = (builder.title(spec.title).description(spec.description).unit(spec.unit).datasource(DATASOURCE)
               .span(spec.width).height(spec.height).targets(list(targets)))
    if spec.thresholds is not None:
        builder = builder.thresholds(spec.thresholds)
    if spec.links:
        builder = builder.data_links([Built(item) for item in spec.links])
    if spec.mappings:
        builder = builder.mappings(spec.mappings)
    if spec.minimum is not None:
        builder = builder.min(spec.minimum)
    if spec.maximum is not None:
        builder = builder.max(spec.maximum)
    return builder


def graph(spec: PanelSpec, *targets, stacked: bool = False, threshold_lines: bool = False) -> timeseries.Panel:
    """A time series panel; threshold_lines draws the thresholds as dashed lines."""
    panel = _common(timeseries.Panel(), spec, targets)
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL)).fill_opacity(30)
    if threshold_lines:
        panel = panel.thresholds_style(common_builders.GraphThresholdsStyleConfig()
                                       .mode(common.GraphThresholdsStyleMode.DASHED))
    return panel


def single(spec: PanelSpec, *targets) -> stat.Panel:
    """A stat panel showing the latest value, coloured by its thresholds."""
    return _common(stat.Panel(), spec, series_format(targets)).color_mode(common.BigValueColorMode.BACKGROUND)


def bars(spec: PanelSpec, *targets) -> bargauge.Panel:
    """A horizontal bar gauge of the latest values."""
    return (_common(bargauge.Panel(), spec, series_format(targets)).orientation(common.VizOrientation.HORIZONTAL)
            .display_mode(common.BarGaugeDisplayMode.BASIC))


def grid(spec: PanelSpec, *targets, transformations=(), overrides=()) -> table.Panel:
    """A table of instant query results (one row per series), with optional joins and per-column settings."""
    panel = _common(table.Panel(), spec, targets)
    for transformation in transformations:
        panel = panel.with_transformation(transformation)
    if overrides:
        panel = panel.overrides(list(overrides))
    return panel


def timeline(spec: PanelSpec, *targets) -> statetimeline.Panel:
    """A state timeline (one lane per series) for 0/1 and state gauges."""
    return _common(statetimeline.Panel(), spec, targets).show_value(common.VisibilityMode.NEVER)


def heat(spec: PanelSpec, *targets) -> heatmap.Panel:
    """A heatmap that buckets the series' values per time step."""
    return (_common(heatmap.Panel(), spec, targets).calculate(True)
            .color(heatmap.HeatmapColorOptions().mode(heatmap_model.HeatmapColorMode.SCHEME).scheme("Oranges")
                   .fill("dark-orange").exponent(0.5).steps(64).reverse(False)))


def row(title: str) -> dashboard.Row:
    """An expanded row header; the panels that follow it belong to it."""
    return dashboard.Row(title).collapsed(False)


# --- variables -----------------------------------------------------------------------------------

def datasource_variable() -> dashboard.DatasourceVariable:
    """$datasource: every panel and variable query goes through it (no hard-coded datasource uid)."""
    return dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus")


def label_variable(name: str, metric: str, label: str = "", title: str = "", *, multi: bool = True,
                   ) -> dashboard.QueryVariable:
    """A variable listing the values of `label` (default: `name`) on `metric`; multi ones offer All (= .*)."""
    variable = (dashboard.QueryVariable(name).label(title or name.capitalize()).datasource(DATASOURCE)
                .query(f"label_values({metric}, {label or name})")
                .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(model.VariableSort.ALPHABETICAL_ASC))
    if multi:
        variable = variable.multi(True).include_all(True).all_value(".*")
    return variable


def link_variables(site: SiteSettings) -> list[dashboard.TextBoxVariable]:
    """$action_service and $runbook_base: where data links point (defaults from prometheus.yml's external labels)."""
    return [dashboard.TextBoxVariable("action_service").label("Action service").default_value(site.action_service),
            dashboard.TextBoxVariable("runbook_base").label("Runbooks").default_value(site.runbook_base)]


# --- dashboards ----------------------------------------------------------------------------------

REFRESH_INTERVALS = ["30s", "1m", "5m", "15m", "1h"]


def new_dashboard(uid: str, topic: str, description: str, time_from: str, variables) -> dashboard.Dashboard:
    """A dashboard with the house settings: uid, "IPP / <Topic>" title, tags, UTC, 1m refresh, variables."""
    board = (dashboard.Dashboard(f"IPP / {topic}").uid(uid).description(description).tags(["ipp"])
             .timezone("utc").refresh("1m").time(time_from, "now").tooltip(model.DashboardCursorSync.CROSSHAIR)
             .timepicker(dashboard.TimePicker().refresh_intervals(REFRESH_INTERVALS))
             .link(dashboard.DashboardLink("IPP dashboards").type(model.DashboardLinkType.DASHBOARDS)
                   .tags(["ipp"]).as_dropdown(True).include_vars(False).keep_time(True)))
    board = board.with_variable(datasource_variable())
    for variable in variables:
        board = board.with_variable(variable)
    return board


def add(board: dashboard.Dashboard, *items: cogbuilder.Builder) -> dashboard.Dashboard:
    """Append rows and panels in order (the SDK lays them out left to right, top to bottom)."""
    for item in items:
        board = board.with_row(item) if isinstance(item, dashboard.Row) else board.with_panel(item)
    return board


REF_IDS = string.ascii_uppercase


def finish(board: dashboard.Dashboard) -> model.Dashboard:
    """Build the dashboard and number what the SDK leaves unset: panel ids 1.. in order, refIds A, B, ..."""
    built = board.build()
    for panel_id, panel in enumerate(built.panels or [], start=1):
        panel.id_val = panel_id
        for index, target in enumerate(getattr(panel, "targets", None) or []):
            target.ref_id = REF_IDS[index]
    return built
