"""Entity drill-down figures: metric panels with anomaly highlights, lag-status timeline.

Every function takes precomputed frames. Long series are downsampled on the
server with tsdownsample's MinMaxLTTB (which keeps extremes, so spikes stay
visible) so that no trace sends more than ``max_points`` points to the browser.

Examples
--------
>>> import datetime as dt
>>> import polars as pl
>>> t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
>>> series = pl.DataFrame({
...     "ts": pl.datetime_range(t0, t0 + dt.timedelta(minutes=9999), "1m", eager=True,
...                             time_zone="UTC"),
...     "metric": "queue_depth_messages", "value": 1.0})
>>> fig = metric_panels(series, max_points=500)
>>> len(fig.data[0].x) <= 500
True
"""

from __future__ import annotations

import html
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots
from tsdownsample import MinMaxLTTBDownsampler

from workbench.errors import ParameterError, SchemaError

__all__ = [
    "DEFAULT_MAX_POINTS",
    "LAG_STATUS_COLORS",
    "decomposition_figure",
    "downsample_indices",
    "forecast_band",
    "lag_status_timeline",
    "live_lines",
    "metric_panels",
]

logger = logging.getLogger(__name__)

#: Most points any trace sends to the browser.
DEFAULT_MAX_POINTS = 2000

#: Burrow status → colour (OK green … STOP/STALL/REWIND red shades).
LAG_STATUS_COLORS: dict[str, str] = {
    "OK": "#1a9850",
    "WARN": "#fdae61",
    "ERR": "#d73027",
    "STOP": "#a50026",
    "STALL": "#7f3b08",
    "REWIND": "#762a83",
    "NOTFOUND": "#adb5bd",
}

_SEVERITY_COLORS = {
    "info": "rgba(49,130,189,0.15)",
    "warning": "rgba(253,174,97,0.25)",
    "critical": "rgba(215,48,39,0.25)",
}


