"""Forecast figure: history, forecast mean, prediction band, and a threshold with its crossing.

Draws the output of :func:`workbench.analysis.forecast.forecast_series` and
:func:`~workbench.analysis.forecast.time_until_threshold`; computes nothing itself.

Examples
--------
>>> from datetime import datetime, timedelta, timezone
>>> from workbench.analysis.forecast import forecast_series, time_until_threshold
>>> ts = [datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=5 * i) for i in range(48)]
>>> df = pl.DataFrame({"ts": ts, "entity": "q", "metric": "queue_depth_messages",
...                    "value": [100.0 * i for i in range(48)]})
>>> fc = forecast_series(df, metric="queue_depth_messages", horizon=timedelta(hours=2))
>>> fig = forecast_figure(fc, crossing=time_until_threshold(fc, 6000.0))
>>> [trace.name for trace in fig.data]
['observed', None, 'prediction interval', 'forecast', 'expected crossing']
"""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl

from workbench.analysis.forecast import ThresholdCrossing
from workbench.analysis.narrative import format_count
from workbench.errors import ParameterError
from workbench.figures.entity import DEFAULT_MAX_POINTS, forecast_band

__all__ = ["forecast_figure"]


def forecast_figure(
    forecast: pl.DataFrame,
    *,
    crossing: ThresholdCrossing | None = None,
    title: str = "Forecast",
    max_points: int = DEFAULT_MAX_POINTS,
) -> go.Figure:
    """History, forecast band and (optionally) the threshold and when it is crossed.

    Parameters
    ----------
    forecast : polars.DataFrame
        Output of :func:`~workbench.analysis.forecast.forecast_series`.
    crossing : ThresholdCrossing, optional
        Draws the threshold as a dotted line and marks the expected crossing.
    title : str
        Figure title (escaped).
    max_points : int
        Most points per trace.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    if "part" not in forecast.columns:
        raise ParameterError(
            "forecast",
            allowed="a frame from forecast_series (with a 'part' column)",
            received=forecast.columns,
        )
    history = forecast.filter(pl.col("part") == "history").select("ts", "value")
    ahead = forecast.filter(pl.col("part") == "forecast").select(
        "ts", mean="forecast", lower="lower", upper="upper"
    )
    fig = forecast_band(history, ahead, max_points=max_points, title=title)
    if crossing is not None:
        fig.add_hline(
            y=crossing.threshold,
            line={"dash": "dot", "color": "#dc3545", "width": 1},
            annotation_text=f"threshold {format_count(crossing.threshold)}",
        )
        if crossing.expected_at is not None:
            fig.add_trace(
                go.Scatter(
                    x=[crossing.expected_at],
                    y=[crossing.threshold],
                    mode="markers",
                    name="expected crossing",
                    marker={"color": "#dc3545", "size": 9, "symbol": "x"},
                )
            )
    return fig
