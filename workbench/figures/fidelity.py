"""Fidelity figures: QQ plot, ACF overlay, seasonal-profile overlay, distribution overlay.

Every figure takes a :class:`~workbench.fidelity.compare.SeriesDetails` computed by
``workbench.fidelity`` (quantiles, autocorrelations, hourly means, histogram densities)
and only draws it; no statistic is computed here.

Examples
--------
>>> from workbench.fidelity.compare import SeriesDetails
>>> d = SeriesDetails(probabilities=[0.25, 0.5, 0.75], real_quantiles=[1.0, 2.0, 3.0],
...                   sim_quantiles=[1.1, 2.0, 2.9])
>>> fig = qq_plot(d)
>>> [t.name for t in fig.data]
['quantiles', 'y = x']
"""

from __future__ import annotations

import plotly.graph_objects as go

from workbench.fidelity.compare import SeriesDetails

__all__ = ["acf_overlay", "distribution_overlay", "qq_plot", "report_figures", "seasonal_overlay"]

_REAL, _SIM = "#1f77b4", "#ff7f0e"


def qq_plot(details: SeriesDetails, title: str = "QQ plot") -> go.Figure:
    """Quantiles of the synthetic series against the real one, with the identity line."""
    lo = min(details.real_quantiles + details.sim_quantiles, default=0.0)
    hi = max(details.real_quantiles + details.sim_quantiles, default=1.0)
    fig = go.Figure(
        [
            go.Scatter(
                x=details.real_quantiles,
                y=details.sim_quantiles,
                mode="markers",
                name="quantiles",
                marker={"color": _SIM},
                customdata=details.probabilities,
                hovertemplate="p=%{customdata:.2f}<br>real %{x:.4g}<br>sim %{y:.4g}",
            ),
            go.Scatter(
                x=[lo, hi], y=[lo, hi], mode="lines", name="y = x", line={"color": "grey", "dash": "dash"}
            ),
        ]
    )
    fig.update_layout(title=title, xaxis_title="real quantile", yaxis_title="synthetic quantile", height=360)
    return fig


def acf_overlay(details: SeriesDetails, title: str = "Autocorrelation") -> go.Figure:
    """ACF of the real and the synthetic series against the lag in hours.

    Examples
    --------
    >>> acf_overlay(SeriesDetails(lags_hours=[0, 1], real_acf=[1, .5], sim_acf=[1, .4])).data[1].name
    'synthetic'
    """
    fig = go.Figure(
        [
            go.Scatter(
                x=details.lags_hours, y=details.real_acf, mode="lines", name="real", line={"color": _REAL}
            ),
            go.Scatter(
                x=details.lags_hours, y=details.sim_acf, mode="lines", name="synthetic", line={"color": _SIM}
            ),
        ]
    )
    fig.update_layout(title=title, xaxis_title="lag (hours)", yaxis_title="ACF", height=360)
    return fig


def seasonal_overlay(details: SeriesDetails, title: str = "Hour-of-day profile") -> go.Figure:
    """Mean by UTC hour of day of the real and the synthetic series.

    Examples
    --------
    >>> len(seasonal_overlay(SeriesDetails(real_profile=[1.0] * 24, sim_profile=[1.0] * 24)).data)
    2
    """
    hours = list(range(len(details.real_profile)))
    fig = go.Figure(
        [
            go.Scatter(
                x=hours, y=details.real_profile, mode="lines+markers", name="real", line={"color": _REAL}
            ),
            go.Scatter(
                x=hours, y=details.sim_profile, mode="lines+markers", name="synthetic", line={"color": _SIM}
            ),
        ]
    )
    fig.update_layout(title=title, xaxis_title="hour of day (UTC)", yaxis_title="mean", height=360)
    return fig


def distribution_overlay(details: SeriesDetails, title: str = "Distribution") -> go.Figure:
    """Histogram densities of both series on shared bins (drawn as step lines).

    Examples
    --------
    >>> d = SeriesDetails(bin_edges=[0.0, 1.0, 2.0], real_density=[0.5, 0.5], sim_density=[0.6, 0.4])
    >>> distribution_overlay(d).data[0].x
    (0.5, 1.5)
    """
    centres = [(a + b) / 2 for a, b in zip(details.bin_edges[:-1], details.bin_edges[1:], strict=False)]
    fig = go.Figure(
        [
            go.Scatter(
                x=centres,
                y=details.real_density,
                mode="lines",
                line_shape="hvh",
                name="real",
                line={"color": _REAL},
            ),
            go.Scatter(
                x=centres,
                y=details.sim_density,
                mode="lines",
                line_shape="hvh",
                name="synthetic",
                line={"color": _SIM},
            ),
        ]
    )
    fig.update_layout(title=title, xaxis_title="value", yaxis_title="density", height=360)
    return fig


def report_figures(details: SeriesDetails, title: str = "") -> list[go.Figure]:
    """The four fidelity figures of one pair, titled with ``title``.

    Examples
    --------
    >>> len(report_figures(SeriesDetails()))
    4
    """
    prefix = f"{title}: " if title else ""
    return [
        qq_plot(details, f"{prefix}QQ plot"),
        distribution_overlay(details, f"{prefix}distribution"),
        acf_overlay(details, f"{prefix}autocorrelation (up to one day)"),
        seasonal_overlay(details, f"{prefix}hour-of-day profile"),
    ]
