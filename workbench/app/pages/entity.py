"""Entity drill-down: metric panels with findings and notes, lag status, decomposition, forecast.

The whole view state (dataset, entity, metrics shown, time range) is in the URL,
so a copied link restores it. The view template is chosen automatically from
the metrics the entity has (:mod:`workbench.app.templates`).
"""

from __future__ import annotations

import logging
from typing import Any

import dash_bootstrap_components as dbc
import polars as pl
from dash import Dash, Input, Output, State, dcc, html, no_update

import workbench.annotations as notes
from workbench.app.context import AppContext
from workbench.app.pages.common import graph, not_available, table, unchanged
from workbench.app.services import EntityKey, Unavailable
from workbench.app.templates import ViewTemplate, choose_template
from workbench.app.urls import entity_href, parse_query, parse_time, split_list, with_query
from workbench.errors import WorkbenchError
from workbench.figures.entity import (
    decomposition_figure,
    forecast_band,
    lag_status_timeline,
    metric_panels,
)

__all__ = [
    "PATH",
    "TITLE",
    "add_note",
    "build_entity_analysis",
    "build_entity_view",
    "layout",
    "register",
    "sync_search",
]

logger = logging.getLogger(__name__)

PATH = "/entity"
TITLE = "Entity"
_KEYS = ("provider", "cluster", "level", "entity")


class EntityRequest:
    """A parsed entity-view URL: dataset, key, metrics and time range."""

    def __init__(self, query: dict[str, str]) -> None:
        missing = [k for k in ("dataset", *_KEYS) if not query.get(k)]
        if missing:
            raise Unavailable(f"the link lacks {', '.join(missing)}; open an entity from the overview")
        self.dataset = query["dataset"]
        self.key = EntityKey(*(query[k] for k in _KEYS))
        self.metrics = split_list(query.get("metrics"))
        self.start = parse_time(query.get("start"), "start")
        self.end = parse_time(query.get("end"), "end")


def _units() -> dict[str, str]:
    from workbench.catalog import metrics

    return {name: m.unit for name, m in metrics().items()}


def _present(ctx: AppContext, req: EntityRequest) -> list[str]:
    index = ctx.services.entity_index(req.dataset)
    row = index.filter(*(pl.col(k) == getattr(req.key, k) for k in _KEYS))
    if row.is_empty():
        raise Unavailable(
            f"no entity {req.key.entity!r} ({req.key.level}) in cluster "
            f"{req.key.cluster!r} of dataset {req.dataset!r}"
        )
    return list(row.get_column("metrics")[0])


def default_metrics(template: ViewTemplate, present: list[str]) -> list[str]:
    """Metrics shown when the URL names none: the template's panels present (at most 6),
    else the first 6 present."""
    return [m for m in template.panels if m in present][:6] or sorted(present)[:6]


