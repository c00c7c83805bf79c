"""Simulation vs real: the fidelity report's verdicts and figures, and series side by side."""

from __future__ import annotations

import logging
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
import polars as pl
from dash import Dash, Input, Output, State, dcc, html, no_update

from workbench.app.context import AppContext
from workbench.app.pages.common import dataset_options, graph, not_available, table, unchanged
from workbench.app.services import EntityKey, Unavailable
from workbench.app.urls import with_query
from workbench.errors import WorkbenchError
from workbench.figures.entity import metric_panels

__all__ = ["PATH", "TITLE", "build_fidelity", "layout", "register"]

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
    return dbc.Container([
        dcc.Store(id="fi-initial", data={"real": real, "sim": sim, "metric": query.get("metric", "")}),
        html.H2(TITLE, className="mt-2"),
        dbc.Row([
            dbc.Col([dbc.Label("Real dataset"), dcc.Dropdown(id="fi-real", options=options, value=real)], md=5),
            dbc.Col([dbc.Label("Simulated dataset"), dcc.Dropdown(id="fi-sim", options=options, value=sim)],
                    md=5),
            dbc.Col([dbc.Label("Metric"), dcc.Input(id="fi-metric", type="text", debounce=True,
                                                   value=query.get("metric", ""),
                                                   className="form-control form-control-sm",
                                                   placeholder="first common metric")], md=2),
        ], className="mb-2"),
        dcc.Loading(html.Div(id="fi-body"), type="dot"),
    ], fluid=True)


def _first_series(ctx: AppContext, dataset: str, metric: str) -> tuple[str, pl.DataFrame]:
    index = ctx.services.entity_index(dataset).filter(pl.col("metrics").list.contains(metric))
    if index.is_empty():
        raise Unavailable(f"dataset {dataset!r} has no {metric}")
    row = index.row(0, named=True)
    key = EntityKey(row["provider"], row["cluster"], row["level"], row["entity"])
    return f"{row['cluster']} · {row['entity']}", ctx.services.entity_series(dataset, key, metrics=[metric])


def build_fidelity(ctx: AppContext, real: str | None, sim: str | None, metric: str | None) -> dict[str, Any]:
    """Verdicts, figures and side-by-side series for two datasets (plain function)."""
    if not real or not sim:
        return {"body": [not_available("Comparison", "choose a real and a simulated dataset")], "search": ""}
    body: list[Any] = []
    try:
        report = ctx.services.fidelity(real, sim)
        verdicts = getattr(report, "verdicts", None)
        if isinstance(verdicts, pl.DataFrame):
            body += [html.H5("Verdicts"), table(verdicts)]
        for i, fig in enumerate(getattr(report, "figures", lambda: [])() if callable(
                getattr(report, "figures", None)) else getattr(report, "figures", []) or []):
            if isinstance(fig, go.Figure):
                body.append(graph({"type": "fi-fig", "index": str(i)}, fig))
    except Unavailable as err:
        body.append(not_available("Fidelity report", err.reason))
    except WorkbenchError as err:
        body.append(not_available("Fidelity report", str(err)))
    common = sorted(
        set(ctx.services.entity_index(real).get_column("metrics").explode().drop_nulls().to_list())
        & set(ctx.services.entity_index(sim).get_column("metrics").explode().drop_nulls().to_list()))
    chosen = metric if metric in common else (common[0] if common else None)
    body.append(html.H5("Series side by side", className="mt-3"))
    if chosen is None:
        body.append(not_available("Side-by-side series", "the two datasets share no metric"))
    else:
        cols = []
        for label, dataset in (("real", real), ("simulated", sim)):
            try:
                name, series = _first_series(ctx, dataset, chosen)
                fig = metric_panels(series, metrics=[chosen])
                fig.update_layout(title={"text": f"{label}: {dataset} · {name}", "x": 0})
                cols.append(dbc.Col(graph(f"fi-{label}", fig), lg=6))
            except Unavailable as err:
                cols.append(dbc.Col(not_available(label, err.reason), lg=6))
        body.append(dbc.Row(cols))
    return {"body": body, "search": with_query("", real=real, sim=sim, metric=metric or None)}


def register(app: Dash, ctx: AppContext) -> None:
    """Wire the page's callback."""

    @app.callback(
        Output("fi-body", "children"),
        Input("fi-real", "value"), Input("fi-sim", "value"), Input("fi-metric", "value"),
    )
    @ctx.timed("fidelity")
    def _compare(real: str | None, sim: str | None, metric: str | None) -> Any:
        return build_fidelity(ctx, real, sim, metric)["body"]

    @app.callback(
        Output("url", "search", allow_duplicate=True),
        Input("fi-real", "value"), Input("fi-sim", "value"), Input("fi-metric", "value"),
        State("fi-initial", "data"), prevent_initial_call=True,
    )
    @ctx.timed("fidelity_controls")
    def _controls(real: str | None, sim: str | None, metric: str | None, initial: dict[str, Any]) -> Any:
        if unchanged(initial, real=real, sim=sim, metric=metric):
            return no_update
        return with_query("", real=real, sim=sim, metric=metric or None)
