"""Tumbling, hopping and sliding windows over long frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from workbench.analysis.windows import sliding_window, time_aggregate_table, window_aggregate
from workbench.errors import ParameterError, SchemaError

T0 = datetime(2024, 1, 1, tzinfo=UTC)
METRICS = ["messages_in_per_s", "consumer_lag_messages", "consumer_status"]


def _frame(n_entities: int = 6, minutes: int = 47, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = n_entities * len(METRICS) * minutes
    return pl.DataFrame(
        {
            "ts": [
                T0 + timedelta(minutes=int(m), seconds=int(s))
                for m, s in zip(
                    np.tile(np.arange(minutes), n_entities * len(METRICS)),
                    rng.integers(0, 60, rows),
                    strict=True,
                )
            ],
            "provider": "kafka",
            "cluster": "c1",
            "level": "partition",
            "entity": np.repeat([f"t/{i}" for i in range(n_entities)], len(METRICS) * minutes),
            "metric": np.tile(np.repeat(METRICS, minutes), n_entities),
            "value": rng.integers(0, 7, rows).astype(float),
            "source": "test",
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("ms"))


def test_primary_aggregate_follows_metric_kind() -> None:
    frame = _frame(n_entities=1, minutes=5)
    out = window_aggregate(frame, every="5m", stats=["n", "max"])
    got = dict(zip(out["metric"].to_list(), out["value"].to_list(), strict=True))
    by_metric = {m: frame.filter(pl.col("metric") == m).sort("ts")["value"] for m in METRICS}
    assert got["messages_in_per_s"] == pytest.approx(by_metric["messages_in_per_s"].mean())
    assert got["consumer_lag_messages"] == by_metric["consumer_lag_messages"][-1]
    assert got["consumer_status"] == by_metric["consumer_status"].max()
    assert out["n"].to_list() == [5, 5, 5]
    assert out["source"].to_list() == ["test"] * 3


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("every", ["5m", "1m"])  # 1m: one sample per window, the no-grouping path
def test_packed_fast_path_equals_general_path(shuffle: bool, every: str) -> None:
    frame = _frame()
    if shuffle:
        frame = frame.sample(fraction=1.0, shuffle=True, seed=1)
    categorical = frame.with_columns(
        pl.col("provider", "cluster", "level", "entity", "metric").cast(pl.Categorical)
    )
    stats = ["n", "min", "max", "p95", "first", "last"]
    general = window_aggregate(frame, every=every, stats=stats)
    fast = window_aggregate(categorical, every=every, stats=stats)
    fast = fast.with_columns(pl.col("provider", "cluster", "level", "entity", "metric").cast(pl.String))
    assert_frame_equal(general, fast.sort("entity", "metric", "ts"), check_dtypes=False)
    lazy = window_aggregate(frame.lazy(), every=every, stats=stats)
    assert_frame_equal(general, lazy.collect())


def test_offset_and_tumbling_edges() -> None:
    frame = pl.DataFrame(
        {
            "ts": [T0 + timedelta(seconds=s) for s in (0, 29, 30, 89, 90)],
            "entity": "x",
            "metric": "messages_in_per_s",
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    plain = window_aggregate(frame, every="1m")
    assert plain["value"].to_list() == [2.0, 4.5]
    shifted = window_aggregate(frame, every="1m", offset="30s")
    assert shifted["ts"].to_list() == [
        T0 - timedelta(seconds=30),
        T0 + timedelta(seconds=30),
        T0 + timedelta(seconds=90),
    ]
    assert shifted["value"].to_list() == [1.5, 3.5, 5.0]


def test_hopping_windows_overlap() -> None:
    frame = pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=m) for m in range(6)],
            "entity": "x",
            "metric": "messages_in_per_s",
            "value": [float(m) for m in range(6)],
        }
    )
    out = window_aggregate(frame, every="1m", period="3m", stats=["n"])
    first = out.filter(pl.col("ts") == T0)
    assert first["value"].item() == 1.0
    assert first["n"].item() == 3


def test_any_window_length_and_explicit_aggregate() -> None:
    frame = _frame(n_entities=2, minutes=30)
    for every in ("7m", "90s", "1h"):
        out = window_aggregate(frame, every=every, aggregate="sum", by=["entity"])
        assert out["value"].sum() == pytest.approx(frame["value"].sum())


def test_sliding_window() -> None:
    frame = pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=m) for m in range(5)] * 2,
            "entity": ["a"] * 5 + ["b"] * 5,
            "value": [1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 10.0, 10.0, 10.0, 10.0],
        }
    )
    out = sliding_window(frame, period="3m", stats=["mean", "max", "n", "p50"])
    a = out.filter(pl.col("entity") == "a")
    assert a["mean"].to_list() == [1.0, 1.5, 2.0, 3.0, 4.0]
    assert a["n"].to_list() == [1, 2, 3, 3, 3]
    assert out.filter(pl.col("entity") == "b")["max"].to_list() == [10.0] * 5


def test_time_aggregate_table_covers_catalogue() -> None:
    table = time_aggregate_table()
    assert set(table["time_aggregate"].unique()) <= {"mean", "last", "max"}
    assert table.filter(pl.col("metric") == "consumer_status")["time_aggregate"].item() == "max"


def test_errors() -> None:
    frame = _frame(n_entities=1, minutes=3)
    with pytest.raises(ParameterError, match="every"):
        window_aggregate(frame, every="5 minutes")
    with pytest.raises(ParameterError, match="stats"):
        window_aggregate(frame, every="5m", stats=["p42"])
    with pytest.raises(SchemaError, match="'value'"):
        window_aggregate(frame.drop("value"), every="5m")
    with pytest.raises(SchemaError, match="'metric'"):
        window_aggregate(frame.drop("metric"), every="5m")


@pytest.mark.parametrize("layout", ["sorted", "runs", "shuffled"])
def test_segment_stats_equal_polars_group_by(layout: str) -> None:
    """The NumPy segment reductions give Polars' group-by answers in key order, whatever the row layout."""
    from workbench.analysis.windows import segment_stats

    rng = np.random.default_rng(3)
    keys = np.repeat(rng.permutation(400), rng.integers(1, 6, 400))
    if layout == "sorted":
        keys = np.sort(keys, kind="stable")
    elif layout == "shuffled":
        keys = rng.permutation(keys)
    frame = pl.DataFrame({"k": keys, "v": rng.normal(size=len(keys)), "ts": np.arange(len(keys))})
    stats = ["n", "sum", "min", "max", "mean", "first", "last"]
    got = segment_stats(frame["k"], frame["v"], stats, time=frame["ts"])
    v = pl.col("v")
    expected = (
        frame.sort("k", maintain_order=True)
        .group_by("k", maintain_order=True)
        .agg(
            v.count().alias("n"),
            v.sum().alias("sum"),
            v.min().alias("min"),
            v.max().alias("max"),
            v.mean().alias("mean"),
            v.first().alias("first"),
            v.last().alias("last"),
        )
    )
    assert got is not None
    assert_frame_equal(got, expected, rel_tol=1e-12)
    with_nan = frame.with_columns(pl.when(pl.col("k") == keys[0]).then(float("nan")).otherwise(v).alias("v"))
    assert segment_stats(with_nan["k"], with_nan["v"], ["max"]) is None
    assert segment_stats(frame["k"], frame["v"], ["last"], time=frame["ts"].reverse()) is None
