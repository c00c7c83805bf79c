"""Anomaly figures: a series with its findings as bands, and its anomaly score underneath.

Takes precomputed frames only (scores from :mod:`workbench.analysis.anomaly`,
findings from :func:`~workbench.analysis.anomaly.detect_anomalies`); nothing is
estimated here. Long series are downsampled with MinMaxLTTB, which keeps spikes.

Examples
--------
>>> import datetime as dt
>>> import polars as pl
>>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
>>> ts = pl.datetime_range(t0, t0 + dt.timedelta(minutes=99), "1m", eager=True, time_zone="UTC")
>>> frame = pl.DataFrame({"ts": ts, "value": [1.0] * 100, "score": [0.1] * 100})
>>> fig = anomaly_figure(frame, threshold=0.6, title="orders")
>>> [t.name for t in fig.data]
['value', 'anomaly score']
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from workbench.errors import SchemaError
from workbench.figures.entity import DEFAULT_MAX_POINTS, downsample_indices

__all__ = ["SEVERITY_COLORS", "anomaly_figure"]

SEVERITY_COLORS = {"info": "#9ecae1", "warning": "#fdae6b", "critical": "#e6550d"}


def anomaly_figure(
    frame: pl.DataFrame,
    findings: pl.DataFrame | None = None,
    *,
    threshold: float | None = None,
    title: str = "",
    max_points: int = DEFAULT_MAX_POINTS,
) -> go.Figure:
    """Series (top) with finding bands, anomaly score (bottom) with the alert threshold.

    Parameters
    ----------
    frame : polars.DataFrame
        Columns ``ts`` and ``value``, optionally ``score`` (anomaly score in [0, 1]).
    findings : polars.DataFrame, optional
        Rows with ``start``, ``end``, ``severity`` and ``explanation`` (the
        findings frame, already filtered to this series); drawn as shaded bands.
    threshold : float, optional
        Alert threshold drawn on the score panel.
    title : str
        Figure title.
    max_points : int
        Most points per trace.

    Returns
    -------
    plotly.graph_objects.Figure

    Raises
    ------
    SchemaError
        If ``frame`` lacks ``ts`` or ``value``.
    """
    for column in ("ts", "value"):
        if column not in frame.columns:
            raise SchemaError(column, "anomaly_figure needs columns ts and value (and optionally score)")
    has_score = "score" in frame.columns
    fig = make_subplots(
        rows=2 if has_score else 1,
        cols=1,
        shared_xaxes=True,
        row_heights=[0.7, 0.3] if has_score else [1.0],
        vertical_spacing=0.04,
    )
    keep = downsample_indices(frame["ts"], frame["value"], max_points)
    shown = frame[keep]
    fig.add_trace(go.Scatter(x=shown["ts"], y=shown["value"], mode="lines", name="value"), row=1, col=1)
    if has_score:
        keep_s = downsample_indices(frame["ts"], frame["score"], max_points)
        scored = frame[keep_s]
        fig.add_trace(
            go.Scatter(
                x=scored["ts"],
                y=scored["score"],
                mode="lines",
                name="anomaly score",
                line={"color": "#756bb1"},
            ),
            row=2,
            col=1,
        )
        fig.update_yaxes(range=[0, 1], title_text="score", row=2, col=1)
        if threshold is not None:
            fig.add_hline(y=threshold, line_dash="dash", line_color="#e6550d", row=2, col=1)
    if findings is not None and findings.height:
        for row in findings.select("start", "end", "severity", "explanation").iter_rows(named=True):
            fig.add_vrect(
                x0=row["start"],
                x1=row["end"],
                fillcolor=SEVERITY_COLORS.get(str(row["severity"]), "#fdae6b"),
                opacity=0.3,
                line_width=0,
                annotation_text=str(row["severity"]),
                annotation_position="top left",
                row=1,
                col=1,
            )
    fig.update_layout(
        title=title, height=420 if has_score else 300, margin={"l": 40, "r": 10, "t": 40, "b": 30}
    )
    return fig
