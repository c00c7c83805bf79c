"""Fleet overview: health heatmap, topology coloured by health, top findings.

Every element drills down: a heatmap row, a topology node and a finding all
lead to the entity view. The dataset and level filter live in the URL.
"""

from __future__ import annotations

import logging
from typing import Any

import dash_bootstrap_components as dbc
import polars as pl
from dash import Dash, Input, Output, State, dcc, html, no_update

from workbench.app.context import AppContext
from workbench.app.pages.common import dataset_options, graph, not_available, table, unchanged
from workbench.app.services import Unavailable
from workbench.app.urls import entity_href, split_list, with_query
from workbench.errors import WorkbenchError
from workbench.figures.overview import bucket_every, heatmap_figure, heatmap_matrix, topology_graph

__all__ = ["PATH", "TITLE", "build_overview", "drill_target", "layout", "register"]

logger = logging.getLogger(__name__)

PATH = "/"
TITLE = "Fleet overview"
LEVEL_CHOICES = ["cluster", "broker", "node", "topic", "partition", "queue", "consumer_group"]
TOP_FINDINGS = 15
#: Time columns of the overview heatmap (7 days -> 1-hour cells, 1 day -> 10-minute cells);
#: finer detail is one click away in the drill-down.
HEATMAP_COLUMNS = 200


def layout(ctx: AppContext, query: dict[str, str]) -> Any:
    """The overview page for the URL's query (``dataset``, ``levels``)."""
    datasets = ctx.services.datasets()
    if datasets.is_empty():
        return dbc.Container(
            [
                html.H2(TITLE),
                not_available(
                    "Fleet overview",
                    f"the store at {ctx.store.root} holds no datasets yet; run "
                    "`workbench simulate SCENARIO` or `workbench demo` first",
                ),
            ],
            fluid=True,
        )
    names = datasets.get_column("dataset").to_list()
    dataset = str(query["dataset"]) if query.get("dataset") in names else str(names[0])
    levels = [lv for lv in split_list(query.get("levels")) if lv in LEVEL_CHOICES]
    # The content is built here, in the routing callback, so a page costs one round trip.
    view = build_overview(ctx, dataset, levels)
    return dbc.Container(
        [
            dcc.Store(id="ov-rowkeys", data=view["rowkeys"]),
            dcc.Store(id="ov-initial", data={"dataset": dataset, "levels": levels}),
            html.H2(TITLE, className="mt-2"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Dataset", html_for="ov-dataset"),
                            dcc.Dropdown(
                                id="ov-dataset",
                                options=dataset_options(datasets),
                                value=dataset,
                                clearable=False,
                            ),
                        ],
                        md=6,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Entity levels", html_for="ov-levels"),
                            dcc.Dropdown(
                                id="ov-levels",
                                options=LEVEL_CHOICES,
                                multi=True,
                                value=levels,
                                placeholder="all levels",
                            ),
                        ],
                        md=6,
                    ),
                ],
                className="mb-2",
            ),
            html.Div(view["stats"], id="ov-stats", className="mb-2"),
            html.Div(view["heatmap"], id="ov-heatmap-box"),
            dbc.Row(
                [
                    dbc.Col(html.Div(view["topology"], id="ov-topology-box"), lg=6),
                    dbc.Col([html.H5("Top findings"), html.Div(view["findings"], id="ov-findings")], lg=6),
                ],
                className="mt-2",
            ),
        ],
        fluid=True,
    )


def build_overview(ctx: AppContext, dataset: str, levels: list[str] | None) -> dict[str, Any]:
    """Everything the overview shows for one dataset (a plain function, unit-tested).

    Returns
    -------
    dict
        ``stats``, ``heatmap``, ``topology``, ``findings`` (components), ``rowkeys``
        (heatmap label → entity key, for click-through) and ``search`` (the URL query).
    """
    levels = [lv for lv in (levels or []) if lv in LEVEL_CHOICES]
    index = ctx.services.entity_index(dataset)
    if levels:
        index = index.filter(pl.col("level").is_in(levels))
    out: dict[str, Any] = {
        "rowkeys": {},
        "search": with_query("", dataset=dataset, levels=",".join(levels) or None),
    }
    start, end = ctx.services.time_range(dataset)
    findings = ctx.services.findings(dataset)
    if levels:
        findings = findings.filter(pl.col("level").cast(pl.String).is_in(levels))
    out["stats"] = dbc.Row(
        [
            dbc.Col(
                dbc.Card(
                    dbc.CardBody(
                        [html.Div(label, className="text-muted small"), html.Div(value, className="fs-5")]
                    )
                ),
                md=3,
            )
            for label, value in (
                ("entities", f"{index.height:,}"),
                ("providers", ", ".join(index.get_column("provider").unique().sort().to_list()) or "—"),
                ("time range (UTC)", f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M}"),
                ("findings", f"{findings.height:,}"),
            )
        ]
    )
    health: pl.DataFrame | None = None
    try:
        span_ms = int((end - start).total_seconds() * 1000) + 1
        health = ctx.services.fleet_health(dataset, every=bucket_every(span_ms, HEATMAP_COLUMNS))
        if levels:
            health = health.filter(pl.col("level").cast(pl.String).is_in(levels))
        frame = health
        labels, times, matrix, keys = ctx.services.cached(
            "overview_heatmap",
            dataset,
            tuple(levels),
            lambda: heatmap_matrix(frame, max_columns=HEATMAP_COLUMNS),
        )
        fig = ctx.services.cached(
            "overview_heatmap_figure", dataset, tuple(levels), lambda: heatmap_figure(labels, times, matrix)
        )
        provider_of = dict(
            zip(
                index.select(pl.concat_str(["cluster", "level", "entity"], separator="\x1f"))
                .to_series()
                .to_list(),
                index.get_column("provider").to_list(),
                strict=True,
            )
        )
        out["rowkeys"] = {
            label: [provider_of.get(f"{c}\x1f{lv}\x1f{e}", ""), c, lv, e]
            for label, (c, lv, e) in zip(labels, keys.iter_rows(), strict=True)
        }
        out["heatmap"] = graph("ov-heatmap", fig)
    except Unavailable as err:
        out["heatmap"] = not_available("Health heatmap", err.reason)
    try:
        edges = ctx.services.topology_edges(dataset)
        scored = health

        def topology_nodes() -> pl.DataFrame:
            nodes = index.select("provider", "cluster", "level", "entity")
            if scored is None:
                return nodes.with_columns(pl.lit(None, pl.Float64).alias("score"))
            # the latest window's score of each entity (a selection, not a statistic)
            latest = (
                scored.group_by("cluster", "level", "entity")
                .agg(pl.col("score").sort_by("ts").last())
                .select(*(pl.col(c).cast(pl.String) for c in ("cluster", "level", "entity")), "score")
            )
            return nodes.join(latest, on=["cluster", "level", "entity"], how="left")

        topology = ctx.services.cached(
            "overview_topology", dataset, tuple(levels), lambda: topology_graph(topology_nodes(), edges)
        )
        out["topology"] = graph("ov-topology", topology)
    except Unavailable as err:
        out["topology"] = not_available("Topology graph", err.reason)
    out["findings"] = findings_table(ctx, dataset, findings, index)
    return out


