"""Health scores: named components, explanations, rollup levels, simulated incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from workbench.analysis.health import COMPONENTS, DEFAULT_WEIGHTS, health_report, health_scores
from workbench.errors import ParameterError, SchemaError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _rows(entity: str, level: str, metric: str, values: list[float], cluster: str = "c") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [T0 + timedelta(minutes=i) for i in range(len(values))],
            "cluster": cluster,
            "level": level,
            "entity": entity,
            "metric": metric,
            "value": values,
        }
    )


def _score(frame: pl.DataFrame, entity: str) -> dict[str, object]:
    return health_scores(frame).filter(pl.col("entity") == entity).row(0, named=True)


def test_weights_sum_to_100_and_healthy_entity_scores_100() -> None:
    assert sum(DEFAULT_WEIGHTS.values()) == 100
    row = _score(_rows("q", "queue", "queue_depth_messages", [10.0, 12.0, 9.0]), "q")
    assert row["score"] == 100.0
    assert row["explanation"] == "no penalties"
    assert row["lag_trend_observed"] is True
    assert row["alarms_observed"] is False
    assert row["ts"] == T0  # the span start when scoring the whole span


@pytest.mark.parametrize(
    ("frame", "component", "penalty"),
    [
        (_rows("g/t", "consumer_group", "consumer_status", [1.0, 2.0]), "lag_status", 0.4 * 25),
        (_rows("g/t", "consumer_group", "consumer_status", [1.0, 6.0]), "lag_status", 25.0),
        (_rows("g/t", "consumer_group", "consumer_lag_messages", [1000.0, 5000.0]), "lag_trend", 0.8 * 15),
        (_rows("g/t", "consumer_group", "consumer_lag_messages", [0.0, 10.0]), "lag_trend", 0.01 * 15),
        (_rows("n", "node", "memory_alarm", [0.0, 1.0, 0.0]), "alarms", 15.0),
        (_rows("t", "topic", "offline_partitions", [0.0, 2.0]), "replication", 20.0),
        (_rows("k", "cluster", "active_controllers", [1.0, 2.0]), "replication", 20.0),
        (_rows("b", "broker", "active_controllers", [0.0, 0.0]), "replication", 0.0),
        (_rows("q.dlq", "queue", "dlq_depth_messages", [0.0, 5.0]), "errors", 15.0),
        (_rows("q.dlq", "queue", "dlq_depth_messages", [5.0, 5.0]), "errors", 0.3 * 15),
    ],
)
def test_single_component_penalties(frame: pl.DataFrame, component: str, penalty: float) -> None:
    entity = frame["entity"][0]
    row = _score(frame, entity)
    assert row[f"{component}_penalty"] == pytest.approx(penalty)
    assert row["score"] == pytest.approx(100 - penalty)
    others = [c for c in COMPONENTS if c != component]
    assert all(row[f"{c}_penalty"] == 0 for c in others)


def test_ratios_capacity_and_under_replication() -> None:
    frame = pl.concat(
        [
            _rows("q", "queue", "messages_out_per_s", [100.0, 100.0]),
            _rows("q", "queue", "redelivered_per_s", [2.5, 2.5]),  # 2.5 % of deliveries -> 0.5
            _rows("n", "node", "memory_used_bytes", [850.0, 850.0]),
            _rows("n", "node", "memory_limit_bytes", [1000.0, 1000.0]),  # 85 % -> 0.5
            _rows("t", "topic", "under_replicated_partitions", [0.0, 3.0]),
            _rows("t", "topic", "partitions", [12.0, 12.0]),  # 0.5 + 0.5 * 3/12
        ]
    )
    scores = health_scores(frame)
    by_entity = {r["entity"]: r for r in scores.iter_rows(named=True)}
    assert by_entity["q"]["errors_penalty"] == pytest.approx(0.5 * 15)
    assert by_entity["n"]["capacity_penalty"] == pytest.approx(0.5 * 10)
    assert by_entity["n"]["memory_utilisation"] == pytest.approx(0.85)
    assert by_entity["t"]["replication_penalty"] == pytest.approx((0.5 + 0.5 * 0.25) * 20)
    assert scores["score"].is_sorted()  # worst first


def test_windows_explanations_and_custom_weights() -> None:
    frame = _rows("g/t", "consumer_group", "consumer_status", [1.0] * 60 + [4.0] * 60)
    per_hour = health_scores(frame, every="1h")
    assert per_hour.sort("ts")["score"].to_list() == [100.0, 75.0]
    assert per_hour["explanation"][0] == "lag_status -25.0"
    light = health_scores(frame, weights={"lag_status": 10.0})
    assert light["score"].item() == 90.0
    with pytest.raises(ParameterError, match="weights"):
        health_scores(frame, weights={"vibes": 5.0})
    with pytest.raises(SchemaError, match="'entity'"):
        health_scores(frame.drop("entity"))


def test_report_scores_entities_and_rollup_levels() -> None:
    parts = [
        _rows(f"orders/{p}", "partition", "under_replicated_partitions", [0.0, float(p == 1)])
        for p in range(3)
    ]
    frame = pl.concat(parts).with_columns(provider=pl.lit("kafka"), source=pl.lit("test"))
    report = health_report(frame)
    levels = set(report["level"].to_list())
    assert {"partition", "topic", "cluster"} <= levels
    worst = report.row(0, named=True)
    assert worst["score"] < 100
    topic = report.filter(pl.col("level") == "topic").row(0, named=True)
    assert topic["entity"] == "orders"
    assert topic["replication_penalty"] > 0


def test_report_finds_the_simulated_consumer_crash() -> None:
    from workbench.sources.simulator import simulate

    result = simulate("consumer-crash", seed=1, days=1.2)
    incident = result.incidents.filter(pl.col("cluster") == "kafka-prod-1").row(0, named=True)
    report = health_report(result.frame, every="1h")
    window = report.filter(pl.col("ts") == incident["start"].replace(minute=0))
    worst = window.filter(pl.col("level") == "consumer_group").row(0, named=True)
    assert worst["entity"] == incident["entities"][0]
    assert worst["lag_status_penalty"] == 25.0
    assert worst["status_code"] == 3  # the group is ERR (its partitions are STOP)


def test_cli_health_prints_worst_entities(tmp_path: object) -> None:
    from typer.testing import CliRunner

    from workbench.cli import app
    from workbench.store import Store

    frame = pl.concat(
        [
            _rows(f"orders/{p}", "partition", "under_replicated_partitions", [0.0, float(p == 2)])
            for p in range(3)
        ]
    ).with_columns(provider=pl.lit("kafka"), source=pl.lit("test"), cluster=pl.lit("k1"))
    store = Store(tmp_path)  # type: ignore[arg-type]
    store.append(
        "urp",
        frame.select("ts", "provider", "cluster", "level", "entity", "metric", "value", "source"),
        source="test",
    )
    result = CliRunner().invoke(
        app, ["health", "urp", "--store-dir", str(tmp_path), "--top", "3"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "orders/2" in result.output
    assert "replication -" in result.output
