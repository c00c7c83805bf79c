"""Seasonality figures: a learned load profile (hour-of-week heatmap and band) and the decomposition.

The statistics come from :mod:`workbench.analysis.seasonality`; these functions only draw.

Examples
--------
>>> from datetime import datetime, timedelta, timezone
>>> from workbench.analysis.seasonality import fit_seasonal_profile
>>> t0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
>>> ts = [t0 + timedelta(hours=h) for h in range(24 * 14)]
>>> df = pl.DataFrame({"ts": ts, "entity": "q", "metric": "messages_in_per_s",
...                    "value": [100.0 + (50 if 9 <= t.hour < 17 else 0) for t in ts]})
>>> profile = fit_seasonal_profile(df, "messages_in_per_s")
>>> profile_heatmap(profile).data[0].z.shape
(7, 24)
>>> len(profile_band(profile).data)
3
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go
import polars as pl

from workbench.analysis.seasonality import SeasonalProfile
from workbench.figures.entity import decomposition_figure

__all__ = ["decomposition_figure", "profile_band", "profile_heatmap"]

_WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def profile_heatmap(profile: SeasonalProfile, *, title: str | None = None) -> go.Figure:
    """Weekday x hour heatmap of the profile's multipliers (1 = the overall mean).

    Parameters
    ----------
    profile : SeasonalProfile
        From :func:`~workbench.analysis.seasonality.fit_seasonal_profile`.
    title : str, optional
        Figure title (escaped); default names the metric, cycle and business-hours ratio.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    table = profile.table.sort("weekday", "hour")
    z = table["multiplier"].to_numpy().reshape(7, 24)
    text = title or (
        f"{profile.metric}: {profile.kind} cycle, business hours x{profile.business_hours_ratio:.2f} "
        f"of off-hours"
    )
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"{h:02d}:00" for h in range(24)],
            y=_WEEKDAYS,
            colorscale="Blues",
            colorbar={"title": "x mean"},
            hovertemplate="%{y} %{x} UTC: x%{z:.2f}<extra></extra>",
        )
    )
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 20},
        title={"text": html.escape(text), "x": 0},
        yaxis={"autorange": "reversed"},
    )
    return fig


def profile_band(profile: SeasonalProfile, *, title: str | None = None) -> go.Figure:
    """The hour-of-week mean with its 10th-90th percentile band, Monday 00:00 UTC first.

    Returns
    -------
    plotly.graph_objects.Figure
    """
    table = profile.table.sort("weekday", "hour").with_columns(
        label=pl.concat_str(
            pl.col("weekday").replace_strict(dict(enumerate(_WEEKDAYS, start=1)), return_dtype=pl.String),
            pl.lit(" "),
            pl.col("hour").cast(pl.String).str.zfill(2),
            pl.lit(":00"),
        )
    )
    x = np.arange(table.height)
    labels = table["label"].to_list()
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=table["p90"].to_numpy(),
                mode="lines",
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
            ),
            go.Scatter(
                x=x,
                y=table["p10"].to_numpy(),
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(13,110,253,0.2)",
                name="p10-p90",
            ),
            go.Scatter(
                x=x,
                y=table["mean"].to_numpy(),
                mode="lines",
                name="mean",
                text=labels,
                line={"width": 1.5, "color": "#0d6efd"},
                hovertemplate="%{text}: %{y:.3g}<extra></extra>",
            ),
        ]
    )
    fig.update_layout(
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 20},
        title={
            "text": html.escape(title or f"Weekly profile of {profile.metric} ({profile.kind} cycle)"),
            "x": 0,
        },
        xaxis={"tickmode": "array", "tickvals": list(range(0, 168, 24)), "ticktext": _WEEKDAYS},
    )
    return fig
