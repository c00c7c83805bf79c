"""Simulation vs real: the fidelity report's verdicts and figures, and series side by side."""

from __future__ import annotations

import logging
from html import escape as html_escape
from typing import Any

import dash_bootstrap_components as dbc
import polars as pl
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash import ctx as dash_ctx

from workbench.app.context import AppContext
from workbench.app.pages.common import dataset_options, graph, not_available, table, unchanged
from workbench.app.services import EntityKey, Unavailable, resolve
from workbench.app.urls import with_query
from workbench.errors import WorkbenchError
from workbench.figures.entity import metric_panels

__all__ = ["PATH", "TITLE", "build_fidelity", "common_metrics", "layout", "register"]

logger = logging.getLogger(__name__)

PATH = "/fidelity"
TITLE = "Simulation vs real"


def layout(ctx: AppContext, query: dict[str, str]) -> Any:
    """Two dataset pickers (``real``, ``sim`` in the URL) and the comparison below."""
    datasets = ctx.services.datasets()
    options = dataset_options(datasets)
    names = datasets.get_column("dataset").to_list()
    real = query.get("real") if query.get("real") in names else (names[0] if names else None)
    sim = query.get("sim") if query.get("sim") in names else (names[-1] if names else None)
    return dbc.Container(
        [
            dcc.Store(id="fi-initial", data={"real": real, "sim": sim, "metric": query.get("metric", "")}),
            html.H2(TITLE, className="mt-2"),
            dbc.Row(
                [
                    dbc.Col(
                        [dbc.Label("Real dataset"), dcc.Dropdown(id="fi-real", options=options, value=real)],
                        md=5,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Simulated dataset"),
                            dcc.Dropdown(id="fi-sim", options=options, value=sim),
                        ],
                        md=5,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Metric"),
                            dcc.Input(
                                id="fi-metric",
                                type="text",
                                debounce=True,
                                value=query.get("metric", ""),
                                className="form-control form-control-sm",
                                placeholder="first common metric",
                            ),
                        ],
                        md=2,
                    ),
                ],
                className="mb-2",
            ),
            html.Div(
                [
                    dbc.Button("Compare", id="fi-compare", color="primary", size="sm", className="me-3"),
                    dcc.Checklist(
                        id="fi-standardize",
                        options=[{"label": " compare shapes (z-scored)", "value": "z"}],
                        value=[],
                        inline=True,
                        className="d-inline small",
                    ),
                ],
                className="mb-2",
            ),
            dcc.Loading(html.Div(id="fi-body"), type="dot"),
        ],
        fluid=True,
    )


def _first_series(ctx: AppContext, dataset: str, metric: str) -> tuple[str, pl.DataFrame]:
    index = ctx.services.entity_index(dataset).filter(pl.col("metrics").list.contains(metric))
    if index.is_empty():
        raise Unavailable(f"dataset {dataset!r} has no {metric}")
    row = index.row(0, named=True)
    key = EntityKey(row["provider"], row["cluster"], row["level"], row["entity"])
    return f"{row['cluster']} · {row['entity']}", ctx.services.entity_series(dataset, key, metrics=[metric])


def common_metrics(ctx: AppContext, real: str, sim: str) -> list[str]:
    """Metrics both datasets have."""
    return sorted(ctx.services.store_metrics(real) & ctx.services.store_metrics(sim))


def build_fidelity(
    ctx: AppContext,
    real: str | None,
    sim: str | None,
    metric: str | None,
    *,
    compare: bool = False,
    standardize: bool = False,
) -> dict[str, Any]:
    """Series side by side and, when ``compare``, the fidelity verdicts and figures (plain function).

    The comparison (two-sample tests, ACF and spectral distances, a discriminator…) runs
    in the fidelity room on one metric at a time, on demand, and is cached.
    """
    if not real or not sim:
        return {"body": [not_available("Comparison", "choose a real and a simulated dataset")], "search": ""}
    body: list[Any] = []
    common = common_metrics(ctx, real, sim)
    chosen = metric if metric in common else (common[0] if common else None)
    search = with_query("", real=real, sim=sim, metric=metric or None)
    if chosen is None:
        return {"body": [not_available("Comparison", "the two datasets share no metric")], "search": search}
    body.append(html.H5(f"Series side by side: {chosen}", className="mt-2"))
    cols = []
    for label, dataset in (("real", real), ("simulated", sim)):
        try:
            name, series = _first_series(ctx, dataset, chosen)
            fig = metric_panels(series, metrics=[chosen])
            fig.update_layout(title={"text": html_escape(f"{label}: {dataset} · {name}"), "x": 0})
            cols.append(dbc.Col(graph(f"fi-{label}", fig), lg=6))
        except Unavailable as err:
            cols.append(dbc.Col(not_available(label, err.reason), lg=6))
    body.append(dbc.Row(cols))
    if not compare:
        body.append(
            html.P(
                "Press Compare to run the fidelity statistics on this metric.",
                className="text-muted small",
                id="fi-hint",
            )
        )
        return {"body": body, "search": search}
    try:
        result = ctx.services.fidelity(real, sim, chosen, standardize=standardize)
        summary = result.summary()
        body += [
            html.H5("Verdicts", className="mt-3"),
            table(summary.with_columns(pl.col("mean").round(3)), max_rows=30),
        ]
        verdicts = result.verdicts()
        body += [
            html.H6("Per series", className="mt-2"),
            table(
                verdicts.select(
                    "pair", "statistic", pl.col("value").round(4), "rule", "threshold", "verdict"
                ),
                max_rows=60,
            ),
        ]
        report_figures = resolve("workbench.figures.fidelity", "report_figures")
        for i, (label, details) in enumerate(list(result.details.items())[:3]):
            for j, fig in enumerate(report_figures(details, title=label)):
                body.append(graph({"type": "fi-fig", "index": f"{i}-{j}"}, fig))
    except (Unavailable, WorkbenchError) as err:
        body.append(not_available("Fidelity report", getattr(err, "reason", str(err))))
    return {"body": body, "search": search}


def register(app: Dash, ctx: AppContext) -> None:
    """Wire the page's callback."""

    @app.callback(
        Output("fi-body", "children"),
        Input("fi-compare", "n_clicks"),
        Input("fi-real", "value"),
        Input("fi-sim", "value"),
        Input("fi-metric", "value"),
        State("fi-standardize", "value"),
    )
    @ctx.timed("fidelity")
    def _compare(
        n: int | None, real: str | None, sim: str | None, metric: str | None, standardize: list[str] | None
    ) -> Any:
        pressed = dash_ctx.triggered_id == "fi-compare" and n is not None
        return build_fidelity(ctx, real, sim, metric, compare=pressed, standardize=bool(standardize))["body"]

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("fi-real", "value"),
        Input("fi-sim", "value"),
        Input("fi-metric", "value"),
        State("fi-initial", "data"),
        prevent_initial_call=True,
    )
    @ctx.timed("fidelity_controls")
    def _controls(real: str | None, sim: str | None, metric: str | None, initial: dict[str, Any]) -> Any:
        if unchanged(initial, real=real, sim=sim, metric=metric):
            return no_update
        return with_query("", real=real, sim=sim, metric=metric or None)
