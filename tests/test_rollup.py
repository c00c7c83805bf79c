"""Topology rollups: partition -> topic -> cluster, group x topic, queue -> vhost -> node -> cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from workbench.analysis.rollup import rollup, rollup_topology
from workbench.errors import ParameterError, SchemaError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _kafka(minutes: int = 3) -> pl.DataFrame:
    rows = []
    for m in range(minutes):
        ts = T0 + timedelta(minutes=m)
        for topic in ("orders", "billing"):
            for p in range(4):
                rows.append(
                    (ts, "kafka", "k1", "partition", f"{topic}/{p}", "messages_in_per_s", 10.0 * (p + 1) + m)
                )
                rows.append(
                    (ts, "kafka", "k1", "partition", f"grp/{topic}/{p}", "consumer_lag_messages", 100.0 * p)
                )
                rows.append(
                    (
                        ts,
                        "kafka",
                        "k1",
                        "partition",
                        f"grp/{topic}/{p}",
                        "consumer_status",
                        float(1 + (p == 3) * 3),
                    )
                )
        # a broker-level series of the same metric must not be double counted at cluster level
        rows.append((ts, "kafka", "k1", "broker", "broker-1", "messages_in_per_s", 999.0))
        rows.append((ts, "kafka", "k1", "broker", "broker-1", "memory_used_bytes", 5e8))
    return pl.DataFrame(
        rows, schema=["ts", "provider", "cluster", "level", "entity", "metric", "value"], orient="row"
    ).with_columns(source=pl.lit("test"))


def _rabbit() -> pl.DataFrame:
    queues = {"a": 1.0, "shop/b": 2.0, "shop/c": 3.0, "ops/d": 4.0}
    return pl.DataFrame(
        {
            "ts": T0,
            "provider": "rabbitmq",
            "cluster": "r1",
            "level": "queue",
            "entity": list(queues),
            "metric": "queue_depth_messages",
            "value": list(queues.values()),
            "source": "test",
        }
    )


def test_partition_to_topic_sums_rates_with_percentiles() -> None:
    out = rollup(_kafka(), to="topic")
    orders = out.filter((pl.col("entity") == "orders") & (pl.col("ts") == T0))
    assert orders["value"].item() == 100.0  # 10 + 20 + 30 + 40
    assert orders["max"].item() == 40.0
    assert orders["n"].item() == 4
    assert orders["p50"].item() == pytest.approx(float(np.percentile([10, 20, 30, 40], 50)))
    assert orders["p95"].item() == pytest.approx(float(np.percentile([10, 20, 30, 40], 95)))
    assert set(out["metric"].unique()) == {"messages_in_per_s"}
    assert out["source"].unique().to_list() == ["rollup:partition->topic"]


def test_group_partition_to_group_topic_keeps_sum_and_max_of_lag() -> None:
    out = rollup(_kafka(), to="consumer_group", percentiles=())
    lag = out.filter((pl.col("metric") == "consumer_lag_messages") & (pl.col("ts") == T0))
    assert lag["entity"].to_list() == ["grp/billing", "grp/orders"]
    assert lag["value"].to_list() == [600.0, 600.0]  # sum is the catalogue aggregate
    assert lag["max"].to_list() == [300.0, 300.0]
    status = out.filter((pl.col("metric") == "consumer_status") & (pl.col("ts") == T0))
    assert status["value"].to_list() == [4.0, 4.0]  # worst status (max)


def test_cluster_rollup_uses_finest_level_per_metric() -> None:
    out = rollup(_kafka(), to="cluster", percentiles=())
    at0 = out.filter(pl.col("ts") == T0)
    values = dict(zip(at0["metric"].to_list(), at0["value"].to_list(), strict=True))
    assert values["messages_in_per_s"] == 200.0  # partitions only; broker's 999 not added
    assert values["memory_used_bytes"] == 5e8  # only reported at broker level
    assert values["consumer_lag_messages"] == 1200.0


def test_queue_vhost_node_cluster() -> None:
    frame = _rabbit()
    vhost = rollup(frame, to="vhost", percentiles=())
    assert vhost.select("entity", "value").rows() == [("/", 1.0), ("ops", 4.0), ("shop", 5.0)]
    nodes = pl.DataFrame(
        {
            "cluster": "r1",
            "entity": ["a", "shop/b", "shop/c", "ops/d"],
            "node": ["rabbit@n1", "rabbit@n1", "rabbit@n2", "rabbit@n2"],
        }
    )
    node = rollup(frame, to="node", queue_nodes=nodes, percentiles=())
    assert node.select("entity", "value").rows() == [("rabbit@n1", 3.0), ("rabbit@n2", 7.0)]
    every = rollup_topology(frame, queue_nodes=nodes, percentiles=())
    assert every["level"].unique(maintain_order=True).to_list() == ["vhost", "node", "cluster"]
    assert every.filter(pl.col("level") == "cluster")["value"].item() == 10.0


def test_categorical_input_gives_same_result() -> None:
    frame = pl.concat([_kafka(), _rabbit()], how="vertical_relaxed")
    cat = frame.with_columns(pl.col("provider", "cluster", "level", "entity", "metric").cast(pl.Categorical))
    plain = rollup_topology(frame)
    fast = rollup_topology(cat).with_columns(pl.col("provider", "cluster", "metric").cast(pl.String))
    key = ["level", "cluster", "entity", "metric", "ts"]
    assert_frame_equal(plain.sort(key), fast.sort(key), check_dtypes=False)


def test_errors() -> None:
    with pytest.raises(ParameterError, match="'to'"):
        rollup(_kafka(), to="galaxy")
    with pytest.raises(ParameterError, match="queue_nodes"):
        rollup(_rabbit(), to="node")
    with pytest.raises(SchemaError, match="'entity'"):
        rollup(_kafka().drop("entity"), to="topic")


def test_topology_edges_from_entity_ids() -> None:
    from workbench.analysis.rollup import topology_edges

    index = pl.DataFrame(
        {
            "provider": ["kafka"] * 6 + ["rabbitmq"] * 2,
            "cluster": ["k1"] * 6 + ["r1"] * 2,
            "level": [
                "cluster",
                "topic",
                "partition",
                "consumer_group",
                "partition",
                "broker",
                "cluster",
                "queue",
            ],
            "entity": ["k1", "orders", "orders/0", "grp/orders", "grp/orders/0", "broker-1", "r1", "shop/b"],
        }
    )
    edges = topology_edges(index)
    got = set(edges.select("parent_level", "parent", "child_level", "child").iter_rows())
    assert got == {
        ("cluster", "k1", "topic", "orders"),
        ("cluster", "k1", "broker", "broker-1"),
        ("topic", "orders", "partition", "orders/0"),
        ("topic", "orders", "consumer_group", "grp/orders"),
        ("consumer_group", "grp/orders", "partition", "grp/orders/0"),
        ("cluster", "r1", "queue", "shop/b"),
    }


@pytest.mark.parametrize("categorical", [False, True])
def test_composed_cluster_rollup_equals_direct(categorical: bool) -> None:
    frame = pl.concat([_kafka(), _rabbit()], how="vertical_relaxed")
    if categorical:
        frame = frame.with_columns(
            pl.col("provider", "cluster", "level", "entity", "metric").cast(pl.Categorical)
        )
    composed = rollup_topology(frame, percentiles=()).filter(pl.col("level") == "cluster")
    direct = rollup(frame, to="cluster", percentiles=())
    cols = ["cluster", "metric", "ts", "value", "sum", "max", "min", "mean", "n"]
    text = [pl.col("cluster", "metric").cast(pl.String)]
    assert_frame_equal(
        composed.with_columns(text).select(cols).sort("cluster", "metric", "ts"),
        direct.with_columns(text).select(cols).sort("cluster", "metric", "ts"),
        check_dtypes=False,
    )