def findings_table(ctx: AppContext, dataset: str, findings: pl.DataFrame, index: pl.DataFrame) -> Any:
    """Episode narratives, then the top findings by score, each linking to its entity."""
    if findings.is_empty():
        return not_available(
            "Findings", "no findings stored for this dataset yet (run `workbench learn DATASET`)"
        )
    top = findings.sort("score", descending=True).head(TOP_FINDINGS)
    shown = top.select(
        pl.col("start").dt.strftime("%Y-%m-%d %H:%M").alias("start (UTC)"),
        pl.col("entity"),
        pl.col("metric"),
        pl.col("severity").cast(pl.String),
        pl.col("score").round(2),
        pl.col("explanation"),
        pl.struct("provider", "cluster", "level", "entity")
        .map_elements(
            lambda r: entity_href(dataset, str(r["provider"]), r["cluster"], str(r["level"]), r["entity"]),
            return_dtype=pl.String,
        )
        .alias("href"),
    )
    try:
        stories = ctx.services.narratives(dataset).sort("start").head(TOP_FINDINGS)
        narratives: Any = html.Ul(
            [html.Li(text) for text in stories.get_column("narrative").to_list()],
            className="small",
            id="ov-narratives",
        )
    except (Unavailable, WorkbenchError) as err:
        narratives = not_available("Narratives", getattr(err, "reason", str(err)))
    return html.Div([narratives, table(shown, links={"entity": "href"})])


def drill_target(
    click: dict[str, Any] | None, rowkeys: dict[str, list[str]] | None, dataset: str | None
) -> str | None:
    """The entity URL a heatmap or topology click leads to, or None.

    Examples
    --------
    >>> drill_target({"points": [{"customdata": ["c", "topic", "orders"]}]}, {}, "d")
    >>> drill_target({"points": [{"y": "lab"}]}, {"lab": ["kafka", "c", "topic", "orders"]}, "d")
    '/entity?dataset=d&provider=kafka&cluster=c&level=topic&entity=orders'
    """
    if not click or not dataset or not click.get("points"):
        return None
    point = click["points"][0]
    key = None
    if isinstance(point.get("customdata"), list) and len(point["customdata"]) == 4:
        key = point["customdata"]
    elif rowkeys and point.get("y") in rowkeys:
        key = rowkeys[point["y"]]
    if not key:
        return None
    provider, cluster, level, entity = (str(k) for k in key)
    return entity_href(dataset, provider, cluster, level, entity)


def register(app: Dash, ctx: AppContext) -> None:
    """Wire the overview's callbacks to ``app`` (thin: they call the functions above)."""

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("ov-dataset", "value"),
        Input("ov-levels", "value"),
        State("ov-initial", "data"),
        prevent_initial_call=True,
    )
    @ctx.timed("overview_controls")
    def _controls(dataset: str, levels: list[str] | None, initial: dict[str, Any]) -> Any:
        if unchanged(initial, dataset=dataset, levels=levels):
            return no_update
        return with_query("", dataset=dataset, levels=",".join(levels or []) or None)

    @app.callback(
        Output("url", "href", allow_duplicate=True),
        Input("ov-heatmap", "clickData"),
        State("ov-rowkeys", "data"),
        State("ov-dataset", "value"),
        prevent_initial_call=True,
    )
    @ctx.timed("overview_heatmap_click")
    def _heatmap_click(
        click: dict[str, Any] | None, rowkeys: dict[str, list[str]] | None, dataset: str | None
    ) -> Any:
        return drill_target(click, rowkeys, dataset) or no_update

    @app.callback(
        Output("url", "href", allow_duplicate=True),
        Input("ov-topology", "clickData"),
        State("ov-dataset", "value"),
        prevent_initial_call=True,
    )
    @ctx.timed("overview_topology_click")
    def _topology_click(click: dict[str, Any] | None, dataset: str | None) -> Any:
        return drill_target(click, None, dataset) or no_update