def layout(ctx: AppContext, query: dict[str, str]) -> Any:
    """The drill-down page for the URL's query."""
    try:
        req = EntityRequest(query)
        if req.dataset not in ctx.store.names():
            raise Unavailable(f"no dataset {req.dataset!r} in the store")
        present = _present(ctx, req)
    except (Unavailable, WorkbenchError) as err:
        reason = err.reason if isinstance(err, Unavailable) else str(err)
        return dbc.Container([html.H2(TITLE), not_available("Entity view", reason)], fluid=True)
    template = choose_template(req.key.provider, req.key.level, present)
    options = template.panels_for(present)
    chosen = [m for m in req.metrics if m in options] or default_metrics(template, present)
    lo, hi = ctx.services.time_range(req.dataset)
    return dbc.Container(
        [
            dcc.Store(id="en-query", data=with_query("", **query)),
            dcc.Store(
                id="en-initial",
                data={"metrics": chosen, "start": query.get("start", ""), "end": query.get("end", "")},
            ),
            dcc.Store(id="en-version", data=0),
            breadcrumbs(ctx, req),
            html.H2(
                [
                    html.Span(req.key.entity, id="en-title"),
                    " ",
                    dbc.Badge(req.key.level, color="info", className="align-middle fs-6"),
                ],
                className="mt-1",
            ),
            html.P(
                [
                    html.Strong(template.title),
                    " — ",
                    template.description,
                    html.Span(f" (view template {template.name})", className="text-muted small"),
                ],
                id="en-template",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Metrics"),
                            dcc.Checklist(
                                id="en-metrics",
                                options=options,
                                value=chosen,
                                inline=True,
                                inputClassName="me-1",
                                labelClassName="me-3 small",
                            ),
                        ],
                        lg=8,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("From (UTC)"),
                            dcc.Input(
                                id="en-start",
                                type="text",
                                debounce=True,
                                className="form-control form-control-sm",
                                value=query.get("start", ""),
                                placeholder=f"{lo:%Y-%m-%dT%H:%M}",
                            ),
                        ],
                        lg=2,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("To (UTC)"),
                            dcc.Input(
                                id="en-end",
                                type="text",
                                debounce=True,
                                className="form-control form-control-sm",
                                value=query.get("end", ""),
                                placeholder=f"{hi:%Y-%m-%dT%H:%M}",
                            ),
                        ],
                        lg=2,
                    ),
                ],
                className="mb-2",
            ),
            # The body is built here, in the routing callback, so a drill-down costs one round trip.
            html.Div(build_entity_view(ctx, with_query("", **query)), id="en-body"),
            dcc.Loading(html.Div(id="en-analysis"), type="dot"),
            html.H5("Add a note", className="mt-3"),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Input(
                            id="note-start",
                            type="text",
                            placeholder="from, e.g. 2026-01-01T14:00",
                            className="form-control form-control-sm",
                        ),
                        md=3,
                    ),
                    dbc.Col(
                        dcc.Input(
                            id="note-end",
                            type="text",
                            placeholder="to",
                            className="form-control form-control-sm",
                        ),
                        md=3,
                    ),
                    dbc.Col(
                        dcc.Input(
                            id="note-text",
                            type="text",
                            placeholder="what happened",
                            className="form-control form-control-sm",
                            maxLength=notes.MAX_TEXT_LENGTH,
                        ),
                        md=4,
                    ),
                    dbc.Col(dbc.Button("Add note", id="note-add", size="sm", color="primary"), md=2),
                ]
            ),
            html.Div(id="note-feedback", className="small mt-1"),
        ],
        fluid=True,
    )


def breadcrumbs(ctx: AppContext, req: EntityRequest) -> dbc.Breadcrumb:
    """Cluster → parent (topic / queue / vhost part of the name) → entity."""
    items: list[dict[str, Any]] = [
        {"label": "Fleet", "href": with_query("/", dataset=req.dataset), "external_link": False},
        {
            "label": f"cluster {req.key.cluster}",
            "href": with_query("/", dataset=req.dataset),
            "external_link": False,
        },
    ]
    for parent in related(ctx, req).filter(pl.col("relation") == "parent").iter_rows(named=True):
        items.append(
            {"label": f"{parent['level']} {parent['entity']}", "href": parent["href"], "external_link": False}
        )
    items.append({"label": f"{req.key.level} {req.key.entity}", "active": True})
    return dbc.Breadcrumb(items=items, id="en-breadcrumbs", className="mt-2 mb-0 small")


def related(ctx: AppContext, req: EntityRequest) -> pl.DataFrame:
    """Parents, children and siblings of the entity.

    From the topology room's edges when available; otherwise by the canonical
    naming convention (``orders/3`` is a partition of topic ``orders``; a group
    ``billing/orders`` reads topic ``orders``).
    """
    index = ctx.services.entity_index(req.dataset).filter(pl.col("cluster") == req.key.cluster)
    me = req.key.entity
    try:
        edges = ctx.services.topology_edges(req.dataset).filter(pl.col("cluster") == req.key.cluster)
        parents = edges.filter((pl.col("child") == me) & (pl.col("child_level") == req.key.level)).select(
            pl.col("parent_level").alias("level"),
            pl.col("parent").alias("entity"),
            pl.lit("parent").alias("relation"),
        )
        children = edges.filter((pl.col("parent") == me) & (pl.col("parent_level") == req.key.level)).select(
            pl.col("child_level").alias("level"),
            pl.col("child").alias("entity"),
            pl.lit("child").alias("relation"),
        )
        rel = pl.concat([parents, children])
    except Unavailable:
        head, _, tail = me.partition("/")
        names = index.select("level", "entity")
        parent_names = {head, tail} - {"", me}
        rel = pl.concat(
            [
                names.filter(
                    pl.col("entity").is_in(list(parent_names))
                    & pl.col("level").is_in(["topic", "queue"])
                    & (pl.col("level") != req.key.level)
                ).with_columns(pl.lit("parent").alias("relation")),
                names.filter(
                    pl.col("entity").str.starts_with(me + "/") | pl.col("entity").str.ends_with("/" + me)
                )
                .filter(pl.col("entity") != me)
                .with_columns(pl.lit("child").alias("relation")),
            ]
        )
    rel = rel.join(index.select("provider", "level", "entity"), on=["level", "entity"], how="inner")
    return (
        rel.unique(subset=["level", "entity", "relation"])
        .sort("relation", "level", "entity")
        .with_columns(
            pl.struct("provider", "level", "entity")
            .map_elements(
                lambda r: entity_href(req.dataset, r["provider"], req.key.cluster, r["level"], r["entity"]),
                return_dtype=pl.String,
            )
            .alias("href")
        )
    )