def _require(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(missing[0], f"{name} needs columns {list(columns)}; has {frame.columns}")


def downsample_indices(ts: pl.Series, values: pl.Series, max_points: int) -> np.ndarray:
    """Indices of the points to keep so that at most ``max_points`` remain.

    Uses tsdownsample's MinMaxLTTB on the epoch-millisecond axis. NaN values
    are kept out of the selection. Returns all indices when the series is short.

    Examples
    --------
    >>> import polars as pl
    >>> idx = downsample_indices(pl.Series(range(10_000)), pl.Series([0.0] * 10_000), 100)
    >>> len(idx) <= 100
    True
    """
    if max_points < 10:
        raise ParameterError("max_points", allowed="an integer >= 10", received=max_points)
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    x = ts.cast(pl.Int64).to_numpy() if ts.dtype != pl.Int64 else ts.to_numpy()
    y = values.cast(pl.Float64).to_numpy()
    finite = np.isfinite(y)
    if not finite.all():
        keep = np.flatnonzero(finite)
        if len(keep) <= max_points:
            return keep
        sub = np.asarray(_minmax_lttb(x[keep], y[keep], max_points), dtype=np.int64)
        return np.asarray(keep[sub], dtype=np.int64)
    return np.asarray(_minmax_lttb(x, y, max_points), dtype=np.int64)


def _minmax_lttb(x: np.ndarray, y: np.ndarray, n_out: int) -> Any:
    return MinMaxLTTBDownsampler().downsample(x, y, n_out=n_out)  # type: ignore[no-untyped-call]


def _spans(frame: pl.DataFrame | None, metric: str | None) -> pl.DataFrame:
    if frame is None or frame.is_empty():
        return pl.DataFrame()
    if metric is not None and "metric" in frame.columns:
        return frame.filter(pl.col("metric").is_null() | (pl.col("metric") == metric))
    return frame


def metric_panels(
    series: pl.DataFrame,
    *,
    metrics: Sequence[str] | None = None,
    findings: pl.DataFrame | None = None,
    annotations: pl.DataFrame | None = None,
    units: dict[str, str] | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    height_per_panel: int = 180,
) -> go.Figure:
    """One panel per metric, with findings shaded and annotations marked.

    Parameters
    ----------
    series : pl.DataFrame
        Long frame of one entity: ``ts, metric, value``.
    metrics : sequence of str, optional
        Metrics to show, in order; default all present, sorted.
    findings : pl.DataFrame, optional
        Findings frame (``start, end, metric, severity, kind``); shaded on the
        panel of its metric (or all panels when ``metric`` is null).
    annotations : pl.DataFrame, optional
        ``start, end, text`` (and optionally ``metric``): drawn as dashed boxes
        with their text in the hover.
    units : dict, optional
        Metric → unit, shown on the y axes.
    max_points : int
        Most points per trace (downsampled with MinMaxLTTB above this).
    height_per_panel : int
        Pixel height of each panel.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    _require(series, ["ts", "metric", "value"], "metric_panels")
    present = sorted(series.get_column("metric").cast(pl.String).unique().to_list())
    shown = [m for m in (metrics or present) if m in present]
    units = units or {}
    if not shown:
        fig = go.Figure()
        fig.update_layout(
            height=160,
            annotations=[
                {
                    "text": "no data for this entity in the selected range",
                    "showarrow": False,
                    "xref": "paper",
                    "yref": "paper",
                    "x": 0.5,
                    "y": 0.5,
                }
            ],
        )
        return fig
    fig = make_subplots(
        rows=len(shown),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=min(0.08, 0.3 / len(shown)),
        subplot_titles=[html.escape(f"{m} ({units[m]})" if m in units else m) for m in shown],
    )
    by_metric = series.sort("ts").partition_by("metric", as_dict=True, include_key=False)
    for row, metric in enumerate(shown, start=1):
        part = by_metric[(metric,)]
        idx = downsample_indices(part.get_column("ts"), part.get_column("value"), max_points)
        picked = part[idx]
        fig.add_trace(
            go.Scatter(
                x=picked.get_column("ts").to_numpy(),
                y=picked.get_column("value").to_numpy(),
                mode="lines",
                name=html.escape(metric),
                line={"width": 1.2},
                hovertemplate="%{x}<br>%{y:.4g}<extra>" + html.escape(metric) + "</extra>",
                showlegend=False,
            ),
            row=row,
            col=1,
        )
        if len(picked) < len(part):
            fig.layout.annotations[row - 1].text += f" · {len(picked)} of {len(part)} points shown"
        for start, end, severity, kind in _finding_rows(_spans(findings, metric)):
            fig.add_vrect(
                x0=start,
                x1=end,
                row=row,
                col=1,
                line_width=0,
                fillcolor=_SEVERITY_COLORS.get(severity, _SEVERITY_COLORS["warning"]),
                layer="below",
            )
            del kind  # shown in the findings table, not on the chart
        for start, end, text in _annotation_rows(_spans(annotations, metric)):
            fig.add_vrect(
                x0=start,
                x1=end,
                row=row,
                col=1,
                fillcolor="rgba(0,0,0,0)",
                line={"dash": "dot", "width": 1, "color": "#6f42c1"},
                annotation_text=html.escape(text)[:60],
                annotation_position="top left",
                annotation_font_size=10,
            )
    fig.update_layout(
        height=height_per_panel * len(shown) + 40,
        margin={"l": 10, "r": 10, "t": 40, "b": 20},
        uirevision="entity",
    )
    return fig


def _finding_rows(findings: pl.DataFrame) -> list[tuple[Any, Any, str, str]]:
    if findings.is_empty():
        return []
    _require(findings, ["start", "end"], "findings")
    cols = [
        pl.col("start"),
        pl.col("end"),
        (pl.col("severity").cast(pl.String) if "severity" in findings.columns else pl.lit("warning")).alias(
            "severity"
        ),
        (pl.col("kind").cast(pl.String) if "kind" in findings.columns else pl.lit("")).alias("kind"),
    ]
    return list(findings.select(cols).head(200).iter_rows())


def _annotation_rows(annotations: pl.DataFrame) -> list[tuple[Any, Any, str]]:
    if annotations.is_empty():
        return []
    _require(annotations, ["start", "end", "text"], "annotations")
    return list(annotations.select("start", "end", "text").head(100).iter_rows())


def lag_status_timeline(status: pl.DataFrame, *, height: int | None = None) -> go.Figure:
    """Burrow-style lag status over time, one row per partition or group.

    Parameters
    ----------
    status : pl.DataFrame
        ``ts, entity, status`` where status is one of OK, WARN, ERR, STOP,
        STALL, REWIND, NOTFOUND (the evaluator's output).
    height : int, optional
        Pixel height.

    Returns
    -------
    plotly.graph_objects.Figure
        One marker trace per status (legend = statuses), rows per entity.

    Examples
    --------
    >>> import datetime as dt
    >>> t = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    >>> s = pl.DataFrame({"ts": [t, t], "entity": ["o/0", "o/1"], "status": ["OK", "STALL"]})
    >>> sorted(tr.name for tr in lag_status_timeline(s).data)
    ['OK', 'STALL']
    """
    _require(status, ["ts", "entity", "status"], "lag_status_timeline")
    frame = status.select(
        pl.col("ts"), pl.col("entity").cast(pl.String), pl.col("status").cast(pl.String)
    ).sort("ts")
    fig = go.Figure()
    order = list(LAG_STATUS_COLORS)
    for (name,), part in sorted(
        frame.partition_by("status", as_dict=True).items(),
        key=lambda kv: order.index(kv[0][0]) if kv[0][0] in order else 99,
    ):
        # Runs of one status per entity are sent as points; downsample per status trace.
        idx = downsample_indices(
            part.get_column("ts"),
            part.get_column("entity").rank("dense").cast(pl.Float64),
            DEFAULT_MAX_POINTS,
        )
        picked = part[idx]
        fig.add_trace(
            go.Scatter(
                x=picked.get_column("ts").to_numpy(),
                y=[html.escape(e) for e in picked.get_column("entity").to_list()],
                mode="markers",
                name=html.escape(str(name)),
                marker={"symbol": "square", "size": 8, "color": LAG_STATUS_COLORS.get(str(name), "#333")},
                hovertemplate="%{y}<br>%{x}<br>" + html.escape(str(name)) + "<extra></extra>",
            )
        )
    n_rows = frame.get_column("entity").n_unique()
    fig.update_layout(
        height=height or int(min(600, 120 + 18 * n_rows)),
        margin={"l": 10, "r": 10, "t": 30, "b": 20},
        title={"text": "Consumer lag status (Burrow rules)", "x": 0},
        yaxis={"automargin": True, "type": "category"},
    )
    return fig


def forecast_band(
    history: pl.DataFrame,
    forecast: pl.DataFrame,
    *,
    value: str = "value",
    mean: str = "mean",
    lower: str = "lower",
    upper: str = "upper",
    max_points: int = DEFAULT_MAX_POINTS,
    title: str = "Forecast",
) -> go.Figure:
    """History line plus a forecast mean with its prediction band.

    Parameters
    ----------
    history : pl.DataFrame
        ``ts`` and ``value``.
    forecast : pl.DataFrame
        ``ts`` with the mean, lower and upper columns named by the parameters.
    value, mean, lower, upper : str
        Column names.
    max_points : int
        Most points per trace.
    title : str
        Figure title (escaped).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    _require(history, ["ts", value], "forecast_band history")
    _require(forecast, ["ts", mean, lower, upper], "forecast_band forecast")
    hist = history.sort("ts")
    hist = hist[downsample_indices(hist["ts"], hist[value], max_points)]
    fc = forecast.sort("ts")
    fc = fc[downsample_indices(fc["ts"], fc[mean], max_points)]
    x = fc.get_column("ts").to_numpy()
    fig = go.Figure(
        [
            go.Scatter(
                x=hist["ts"].to_numpy(),
                y=hist[value].to_numpy(),
                mode="lines",
                name="observed",
                line={"width": 1.2, "color": "#343a40"},
            ),
            go.Scatter(
                x=x,
                y=fc[upper].to_numpy(),
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            ),
            go.Scatter(
                x=x,
                y=fc[lower].to_numpy(),
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(13,110,253,0.2)",
                name="prediction interval",
            ),
            go.Scatter(
                x=x,
                y=fc[mean].to_numpy(),
                mode="lines",
                name="forecast",
                line={"width": 1.5, "color": "#0d6efd", "dash": "dash"},
            ),
        ]
    )
    fig.update_layout(
        height=300, margin={"l": 10, "r": 10, "t": 30, "b": 20}, title={"text": html.escape(title), "x": 0}
    )
    return fig


def decomposition_figure(
    ts: pl.Series,
    parts: dict[str, np.ndarray],
    *,
    metric: str = "",
    max_points: int = DEFAULT_MAX_POINTS,
) -> go.Figure:
    """Observed, trend, seasonal component(s) and residual in stacked panels.

    Parameters
    ----------
    ts : pl.Series
        Sample times, the length of every part.
    parts : dict
        Output of :func:`workbench.analysis.seasonality.decompose`:
        ``observed``, ``trend``, ``seasonal_<period>`` …, ``resid``.
    metric : str
        Metric name for the title (escaped).
    max_points : int
        Most points per trace (each part downsampled on its own values).

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> t = pl.Series([1, 2, 3], dtype=pl.Int64)
    >>> parts = {"observed": np.array([1.0, 2, 3]), "trend": np.array([1.0, 2, 3]),
    ...          "resid": np.zeros(3)}
    >>> len(decomposition_figure(t, parts).data)
    3
    """
    order = ["observed", "trend", *sorted(k for k in parts if k.startswith("seasonal")), "resid"]
    names = [k for k in order if k in parts]
    fig = make_subplots(
        rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.04, subplot_titles=names
    )
    for row, name in enumerate(names, start=1):
        values = pl.Series(parts[name])
        idx = downsample_indices(ts, values, max_points)
        fig.add_trace(
            go.Scatter(
                x=ts.gather(idx).to_numpy(),
                y=values.gather(idx).to_numpy(),
                mode="lines",
                line={"width": 1},
                name=name,
                showlegend=False,
            ),
            row=row,
            col=1,
        )
    fig.update_layout(
        height=110 * len(names) + 50,
        margin={"l": 10, "r": 10, "t": 40, "b": 20},
        title={"text": html.escape(f"Seasonal decomposition of {metric}"), "x": 0},
    )
    return fig


def live_lines(
    frame: pl.DataFrame, *, metric: str, max_series: int = 12, max_points: int = DEFAULT_MAX_POINTS
) -> go.Figure:
    """Live view of one metric: a line per entity (the first ``max_series`` by name).

    Parameters
    ----------
    frame : pl.DataFrame
        Canonical rows (``ts, cluster, level, entity, metric, value``).
    metric : str
        The metric to draw.
    max_series : int
        Most lines drawn.
    max_points : int
        Most points per line.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    _require(frame, ["ts", "entity", "metric", "value"], "live_lines")
    rows = frame.filter(pl.col("metric") == metric).sort("ts")
    fig = go.Figure()
    names = sorted(rows.get_column("entity").unique().to_list())[:max_series]
    for name in names:
        part = rows.filter(pl.col("entity") == name)
        idx = downsample_indices(part.get_column("ts"), part.get_column("value"), max_points)
        fig.add_trace(
            go.Scatter(
                x=part["ts"].gather(idx).to_numpy(),
                y=part["value"].gather(idx).to_numpy(),
                mode="lines",
                name=html.escape(str(name)),
            )
        )
    fig.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 30, "b": 20},
        title={"text": html.escape(f"{metric} (live)"), "x": 0},
        uirevision=metric,
        legend={"font": {"size": 10}},
    )
    return fig
