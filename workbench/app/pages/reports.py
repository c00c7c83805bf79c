"""Reports and annotations: the papermill reports in ``reports/`` and every note in the store."""

from __future__ import annotations

import logging
from typing import Any

import dash_bootstrap_components as dbc
import polars as pl
from dash import Dash, Input, Output, dcc, html

import workbench.annotations as notes
from workbench.app.context import AppContext
from workbench.app.pages.common import not_available, table
from workbench.app.services import Unavailable, resolve
from workbench.errors import WorkbenchError

__all__ = ["PATH", "TITLE", "build_reports", "layout", "register"]

logger = logging.getLogger(__name__)

PATH = "/reports"
TITLE = "Reports & notes"


def layout(ctx: AppContext, query: dict[str, str]) -> Any:
    """Reports list and notes list (refreshed on load)."""
    del query
    return dbc.Container(
        [
            html.H2(TITLE, className="mt-2"),
            dcc.Interval(id="rp-load", interval=60_000, n_intervals=0),
            html.H5("Reports"),
            html.Div(id="rp-reports"),
            html.H5("Notes", className="mt-3"),
            html.Div(id="rp-notes"),
        ],
        fluid=True,
    )


def build_reports(ctx: AppContext) -> tuple[Any, Any]:
    """The reports table (from the reports room's index) and the notes table."""
    try:
        index = resolve("workbench.reports", "read_index")(ctx.reports_dir)
        frame = index if isinstance(index, pl.DataFrame) else pl.DataFrame(list(index))
        if frame.is_empty():
            reports: Any = html.P(
                f"No reports in {ctx.reports_dir} yet (run `workbench report NAME`).",
                className="text-muted small",
            )
        else:
            wanted = [
                c
                for c in ("name", "run_id", "status", "started", "seconds", "findings", "error")
                if c in frame.columns
            ]
            shown = frame.select(
                *wanted,
                (pl.lit("/reports/") + pl.col("html").cast(pl.String)).alias("href")
                if "html" in frame.columns
                else pl.lit(None, pl.String).alias("href"),
            )
            reports = table(shown, links={"run_id" if "run_id" in wanted else wanted[0]: "href"})
    except (Unavailable, WorkbenchError) as err:
        reports = not_available("Reports", err.reason if isinstance(err, Unavailable) else str(err))
    all_notes = notes.read_annotations(ctx.store)
    if all_notes.is_empty():
        notes_view: Any = html.P("No notes yet: add one from an entity's page.", className="text-muted small")
    else:
        notes_view = table(
            all_notes.select(
                "cluster",
                "level",
                "entity",
                pl.col("start").dt.strftime("%Y-%m-%d %H:%M").alias("from (UTC)"),
                pl.col("end").dt.strftime("%Y-%m-%d %H:%M").alias("to (UTC)"),
                "text",
                "author",
            )
        )
    return reports, notes_view


def register(app: Dash, ctx: AppContext) -> None:
    """Wire the page's callback."""

    @app.callback(
        Output("rp-reports", "children"), Output("rp-notes", "children"), Input("rp-load", "n_intervals")
    )
    @ctx.timed("reports")
    def _load(_n: int) -> tuple[Any, Any]:
        return build_reports(ctx)