def build_entity_view(ctx: AppContext, search: str) -> list[Any]:
    """The drill-down's body for a URL query (a plain function, unit-tested)."""
    try:
        req = EntityRequest(parse_query(search))
        present = _present(ctx, req)
    except (Unavailable, WorkbenchError) as err:
        reason = err.reason if isinstance(err, Unavailable) else str(err)
        return [not_available("Entity view", reason)]
    template: ViewTemplate = choose_template(req.key.provider, req.key.level, present)
    shown = [m for m in req.metrics if m in present] or default_metrics(template, present)
    series = ctx.services.entity_series(req.dataset, req.key, start=req.start, end=req.end)
    findings = ctx.services.findings(req.dataset).filter(
        (pl.col("cluster") == req.key.cluster)
        & (pl.col("level").cast(pl.String) == req.key.level)
        & (pl.col("entity") == req.key.entity)
    )
    if req.start is not None:
        findings = findings.filter(pl.col("end") >= req.start)
    if req.end is not None:
        findings = findings.filter(pl.col("start") <= req.end)
    notes_frame = notes.read_annotations(
        ctx.store,
        cluster=req.key.cluster,
        level=req.key.level,
        entity=req.key.entity,
        start=req.start,
        end=req.end,
    )
    body: list[Any] = [
        graph(
            "en-panels",
            metric_panels(series, metrics=shown, findings=findings, annotations=notes_frame, units=_units()),
        )
    ]
    body.append(html.H5("Findings", className="mt-3"))
    if findings.is_empty():
        body.append(html.P("No findings for this entity in the range.", className="text-muted small"))
    else:
        body.append(
            table(
                findings.sort("start").select(
                    pl.col("start").dt.strftime("%Y-%m-%d %H:%M").alias("start (UTC)"),
                    pl.col("end").dt.strftime("%Y-%m-%d %H:%M").alias("end (UTC)"),
                    "metric",
                    "kind",
                    pl.col("severity").cast(pl.String),
                    pl.col("score").round(2),
                    "explanation",
                )
            )
        )
    body.append(html.H5("Notes", className="mt-3"))
    body.append(
        table(
            notes_frame.select(
                pl.col("start").dt.strftime("%Y-%m-%d %H:%M").alias("from"),
                pl.col("end").dt.strftime("%Y-%m-%d %H:%M").alias("to"),
                "text",
                "author",
            )
        )
        if notes_frame.height
        else html.P("No notes yet.", className="text-muted small", id="en-no-notes")
    )
    rel = related(ctx, req)
    body.append(html.H5("Related entities", className="mt-3"))
    body.append(
        html.Ul(
            [
                html.Li(dcc.Link(f"{r['relation']}: {r['level']} {r['entity']}", href=r["href"]))
                for r in rel.head(40).iter_rows(named=True)
            ],
            id="en-related",
            className="small",
        )
        if rel.height
        else html.P("None found.", className="text-muted small")
    )
    return body


