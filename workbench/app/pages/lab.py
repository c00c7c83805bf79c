"""Scenario lab: choose a scenario, start, pause, inject an incident, watch it live, record it.

The page is a thin client of the app's :class:`~workbench.app.lab.ScenarioLab`,
the same object the REST API (``/api/lab/...``) drives, so a script and a person
see the same run.
"""

from __future__ import annotations

import logging
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash import ctx as dash_ctx

from workbench.app.context import AppContext
from workbench.app.lab import unavailable_reason
from workbench.app.pages.common import GRAPH_CONFIG, not_available
from workbench.app.services import Unavailable
from workbench.errors import WorkbenchError
from workbench.figures.entity import live_lines

__all__ = ["PATH", "TITLE", "lab_action", "lab_refresh", "layout", "register"]

logger = logging.getLogger(__name__)

PATH = "/lab"
TITLE = "Scenario lab"


def layout(ctx: AppContext, query: dict[str, str]) -> Any:
    """The lab page; ``scenario`` in the URL preselects a scenario."""
    try:
        scenarios = ctx.lab.scenarios()
        choose: Any = dcc.Dropdown(
            id="lab-scenario",
            options=scenarios,
            value=query.get("scenario")
            if query.get("scenario") in scenarios
            else (scenarios[0] if scenarios else None),
            clearable=False,
        )
    except Unavailable as err:
        scenarios = []
        choose = html.Div(
            [
                not_available("Scenario list", err.reason),
                dcc.Dropdown(id="lab-scenario", options=[], value=None),
            ]
        )
    return dbc.Container(
        [
            html.H2(TITLE, className="mt-2"),
            dbc.Row(
                [
                    dbc.Col([dbc.Label("Scenario"), choose], md=4),
                    dbc.Col(
                        [
                            dbc.Label("Seed"),
                            dcc.Input(
                                id="lab-seed",
                                type="number",
                                value=1,
                                min=0,
                                className="form-control form-control-sm",
                            ),
                        ],
                        md=2,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Speed (sim s per s)"),
                            dcc.Input(
                                id="lab-speed",
                                type="number",
                                value=600,
                                min=1,
                                className="form-control form-control-sm",
                            ),
                        ],
                        md=2,
                    ),
                    dbc.Col(
                        [
                            dbc.Label(" "),
                            html.Div(
                                [
                                    dbc.Button(
                                        "Start", id="lab-start", color="success", size="sm", className="me-1"
                                    ),
                                    dbc.Button(
                                        "Pause",
                                        id="lab-pause",
                                        color="secondary",
                                        size="sm",
                                        className="me-1",
                                    ),
                                    dbc.Button(
                                        "Resume",
                                        id="lab-resume",
                                        color="secondary",
                                        size="sm",
                                        className="me-1",
                                    ),
                                    dbc.Button(
                                        "Stop & record",
                                        id="lab-stop",
                                        color="danger",
                                        size="sm",
                                        className="me-1",
                                    ),
                                    dbc.Button("Export scenario", id="lab-export", color="link", size="sm"),
                                ]
                            ),
                        ],
                        md=4,
                    ),
                ],
                className="mb-2",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dcc.Input(
                            id="lab-inject-kind",
                            type="text",
                            placeholder="incident kind, e.g. slow_consumer",
                            className="form-control form-control-sm",
                        ),
                        md=4,
                    ),
                    dbc.Col(
                        dcc.Input(
                            id="lab-inject-target",
                            type="text",
                            placeholder="target, e.g. billing/orders or CLUSTER:ENTITY",
                            className="form-control form-control-sm",
                        ),
                        md=4,
                    ),
                    dbc.Col(dbc.Button("Inject incident", id="lab-inject", color="warning", size="sm"), md=2),
                ],
                className="mb-2",
            ),
            html.Div(id="lab-message", className="small mb-2"),
            html.Pre(id="lab-status", className="small bg-light p-2"),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Live metric"),
                            dcc.Dropdown(
                                id="lab-metric", options=[], value=None, placeholder="first metric of the run"
                            ),
                        ],
                        md=4,
                    )
                ]
            ),
            html.P("No live data yet: start a scenario.", id="lab-empty", className="text-muted small"),
            dcc.Graph(
                id="lab-live-graph",
                figure=go.Figure(),
                config=GRAPH_CONFIG,  # type: ignore[arg-type]
                style={"height": "360px", "display": "none"},
            ),
            dcc.Interval(id="lab-tick", interval=1000, n_intervals=0),
            dcc.Download(id="lab-download"),
            html.P(
                [
                    "Scripts drive the same lab through the REST API: ",
                    html.A("OpenAPI document", href="/api/openapi.json", target="_blank"),
                ],
                className="small text-muted mt-3",
            ),
        ],
        fluid=True,
    )


