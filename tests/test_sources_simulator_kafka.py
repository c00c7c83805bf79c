"""Kafka-format data from the simulator, through a real Prometheus, back into the workbench.

Two paths, both compared with the simulator's ground truth:

* **backfill**: the simulator's history written as OpenMetrics, loaded with promtool,
  pulled with :class:`PrometheusSource`; every kafka_exporter sample must come back
  (none missing) and >= 99.9 % must be equal within a relative tolerance of 1e-9;
  the canonical rows made by the mapping tables equal the simulator's canonical rows
  for partition-level lag, committed offsets and produce rates.
* **live**: ``LiveFleet.serve`` (what ``workbench simulate --serve`` runs) scraped by a
  real Prometheus; every scraped lag equals the simulator's value at the tick the same
  scrape reports in ``workbench_sim_tick``.
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import pytest

from tests.services import free_port
from workbench.mapping import map_samples
from workbench.mapping.samples import NAME
from workbench.sources.prometheus import PrometheusAuth, PrometheusSource
from workbench.sources.simulator.live import LiveFleet
from workbench.sources.simulator.native import native_frame

pytestmark = pytest.mark.services

TOLERANCE = 1e-9  # relative; exposition text round-trips floats, so equality is expected


@pytest.fixture(scope="module")
def fleet() -> LiveFleet:
    return LiveFleet("default", seed=3, history="3h", horizon="30m", speed=float("inf"))


def test_backfilled_simulator_history_comes_back_complete_and_equal(
    fleet, prometheus_factory, tmp_path
) -> None:
    paths = fleet.write_history(tmp_path / "history")
    prom = prometheus_factory(backfill=list(paths))
    ts_ms = fleet.result.calendar.ts_ms[: fleet.now_index]
    start, end = ts_ms[0] / 1000, ts_ms[-1] / 1000
    now = fleet.now_index
    blocks = [
        type(b)(b.name, b.kind, b.help, b.labels, b.values[:, :now], b.exporter, b.meta)
        for b in fleet.result.native_blocks
        if b.exporter == "kafka_exporter"
    ]
    truth = native_frame(blocks, ts_ms).unnest("labels")
    labels = [c for c in truth.columns if c not in ("ts", "name", "type", "exporter", "value")]
    names = sorted(truth["name"].unique().to_list())

    with PrometheusSource(prom.url, auth=PrometheusAuth(), max_workers=2) as src:
        samples = src.pull(start, end, f"{int(fleet.step_seconds)}s", metrics=names)
    pulled = samples.points.join(samples.series, on="series_id").rename({NAME: "name"})
    for label in labels:
        if label not in pulled.columns:
            pulled = pulled.with_columns(pl.lit(None, dtype=pl.String).alias(label))
    joined = truth.join(
        pulled.select("ts", "name", *labels, pl.col("value").alias("pulled")),
        on=["ts", "name", *labels],
        how="left",
        nulls_equal=True,
    )
    missing = joined.filter(pl.col("pulled").is_null())
    assert missing.height == 0, missing.head()
    close = (pl.col("pulled") - pl.col("value")).abs() <= TOLERANCE * pl.max_horizontal(
        pl.col("value").abs(), pl.lit(1.0)
    )
    share = joined.select(close.mean()).item()
    assert share >= 0.999, f"only {share:.4%} of {joined.height} samples equal"
    assert joined.height > 10_000

    # The mapping's canonical rows equal the simulator's canonical rows.
    result = map_samples(samples, provider="kafka")
    assert "kafka_exporter" in result.exporters
    sim = fleet.result.frame.filter(
        (pl.col("provider") == "kafka")
        & (pl.col("ts") <= pl.lit(int(ts_ms[-1])).cast(pl.Datetime("ms", "UTC")))
    )
    for metric, level in (
        ("consumer_lag_messages", "partition"),
        ("committed_offset", "partition"),
        ("log_end_offset", "partition"),
        ("messages_in_per_s", "partition"),
    ):
        ours = result.frame.filter((pl.col("metric") == metric) & (pl.col("level") == level))
        theirs = sim.filter((pl.col("metric") == metric) & (pl.col("level") == level))
        both = theirs.join(ours, on=["ts", "cluster", "entity"], how="left", suffix="_wb")
        assert both.height > 0, metric
        # the first sample of each series has no rate in ours (warm-up), every other is there
        present = both.filter(pl.col("value_wb").is_not_null())
        if metric == "messages_in_per_s":
            assert present.height >= both.height - theirs["entity"].n_unique(), metric
        else:
            assert present.height == both.height, (metric, both.filter(pl.col("value_wb").is_null()).head())
        agree = present.select(
            (
                (pl.col("value_wb") - pl.col("value")).abs()
                <= 1e-6 * pl.max_horizontal(pl.col("value").abs(), pl.lit(1.0))
            ).mean()
        ).item()
        assert agree >= 0.999, (metric, agree)


def test_live_served_fleet_scraped_by_prometheus_equals_the_simulator(prometheus_factory) -> None:
    fleet = LiveFleet("default", seed=5, history="30m", horizon="2h", speed=60.0)
    host, port = fleet.serve("127.0.0.1", free_port())
    try:
        prom = prometheus_factory(
            [{"job_name": "sim", "static_configs": [{"targets": [f"{host}:{port}"]}]}], scrape_interval="1s"
        )
        prom.wait_for_series("workbench_sim_tick")
        began = time.time()
        time.sleep(6)
        end = time.time()
        with PrometheusSource(prom.url, auth=PrometheusAuth()) as src:
            samples = src.pull(began, end, "1s", metrics=["kafka_consumergroup_lag", "workbench_sim_tick"])
    finally:
        fleet.shutdown()
    frame = samples.points.join(samples.series, on="series_id")
    ticks = frame.filter(pl.col(NAME) == "workbench_sim_tick").select(
        "ts", pl.col("value").cast(pl.Int64).alias("tick")
    )
    lag = frame.filter(pl.col(NAME) == "kafka_consumergroup_lag").join(ticks, on="ts")
    assert lag.height > 0  # the fleet advanced while scraped
    assert ticks["tick"].n_unique() >= 2
    expected = np.array(
        [
            fleet.value_at(
                "kafka_consumergroup_lag",
                {
                    "cluster": row["cluster"],
                    "consumergroup": row["consumergroup"],
                    "topic": row["topic"],
                    "partition": row["partition"],
                },
                row["tick"],
            )
            for row in lag.iter_rows(named=True)
        ]
    )
    assert np.array_equal(lag["value"].to_numpy(), expected)