def build_entity_analysis(ctx: AppContext, search: str) -> list[Any]:
    """The slower analysis views of the drill-down: lag status, decomposition, forecast.

    Rendered by their own callback so the main panels never wait for them.
    """
    try:
        req = EntityRequest(parse_query(search))
        present = _present(ctx, req)
    except (Unavailable, WorkbenchError):
        return []
    template = choose_template(req.key.provider, req.key.level, present)
    body: list[Any] = []
    if "lag_status" in template.extras:
        try:
            status = ctx.services.lag_status(req.dataset, req.key)
            body.append(graph("en-lagstatus", lag_status_timeline(status)))
        except Unavailable as err:
            body.append(not_available("Lag status timeline", err.reason))
    shown = [m for m in req.metrics if m in present] or default_metrics(template, present)
    primary = template.primary if template.primary in present else (shown[0] if shown else None)
    if primary is None:
        return body
    try:
        ts, parts = ctx.services.decomposition(req.dataset, req.key, primary, req.start, req.end)
        body.append(graph("en-decomposition", decomposition_figure(ts, parts, metric=primary)))
    except (Unavailable, WorkbenchError) as err:
        body.append(not_available("Seasonal decomposition", getattr(err, "reason", str(err))))
    try:
        fc = ctx.services.forecast(req.dataset, req.key, primary, req.start, req.end)
        body.append(
            graph(
                "en-forecast",
                forecast_band(
                    fc.filter(pl.col("part") == "history"),
                    fc.filter(pl.col("part") == "forecast"),
                    mean="forecast",
                    title=f"Forecast of {primary}",
                ),
            )
        )
    except (Unavailable, WorkbenchError) as err:
        body.append(not_available("Forecast", getattr(err, "reason", str(err))))
    return body


def sync_search(metrics: list[str] | None, start: str | None, end: str | None, search: str) -> str:
    """The URL query after the user changed metrics or the time range.

    Examples
    --------
    >>> sync_search(["a", "b"], "", None, "?dataset=d&entity=e")
    '?dataset=d&entity=e&metrics=a%2Cb'
    """
    query = parse_query(search)
    query["metrics"] = ",".join(metrics or [])
    query["start"] = (start or "").strip()
    query["end"] = (end or "").strip()
    return with_query("", **query)


def add_note(
    ctx: AppContext, search: str, start: str | None, end: str | None, text: str | None, author: str = ""
) -> tuple[str, bool]:
    """Store a note on the entity of the URL; return ``(message, stored)``."""
    try:
        req = EntityRequest(parse_query(search))
        t0, t1 = parse_time(start, "start"), parse_time(end, "end")
        if t0 is None:
            return "Give the note a start time.", False
        note = notes.add_annotation(
            ctx.store,
            cluster=req.key.cluster,
            level=req.key.level,
            entity=req.key.entity,
            start=t0,
            end=t1 or t0,
            text=text or "",
            author=author,
        )
    except (Unavailable, WorkbenchError) as err:
        return str(err), False
    return f"Note saved for {note['start']} → {note['end']}.", True


def register(app: Dash, ctx: AppContext) -> None:
    """Wire the drill-down's callbacks."""

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("en-metrics", "value"),
        Input("en-start", "value"),
        Input("en-end", "value"),
        State("en-query", "data"),
        State("en-initial", "data"),
        prevent_initial_call=True,
    )
    @ctx.timed("entity_controls")
    def _controls(metrics: list[str], start: str, end: str, search: str, initial: dict[str, Any]) -> Any:
        if unchanged(initial, metrics=metrics, start=(start or "").strip(), end=(end or "").strip()):
            return no_update
        return sync_search(metrics, start, end, search)

    @app.callback(
        Output("en-body", "children"),
        Input("en-version", "data"),
        State("en-query", "data"),
        prevent_initial_call=True,
    )
    @ctx.timed("entity_view")
    def _body(version: int, search: str) -> Any:
        if not version:  # inserted with the page, whose body is already built
            return no_update
        return build_entity_view(ctx, search)

    @app.callback(Output("en-analysis", "children"), Input("en-query", "data"))
    @ctx.timed("entity_analysis")
    def _analysis(search: str) -> list[Any]:
        return build_entity_analysis(ctx, search)

    @app.callback(
        Output("note-feedback", "children"),
        Output("en-version", "data"),
        Input("note-add", "n_clicks"),
        State("note-start", "value"),
        State("note-end", "value"),
        State("note-text", "value"),
        State("en-query", "data"),
        State("en-version", "data"),
        prevent_initial_call=True,
    )
    @ctx.timed("entity_add_note")
    def _add(n: int | None, start: str, end: str, text: str, search: str, version: int) -> tuple[Any, Any]:
        if n is None:
            return no_update, no_update
        message, stored = add_note(ctx, search, start, end, text)
        return message, (version or 0) + 1 if stored else no_update