def lab_action(
    ctx: AppContext,
    trigger: str | None,
    scenario: str | None,
    seed: Any,
    speed: Any,
    kind: str | None,
    target: str | None,
) -> str:
    """Run the button's action on the lab; return a message for the page."""
    lab = ctx.lab
    try:
        if trigger == "lab-start":
            lab.start(scenario or "", seed=int(seed or 1), speed=float(speed or 60))
            return f"Started {scenario}."
        if trigger == "lab-pause":
            lab.pause()
            return "Paused."
        if trigger == "lab-resume":
            lab.resume()
            return "Resumed."
        if trigger == "lab-stop":
            status = lab.stop(record=True)
            return (
                f"Stopped; recorded as dataset {status['recorded_dataset']}."
                if status["recorded_dataset"]
                else "Stopped; nothing to record."
            )
        if trigger == "lab-inject":
            lab.inject(kind or "", target or "")
            return f"Injected {kind} on {target}."
    except (Unavailable, WorkbenchError, ValueError) as err:
        return f"Could not do that: {unavailable_reason(err)}"
    return ""


def lab_refresh(
    ctx: AppContext, metric: str | None
) -> tuple[str, Any, dict[str, str], dict[str, str], list[str]]:
    """Status text, live figure, graph/placeholder styles and metric options for the periodic refresh."""
    status = ctx.lab.status()
    text = "\n".join(f"{k}: {v}" for k, v in status.items() if k != "injected")
    text += f"\ninjected incidents: {len(status['injected'])}"
    hidden, shown = {"display": "none"}, {"height": "360px"}
    recent = ctx.lab.recent()
    options = (
        sorted(recent.get_column("metric").cast(str).unique().to_list()) if "metric" in recent.columns else []
    )
    chosen = metric if metric in options else (options[0] if options else None)
    if chosen is None:
        return text, go.Figure(), {**hidden, "height": "360px"}, {}, options
    return text, live_lines(recent, metric=chosen), shown, {"display": "none"}, options


def register(app: Dash, ctx: AppContext) -> None:
    """Wire the lab's callbacks."""

    @app.callback(
        Output("lab-message", "children"),
        Input("lab-start", "n_clicks"),
        Input("lab-pause", "n_clicks"),
        Input("lab-resume", "n_clicks"),
        Input("lab-stop", "n_clicks"),
        Input("lab-inject", "n_clicks"),
        State("lab-scenario", "value"),
        State("lab-seed", "value"),
        State("lab-speed", "value"),
        State("lab-inject-kind", "value"),
        State("lab-inject-target", "value"),
        prevent_initial_call=True,
    )
    @ctx.timed("lab_action")
    def _action(*args: Any) -> Any:
        if all(n is None for n in args[:5]):  # the page inserted the buttons; nobody clicked
            return no_update
        return lab_action(ctx, dash_ctx.triggered_id, *args[5:])

    @app.callback(
        Output("lab-status", "children"),
        Output("lab-live-graph", "figure"),
        Output("lab-live-graph", "style"),
        Output("lab-empty", "style"),
        Output("lab-metric", "options"),
        Input("lab-tick", "n_intervals"),
        State("lab-metric", "value"),
    )
    @ctx.timed("lab_refresh")
    def _refresh(_n: int, metric: str | None) -> tuple[Any, ...]:
        return lab_refresh(ctx, metric)

    @app.callback(
        Output("lab-download", "data"),
        Output("lab-message", "children", allow_duplicate=True),
        Input("lab-export", "n_clicks"),
        State("lab-scenario", "value"),
        prevent_initial_call=True,
    )
    @ctx.timed("lab_export")
    def _export(n: int | None, scenario: str | None) -> tuple[Any, Any]:
        if n is None:
            return no_update, no_update
        try:
            text = ctx.lab.export_scenario(scenario or "")
        except (Unavailable, WorkbenchError) as err:
            return no_update, f"Could not export: {unavailable_reason(err)}"
        return {"content": text, "filename": f"{scenario}.yaml"}, f"Exported {scenario}.yaml"
