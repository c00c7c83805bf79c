"""Root-cause ranking: precedence, topology, producer surge vs consumer slowdown, silent brokers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from workbench.analysis.rootcause import CAUSE_SCHEMA, assign_episodes, rank_causes
from workbench.errors import ParameterError
from workbench.frames import CANONICAL_SCHEMA

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def anomaly(
    level: str, entity: str, metric: str, start: float, end: float, cluster: str = "k1", score: float = 0.9
) -> dict[str, object]:
    return {
        "start": at(start),
        "end": at(end),
        "cluster": cluster,
        "level": level,
        "entity": entity,
        "metric": metric,
        "score": score,
    }


def series(level: str, entity: str, metric: str, values: np.ndarray, cluster: str = "k1") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ts": [at(i) for i in range(values.size)],
            "provider": "kafka",
            "cluster": cluster,
            "level": level,
            "entity": entity,
            "metric": metric,
            "value": values.astype(float),
            "source": "test",
        }
    ).cast(CANONICAL_SCHEMA)  # type: ignore[arg-type]


def step_change(before: float, after: float, at_minute: int, n: int = 180) -> np.ndarray:
    return np.where(np.arange(n) < at_minute, before, after)


def test_producer_surge_outranks_the_lag_it_causes() -> None:
    anomalies = pl.DataFrame(
        [
            anomaly("consumer_group", "billing/orders", "consumer_lag_messages", 124, 170),
            anomaly("consumer_group", "billing/orders", "consumer_lag_seconds", 125, 170),
            anomaly("topic", "orders", "messages_in_per_s", 120, 150, score=0.7),
            anomaly("partition", "orders/3", "messages_in_per_s", 121, 150),
        ]
    )
    frame = pl.concat(
        [
            series("topic", "orders", "messages_in_per_s", step_change(100, 400, 120)),
            series("partition", "orders/3", "messages_in_per_s", step_change(20, 80, 121)),
            series(
                "consumer_group",
                "billing/orders",
                "consumer_lag_messages",
                np.maximum(0, np.arange(180) - 124) * 50.0,
            ),
        ]
    )
    ranked = rank_causes(anomalies, frame)
    top = ranked.row(0, named=True)
    assert (top["level"], top["entity"], top["cause"], top["direction"]) == (
        "topic",
        "orders",
        "producer_surge",
        "up",
    )
    assert top["before"] == 100
    assert top["during"] == 400
    assert "consumer_group:billing/orders" in top["explains"]
    assert "went up from 100.0 to 400.0" in top["evidence"]
    assert ranked["rank"].to_list() == list(range(1, ranked.height + 1))
    assert ranked.schema == pl.Schema(CAUSE_SCHEMA)


def test_consumer_slowdown_is_told_apart_from_a_surge() -> None:
    anomalies = pl.DataFrame(
        [
            anomaly("consumer_group", "billing/orders", "consumer_lag_messages", 62, 120),
            anomaly("consumer_group", "billing/orders", "messages_out_per_s", 60, 100),
        ]
    )
    frame = pl.concat(
        [
            series("consumer_group", "billing/orders", "messages_out_per_s", step_change(100, 30, 60)),
            series("topic", "orders", "messages_in_per_s", np.full(180, 100.0)),
        ]
    )
    top = rank_causes(anomalies, frame).row(0, named=True)
    assert (top["entity"], top["metric"], top["cause"], top["direction"]) == (
        "billing/orders",
        "messages_out_per_s",
        "consumer_slowdown",
        "down",
    )


def test_consumers_dropping_is_a_crash() -> None:
    anomalies = pl.DataFrame(
        [
            anomaly("consumer_group", "audit/payments", "consumers", 30, 60),
            anomaly("consumer_group", "audit/payments", "consumer_lag_messages", 31, 90),
        ]
    )
    frame = series("consumer_group", "audit/payments", "consumers", step_change(3, 0, 30))
    assert rank_causes(anomalies, frame).row(0, named=True)["cause"] == "consumer_crash"


def test_a_broker_that_stops_reporting_is_the_top_cause() -> None:
    n = 180
    quiet = np.r_[np.arange(0, 100), np.arange(140, n)]  # broker 1 silent from 12:100 to 12:140
    broker1 = series("broker", "broker-1", "messages_in_per_s", np.full(n, 50.0)).filter(
        pl.int_range(pl.len()).is_in(quiet)
    )
    frame = pl.concat(
        [
            broker1,
            series("broker", "broker-0", "under_replicated_partitions", step_change(0, 4, 101)),
            series("broker", "broker-2", "messages_in_per_s", np.full(n, 50.0)),
            series(
                "consumer_group",
                "billing/orders",
                "consumer_lag_messages",
                np.maximum(0, np.arange(n) - 102) * 10.0,
            ),
        ]
    )
    anomalies = pl.DataFrame(
        [
            anomaly("broker", "broker-0", "under_replicated_partitions", 101, 140),
            anomaly("consumer_group", "billing/orders", "consumer_lag_messages", 103, 170),
            anomaly("partition", "orders/1", "under_replicated_partitions", 101, 140),
        ]
    )
    ranked = rank_causes(anomalies, frame)
    top = ranked.row(0, named=True)
    assert (top["entity"], top["metric"], top["cause"]) == ("broker-1", "(no data)", "broker_down")
    assert top["start"] == at(100)
    assert "stopped reporting" in top["evidence"]
    # without the data the broker cannot be seen, and the replication alarm leads instead
    assert rank_causes(anomalies).row(0, named=True)["entity"] == "broker-0"


def test_earlier_and_upstream_wins_without_data() -> None:
    anomalies = pl.DataFrame(
        [
            anomaly("partition", "orders/2", "messages_in_per_s", 10, 30),
            anomaly("consumer_group", "billing/orders/2", "consumer_lag_messages", 12, 40),
            anomaly("consumer_group", "billing/orders", "consumer_lag_messages", 12, 40),
        ]
    )
    top = rank_causes(anomalies).row(0, named=True)
    assert (top["level"], top["entity"]) == ("partition", "orders/2")
    assert set(top["explains"]) == {"consumer_group:billing/orders", "consumer_group:billing/orders/2"}


def test_episodes_split_by_cluster_and_time() -> None:
    anomalies = pl.DataFrame(
        [
            anomaly("topic", "a", "messages_in_per_s", 0, 10),
            anomaly(
                "topic", "b", "messages_in_per_s", 8, 30
            ),  # starts within 10 min of the first: same episode
            anomaly("topic", "c", "messages_in_per_s", 100, 110),
            anomaly("topic", "a", "messages_in_per_s", 0, 10, cluster="k2"),
        ]
    )
    episodes = assign_episodes(anomalies).sort("cluster", "start")
    assert episodes["episode"].to_list() == [0, 0, 1, 2]  # ids are unique across clusters
    ranked = rank_causes(anomalies)
    assert ranked.group_by("episode", "cluster").len().height == 3
    assert (ranked.filter(pl.col("rank") == 1).height) == 3


def test_bad_input() -> None:
    with pytest.raises(ParameterError, match="anomalies"):
        rank_causes(pl.DataFrame({"start": [at(0)]}))
    empty = pl.DataFrame(
        schema={
            "start": pl.Datetime("ms", "UTC"),
            "end": pl.Datetime("ms", "UTC"),
            "cluster": pl.String,
            "level": pl.String,
            "entity": pl.String,
            "metric": pl.String,
        }
    )
    assert rank_causes(empty).schema == pl.Schema(CAUSE_SCHEMA)
