"""Small layout helpers shared by the pages (no data logic)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
import polars as pl
from dash import dcc, html

__all__ = ["GRAPH_CONFIG", "dataset_options", "graph", "not_available", "table", "unchanged"]

GRAPH_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["sendDataToCloud"],
}


def not_available(what: str, reason: str) -> dbc.Alert:
    """An honest placeholder for a view whose package function or data is missing."""
    return dbc.Alert(
        [html.Strong(f"{what}: not available. "), html.Span(reason)],
        color="secondary",
        className="py-2 small not-available",
    )


def graph(component_id: str | dict[str, str], figure: go.Figure, **kwargs: Any) -> dcc.Graph:
    """A Graph with the app's config and a fixed height (avoids a second redraw on load)."""
    height = figure.layout.height or 400
    return dcc.Graph(
        id=component_id,
        figure=figure,
        config=GRAPH_CONFIG,  # type: ignore[arg-type]
        style={"height": f"{height}px"},
        **kwargs,
    )


def dataset_options(datasets: pl.DataFrame) -> list[dict[str, str]]:
    """Dropdown options for the store's datasets."""
    return [
        {"label": f"{name} ({rows:,} rows)", "value": name}
        for name, rows in datasets.select("dataset", "rows").iter_rows()
    ]


def table(frame: pl.DataFrame, *, links: dict[str, str] | None = None, max_rows: int = 50) -> dbc.Table:
    """A Bootstrap table of a small frame; ``links`` maps a column to an href column.

    Text goes through React, which escapes it: no user text becomes HTML.
    """
    links = links or {}
    shown = [c for c in frame.columns if c not in links.values()]
    head = html.Thead(html.Tr([html.Th(c) for c in shown]))
    rows = []
    for record in frame.head(max_rows).iter_rows(named=True):
        cells = []
        for column in shown:
            value = record[column]
            text = "" if value is None else str(value)
            if column in links and record.get(links[column]):
                cells.append(html.Td(dcc.Link(text, href=record[links[column]])))
            else:
                cells.append(html.Td(text))
        rows.append(html.Tr(cells))
    return dbc.Table(
        [head, html.Tbody(rows)], size="sm", striped=True, hover=True, responsive=True, className="small"
    )


def unchanged(initial: dict[str, Any] | None, **values: Any) -> bool:
    """Whether control values equal those the page was built with.

    Dash calls a control's callback when the page inserts the control, with every input
    marked as triggered; comparing with the values the layout was built from tells that
    call apart from a user's change (which must update the URL).

    Examples
    --------
    >>> unchanged({"dataset": "d", "levels": []}, dataset="d", levels=None)
    True
    >>> unchanged({"dataset": "d"}, dataset="e")
    False
    """
    initial = initial or {}

    def norm(value: Any) -> Any:
        return value or None

    return all(norm(initial.get(k)) == norm(v) for k, v in values.items())
