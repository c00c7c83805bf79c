"""Figures: payload bounded by server-side downsampling, user text escaped, click data present."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from workbench.errors import ParameterError, SchemaError
from workbench.figures.entity import (
    decomposition_figure,
    downsample_indices,
    forecast_band,
    lag_status_timeline,
    live_lines,
    metric_panels,
)
from workbench.figures.overview import entity_label, health_heatmap, heatmap_matrix, topology_graph

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
XSS = "<script>alert(1)</script>"


def _minutes(n: int) -> pl.Series:
    return pl.datetime_range(T0, T0 + dt.timedelta(minutes=n - 1), "1m", eager=True, time_zone="UTC")


def test_week_of_minutes_is_downsampled_but_keeps_the_spike() -> None:
    n = 7 * 1440
    values = np.random.default_rng(1).normal(100, 1, n)
    values[5000] = 10_000.0
    series = pl.DataFrame({"ts": _minutes(n), "metric": "queue_depth_messages", "value": values})
    fig = metric_panels(series, max_points=1500)
    trace = fig.data[0]
    assert len(trace.x) <= 1500
    assert float(np.max(trace.y)) == 10_000.0  # MinMaxLTTB keeps extremes
    assert "1500 of 10080 points shown" in fig.layout.annotations[0].text


def test_downsample_skips_nan_and_rejects_tiny_budgets() -> None:
    values = pl.Series([float("nan")] * 50 + list(range(5000)), dtype=pl.Float64)
    idx = downsample_indices(pl.Series(range(5050)), values, 100)
    assert len(idx) <= 100
    assert not np.isnan(values.to_numpy()[idx]).any()
    with pytest.raises(ParameterError):
        downsample_indices(pl.Series([1]), pl.Series([1.0]), 2)


def test_heatmap_for_a_thousand_entities_week_stays_small() -> None:
    n_entities, n = 1000, 7 * 1440
    ts = _minutes(n)
    health = pl.DataFrame(
        {
            "ts": pl.concat([ts] * 10),
            "cluster": "c",
            "level": "queue",
            "entity": np.repeat([f"q{i}" for i in range(10)], n),
            "score": np.tile(np.linspace(0, 100, n), 10),
        }
    )
    fig = health_heatmap(health, max_columns=400)
    assert fig.data[0].z.shape[1] <= 400
    assert float(np.nanmin(fig.data[0].z)) == 0.0  # worst score in each bucket stays visible
    del n_entities


def test_heatmap_labels_escape_markup_and_map_back_to_keys() -> None:
    health = pl.DataFrame({"ts": [T0], "cluster": ["c"], "level": ["queue"], "entity": [XSS], "score": [5.0]})
    labels, _, matrix, keys = heatmap_matrix(health)
    assert labels == [entity_label("c", "queue", XSS)]
    assert "<script>" not in labels[0]
    assert "&lt;script&gt;" in labels[0]
    assert keys.row(0) == ("c", "queue", XSS)
    assert matrix.tolist() == [[5.0]]


def test_heatmap_needs_its_columns() -> None:
    with pytest.raises(SchemaError, match="score"):
        health_heatmap(pl.DataFrame({"ts": [T0], "cluster": ["c"], "level": ["q"], "entity": ["e"]}))


def test_topology_nodes_carry_keys_for_click_through() -> None:
    nodes = pl.DataFrame(
        {
            "provider": ["kafka"] * 3,
            "cluster": ["k"] * 3,
            "level": ["cluster", "topic", "partition"],
            "entity": ["k", "orders", XSS],
            "score": [100.0, 50.0, None],
        }
    )
    edges = pl.DataFrame(
        {
            "cluster": ["k", "k"],
            "parent_level": ["cluster", "topic"],
            "parent": ["k", "orders"],
            "child_level": ["topic", "partition"],
            "child": ["orders", XSS],
        }
    )
    fig = topology_graph(nodes, edges)
    lines, markers = fig.data
    assert np.isnan(np.asarray(lines.x, dtype=float)).sum() == 2  # two segments
    assert [list(c) for c in markers.customdata][2] == ["kafka", "k", "partition", XSS]
    assert all("<script>" not in t for t in markers.text)
    assert list(markers.marker.color)[2] == -1.0  # unknown health shown grey


def test_lag_status_and_forecast_and_decomposition_and_live() -> None:
    ts = _minutes(30)
    status = pl.DataFrame(
        {
            "ts": pl.concat([ts, ts]),
            "entity": ["o/0"] * 30 + ["o/1"] * 30,
            "status": ["OK"] * 45 + ["STALL"] * 15,
        }
    )
    assert [t.name for t in lag_status_timeline(status).data] == ["OK", "STALL"]
    hist = pl.DataFrame({"ts": ts, "value": np.arange(30.0)})
    fc = pl.DataFrame(
        {"ts": ts, "mean": np.arange(30.0), "lower": np.arange(30.0) - 1, "upper": np.arange(30.0) + 1}
    )
    assert len(forecast_band(hist, fc).data) == 4
    parts = {
        "observed": np.arange(30.0),
        "trend": np.arange(30.0),
        "seasonal_10": np.zeros(30),
        "resid": np.zeros(30),
    }
    assert [a.text for a in decomposition_figure(ts, parts).layout.annotations] == [
        "observed",
        "trend",
        "seasonal_10",
        "resid",
    ]
    live = pl.DataFrame({"ts": ts, "entity": XSS, "metric": "m", "value": np.arange(30.0)})
    assert live_lines(live, metric="m").data[0].name == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_panels_shade_findings_and_mark_notes() -> None:
    ts = _minutes(120)
    series = pl.DataFrame({"ts": ts, "metric": "consumer_lag_messages", "value": np.arange(120.0)})
    findings = pl.DataFrame(
        {
            "start": [ts[10]],
            "end": [ts[20]],
            "metric": ["consumer_lag_messages"],
            "severity": ["critical"],
            "kind": ["spike"],
        }
    )
    notes = pl.DataFrame(
        {"start": [ts[30]], "end": [ts[40]], "text": [XSS], "metric": [None]},
        schema_overrides={"metric": pl.String},
    )
    fig = metric_panels(series, findings=findings, annotations=notes)
    assert len(fig.layout.shapes) == 2
    assert any("&lt;script&gt;" in (a.text or "") for a in fig.layout.annotations)
    assert metric_panels(series.head(0)).layout.annotations[0].text.startswith("no data")
