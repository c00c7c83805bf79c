"""Incremental aggregation: concurrent writers equal the batch result; bounded memory."""

from __future__ import annotations

import gc
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import psutil
import pytest
from polars.testing import assert_frame_equal

from workbench.analysis.incremental import IncrementalAggregator, batch_aggregate
from workbench.errors import ParameterError, SchemaError

T0 = datetime(2024, 1, 1, tzinfo=UTC)
COUNTERS = {
    "log_end_offset_raw": ("messages_in_per_s", "offset"),
    "published_total": ("published_per_s", "counter"),
}
KEYS = ["provider", "cluster", "level", "entity", "metric"]


def _samples(n_series: int, minutes: int, *, seed: int, per_minute: int = 2) -> pl.DataFrame:
    """Raw counters with resets and -1 sentinels, plus gauges, sampled every 30 s."""
    rng = np.random.default_rng(seed)
    steps = minutes * per_minute
    inc = rng.poisson(20, (n_series, steps)).astype(float)
    values = inc.cumsum(axis=1)
    resets = rng.random((n_series, steps)) < 0.01
    values = np.where(resets, inc, values)  # a counter restart (or an offset reset)
    values[rng.random((n_series, steps)) < 0.005] = -1.0  # kafka_exporter sentinel
    kinds = np.array(["log_end_offset_raw", "published_total", "queue_depth_messages"])[
        np.arange(n_series) % 3
    ]
    ts = [T0 + timedelta(seconds=60 // per_minute * i) for i in range(steps)]
    return pl.DataFrame(
        {
            "ts": ts * n_series,
            "provider": "kafka",
            "cluster": np.repeat([f"c{s % 2}" for s in range(n_series)], steps),
            "level": "partition",
            "entity": np.repeat([f"t{s // 4}/{s % 4}" for s in range(n_series)], steps),
            "metric": np.repeat(kinds, steps),
            "value": np.abs(values.ravel()) * np.where(values.ravel() < 0, -1, 1),
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("ms"))


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(KEYS).cast(pl.String)).sort([*KEYS, "ts"])


@pytest.mark.parametrize("n_writers", [1, 4])
def test_concurrent_writers_equal_batch(n_writers: int) -> None:
    frame = _samples(60, 30, seed=n_writers)
    expected = batch_aggregate(frame, every="5m", counters=COUNTERS, stats=["n", "max"])
    writers = [f"w{i}" for i in range(n_writers)]
    agg = IncrementalAggregator("5m", counters=COUNTERS, writers=writers, stats=["n", "max"])
    # each writer owns a slice of the series and sends them tick by tick, in time order
    owner = frame.with_columns((pl.col("entity").rank("dense") % n_writers).alias("_w"))
    shards = {w: owner.filter(pl.col("_w") == i).drop("_w") for i, w in enumerate(writers)}
    barrier = threading.Barrier(n_writers)
    errors: list[BaseException] = []

    def run(writer: str) -> None:
        try:
            barrier.wait()
            for _, tick in shards[writer].sort("ts").group_by("ts", maintain_order=True):
                agg.add(tick, writer=writer)
        except BaseException as err:  # pragma: no cover - surfaced below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert agg.late_rows == 0
    got = agg.flush()
    assert agg.rows_in == frame.height
    assert_frame_equal(_as_text(got), _as_text(expected), check_dtypes=False)


def test_windows_close_only_when_every_writer_passed() -> None:
    agg = IncrementalAggregator("1m", writers=["a", "b"])
    tick = pl.DataFrame({"ts": [T0], "entity": "x", "metric": "queue_depth_messages", "value": [1.0]})
    assert agg.add(tick, writer="a") == 0
    assert agg.add(tick.with_columns(pl.col("ts") + timedelta(minutes=2)), writer="a") == 0  # b is silent
    assert agg.open_windows == 2
    assert agg.add(tick.with_columns(pl.col("ts") + timedelta(minutes=1)), writer="b") == 1
    assert agg.open_windows == 2
    assert agg.finish_writer("b") == 1  # only a is left, at minute 2: [1m, 2m) closes
    assert agg.drain().height == 2


def test_late_rows_are_counted_and_kept() -> None:
    agg = IncrementalAggregator("1m", max_late_rows=1)
    base = pl.DataFrame({"ts": [T0], "entity": "x", "metric": "queue_depth_messages", "value": [1.0]})
    agg.add(base)
    agg.add(base.with_columns(pl.col("ts") + timedelta(minutes=1)))
    late = pl.concat([base, base.with_columns(pl.col("entity").replace("x", "y"))])
    agg.add(late)
    assert agg.late_rows == 2
    assert sum(f.height for f in agg.late) == 1


def test_lateness_waits_for_stragglers() -> None:
    agg = IncrementalAggregator("1m", lateness="2m")
    base = pl.DataFrame({"ts": [T0], "entity": "x", "metric": "queue_depth_messages", "value": [1.0]})
    agg.add(base.with_columns(pl.col("ts") + timedelta(minutes=2)))
    agg.add(base.with_columns(pl.col("value") * 5))  # 2 minutes late: still accepted
    assert agg.late_rows == 0
    assert agg.flush()["value"].to_list() == [5.0, 1.0]


def test_parameters_and_schema_are_checked() -> None:
    with pytest.raises(ParameterError, match="every"):
        IncrementalAggregator("1mo")
    with pytest.raises(ParameterError, match="counters"):
        IncrementalAggregator("1m", counters={"x": ("y", "gauge")})
    agg = IncrementalAggregator("1m")
    with pytest.raises(SchemaError, match="'value'"):
        agg.add(pl.DataFrame({"ts": [T0], "metric": ["m"]}))


def _rss_growth(n_ticks: int, series: int) -> tuple[float, IncrementalAggregator]:
    agg = IncrementalAggregator("1m", counters=COUNTERS, max_results=50)
    names = np.array(["log_end_offset_raw", "published_total", "queue_depth_messages"])[np.arange(series) % 3]
    base = pl.DataFrame(
        {
            "ts": [T0] * series,
            "entity": [f"e{i}" for i in range(series)],
            "metric": names,
            "value": np.zeros(series),
        }
    ).with_columns(pl.col("ts").dt.cast_time_unit("ms"))
    process = psutil.Process()
    warm = n_ticks // 5
    start_rss = 0.0
    for i in range(n_ticks):
        tick = base.with_columns(pl.col("ts") + timedelta(seconds=30 * i), pl.lit(float(i)).alias("value"))
        agg.add(tick)
        if i % 50 == 0:
            agg.drain()
        if i == warm:
            gc.collect()
            start_rss = process.memory_info().rss
        assert agg.open_windows <= 2
    gc.collect()
    return (process.memory_info().rss - start_rss) / 2**20, agg


def test_memory_bounded_over_a_million_samples() -> None:
    growth_mb, agg = _rss_growth(n_ticks=250, series=4_000)  # 1,000,000 samples
    assert agg.rows_in == 1_000_000
    assert agg.carry_series == 2 * 1334 - 1  # one carry row per counter series, no more
    assert growth_mb < 60, f"RSS grew {growth_mb:.1f} MiB after warm-up"


@pytest.mark.soak
def test_memory_bounded_over_a_million_ticks() -> None:
    growth_mb, agg = _rss_growth(n_ticks=1_000_000, series=3)
    assert agg.rows_in == 3_000_000
    assert growth_mb < 60, f"RSS grew {growth_mb:.1f} MiB after warm-up"


@pytest.mark.parametrize("n_writers", [1, 3])
def test_one_sample_per_window_equals_batch(n_writers: int) -> None:
    """Live cadence: one sample per series per window (rates from a join with the carries)."""
    frame = _samples(45, 40, seed=10 + n_writers, per_minute=1)
    expected = batch_aggregate(frame, every="1m", counters=COUNTERS, stats=["n"])
    writers = [f"w{i}" for i in range(n_writers)]
    agg = IncrementalAggregator("1m", counters=COUNTERS, writers=writers, stats=["n"])
    owner = frame.with_columns((pl.col("entity").rank("dense") % n_writers).alias("_w"))
    threads = [
        threading.Thread(
            target=lambda i=i, w=w: [
                agg.add(tick, writer=w)
                for _, tick in owner.filter(pl.col("_w") == i)
                .drop("_w")
                .sort("ts")
                .group_by("ts", maintain_order=True)
            ]
        )
        for i, w in enumerate(writers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = agg.flush()
    assert agg.late_rows == 0
    assert_frame_equal(_as_text(got), _as_text(expected), check_dtypes=False)
