"""Fleet learning: per-entity work through joblib (loky and a Dask LocalCluster), findings, root causes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from workbench.analysis.learn import LearnConfig, learn, learn_entity
from workbench.errors import ParameterError
from workbench.frames import CANONICAL_SCHEMA, FINDING_SCHEMA, validate

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def jump_detector(frame: pl.DataFrame) -> pl.DataFrame:
    """A tiny, transparent detector for these tests: values above 3x the series median."""
    keys = ["provider", "cluster", "level", "entity", "metric"]
    med = pl.col("value").median().over(keys)
    flagged = frame.filter(pl.col("value") > 3 * med + 1)
    return (
        flagged.group_by(keys)
        .agg(start=pl.col("ts").min(), end=pl.col("ts").max(), score=pl.lit(0.9))
        .with_columns(kind=pl.lit("anomaly"), severity=pl.lit("warning"), explanation=pl.lit("jump"))
        .select(list(FINDING_SCHEMA))
        .cast(FINDING_SCHEMA)  # type: ignore[arg-type]
    )


def fleet(n_topics: int, *, hours: int = 48, step_min: int = 10, surge_topic: int | None = 0) -> pl.DataFrame:
    """Topics with a daily publish cycle and one consumer group each; one topic surges 8 h before the end."""
    n = hours * 60 // step_min
    ts = [T0 + timedelta(minutes=step_min * i) for i in range(n)]
    hour = np.arange(n) * step_min / 60
    rng = np.random.default_rng(0)
    parts = []
    for k in range(n_topics):
        rate = 100 + 40 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 2, n)
        lag = np.abs(rng.normal(10, 2, n))
        if k == surge_topic:
            at = hours - 8
            surge = (hour >= at) & (hour < at + 1)
            rate = np.where(surge, rate * 6, rate)
            lag = lag + np.where(
                hour >= at + 0.1, np.minimum(hour - at, 1.0) * 40_000 * (hour < hours - 0.5), 0
            )
        for level, entity, metric, values in (
            ("topic", f"t{k}", "messages_in_per_s", rate),
            ("consumer_group", f"g{k}/t{k}", "consumer_lag_messages", lag),
        ):
            parts.append(
                pl.DataFrame(
                    {
                        "ts": ts,
                        "provider": "kafka",
                        "cluster": "k1",
                        "level": level,
                        "entity": entity,
                        "metric": metric,
                        "value": values,
                        "source": "test",
                    }
                )
            )
    return validate(pl.concat(parts).cast(CANONICAL_SCHEMA))  # type: ignore[arg-type]


def test_findings_frame_with_seasonality_anomalies_and_root_cause() -> None:
    frame = fleet(3)
    seen: list[tuple[int, int]] = []
    findings = learn(
        frame, detector=jump_detector, n_jobs=1, batch_size=2, progress=lambda d, t: seen.append((d, t))
    )
    assert findings.schema == pl.Schema(FINDING_SCHEMA)
    assert seen[-1] == (6, 6)
    assert len(seen) == 3
    kinds = findings.group_by("kind").len().sort("kind")
    assert set(kinds["kind"]) == {"anomaly", "seasonality", "root_cause"}
    seasonal = findings.filter(kind="seasonality")
    assert set(seasonal["entity"]) == {"t0", "t1", "t2"}  # publish rates cycle daily; lag is noise
    cause = findings.filter(kind="root_cause").row(0, named=True)
    assert (cause["level"], cause["entity"], cause["metric"]) == ("topic", "t0", "messages_in_per_s")
    assert cause["explanation"].startswith("Consumer group g0 fell behind on topic t0 at 16:")
    assert "after producers on topic t0 surged" in cause["explanation"]
    assert "Evidence:" in cause["explanation"]


def test_parallel_runs_match_serial() -> None:
    frame = fleet(4, hours=30)
    serial = learn(frame, detector=jump_detector, n_jobs=1)
    parallel = learn(frame, detector=jump_detector, n_jobs=2, batch_size=1, backend="threading")
    assert serial.equals(parallel)
    # worker processes (loky) need an importable detector: the package's default one
    small = fleet(2, hours=12)
    in_process = learn(small, n_jobs=1, config=LearnConfig(seasonality=False))
    in_workers = learn(small, n_jobs=2, batch_size=1, config=LearnConfig(seasonality=False))
    assert in_process.equals(in_workers)


def test_dask_backend_on_a_local_cluster() -> None:
    distributed = pytest.importorskip("distributed")
    frame = fleet(2, hours=30)
    serial = learn(frame, detector=jump_detector, n_jobs=1)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        on_dask = learn(frame, detector=jump_detector, backend="dask", batch_size=1)
        assert len(client.scheduler_info()["workers"]) == 2  # the work went through a real scheduler
    assert serial.equals(on_dask)
    with pytest.raises(ParameterError, match="backend"):
        learn(frame, detector=jump_detector, backend="dask")  # no client outside the context


def test_backlog_forecasts_recovery_and_threshold() -> None:
    n = 72
    ts = [T0 + timedelta(minutes=5 * i) for i in range(n)]
    growing = np.r_[np.full(48, 100.0), 100.0 + 400.0 * np.arange(1, 25)]
    frame = validate(
        pl.DataFrame(
            {
                "ts": ts,
                "provider": "rabbitmq",
                "cluster": "r1",
                "level": "queue",
                "entity": "invoices",
                "metric": "queue_depth_messages",
                "value": growing,
                "source": "test",
            }
        ).cast(CANONICAL_SCHEMA)  # type: ignore[arg-type]
    )
    config = LearnConfig(
        seasonality=False, thresholds={"queue_depth_messages": 20_000.0}, horizon=timedelta(hours=3)
    )
    found = learn_entity(frame, None, config)
    by_kind = {row["kind"]: row for row in found.iter_rows(named=True)}
    assert set(by_kind) == {"forecast_recovery", "forecast_breach"}
    breach = by_kind["forecast_breach"]
    assert breach["severity"] == "warning"
    assert "is expected to pass 20.0 k at" in breach["explanation"]
    assert "not expected to recover within 3 h" in by_kind["forecast_recovery"]["explanation"]


def test_default_detector_end_to_end() -> None:
    frame = fleet(1, hours=24, step_min=5, surge_topic=None)
    spike = frame.with_columns(
        value=pl.when((pl.col("metric") == "messages_in_per_s") & (pl.col("ts") == T0 + timedelta(hours=20)))
        .then(pl.col("value") * 20)
        .otherwise(pl.col("value"))
    )
    findings = learn(spike, n_jobs=1, config=LearnConfig(seasonality=False))
    anomalies = findings.filter(pl.col("kind").str.contains("anomaly"))
    assert anomalies.filter(entity="t0", metric="messages_in_per_s").height >= 1


def test_bad_arguments() -> None:
    frame = fleet(1, hours=6)
    with pytest.raises(ParameterError, match="batch_size"):
        learn(frame, detector=None, batch_size=0)
    with pytest.raises(ParameterError, match="frame"):
        learn(frame.drop("entity"), detector=None)
    with pytest.raises(ParameterError, match="detector"):
        learn(frame, detector="isolation-forest")
    empty = learn(frame.clear(), detector=jump_detector)
    assert empty.height == 0
    assert empty.schema == pl.Schema(FINDING_SCHEMA)


def test_cli_learn_reads_and_writes_the_store(isolated_settings: object) -> None:
    from typer.testing import CliRunner

    from workbench.cli import app
    from workbench.store import Store

    store = Store()
    store.append("fleet", fleet(2, hours=30), source="test")
    result = CliRunner().invoke(app, ["learn", "fleet", "--jobs", "1", "--top", "3"])
    assert result.exit_code == 0, result.output
    stored = store.read_findings("fleet")
    assert stored.height > 0
    assert f"{stored.height} findings stored for fleet" in result.output
    assert "anomaly consumer_group g0/t0 consumer_lag_messages" in result.output  # the surge's backlog
    from workbench.errors import NotFoundError

    missing = CliRunner().invoke(app, ["learn", "nope"])  # workbench.cli.main prints it as one line
    assert missing.exit_code != 0
    assert isinstance(missing.exception, NotFoundError)


def test_dead_letter_queues_get_no_recovery_forecast():
    from workbench.analysis.learn import _is_dead_letter

    assert _is_dead_letter("dlq_depth_messages", "rabbit-prod-1")
    assert _is_dead_letter("queue_depth_messages", "billing/invoices.dlq")
    assert _is_dead_letter("queue_depth_messages", "image-resize-dlq")
    assert _is_dead_letter("consumer_lag_messages", "orders.dead-letter")
    assert not _is_dead_letter("queue_depth_messages", "billing/invoices")
    assert not _is_dead_letter("queue_depth_messages", "headlines")
