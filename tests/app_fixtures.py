"""A small hand-built fleet for the app tests (deterministic, a few thousand rows).

Includes a RabbitMQ queue whose name is a script payload, to check escaping.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from workbench.frames import CANONICAL_SCHEMA, FINDING_SCHEMA
from workbench.store import Store

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
XSS_QUEUE = "<script>alert('xss')</script><img src=x onerror=alert(1)>"
DATASET = "appfleet"

# (provider, cluster, level, entity, metrics)
ENTITIES: list[tuple[str, str, str, str, tuple[str, ...]]] = [
    ("kafka", "k1", "cluster", "k1", ("active_controllers", "offline_partitions", "messages_in_per_s")),
    ("kafka", "k1", "broker", "1", ("under_replicated_partitions", "partitions", "bytes_in_per_s")),
    ("kafka", "k1", "topic", "orders", ("messages_in_per_s", "consumer_lag_messages")),
    ("kafka", "k1", "partition", "orders/0", ("consumer_lag_messages", "consumer_lag_seconds")),
    ("kafka", "k1", "partition", "orders/1", ("consumer_lag_messages", "consumer_lag_seconds")),
    (
        "kafka",
        "k1",
        "consumer_group",
        "billing/orders",
        ("consumer_lag_messages", "messages_out_per_s", "consumer_lag_seconds"),
    ),
    ("rabbitmq", "r1", "node", "rabbit@n1", ("memory_used_bytes", "disk_free_bytes")),
    ("rabbitmq", "r1", "queue", "jobs", ("queue_depth_messages", "messages_unacked", "acked_per_s")),
    ("rabbitmq", "r1", "queue", XSS_QUEUE, ("queue_depth_messages",)),
    ("sqs", "acct/us-east-1", "queue", "emails", ("queue_depth_messages", "oldest_message_age_s")),
]


def fleet_frame(minutes: int = 2 * 24 * 60, step_min: int = 5, seed: int = 7) -> pl.DataFrame:
    """Canonical rows: a daily sine plus noise per series, one spike on ``orders/1`` lag."""
    rng = np.random.default_rng(seed)
    n = minutes // step_min
    ts = pl.datetime_range(
        T0, T0 + dt.timedelta(minutes=step_min * (n - 1)), f"{step_min}m", eager=True, time_zone="UTC"
    ).dt.cast_time_unit("ms")
    day = np.sin(np.arange(n) * step_min / 1440 * 2 * np.pi)
    parts = []
    for provider, cluster, level, entity, metrics in ENTITIES:
        for metric in metrics:
            base = 100 + 50 * day + rng.normal(0, 5, n)
            if metric in ("active_controllers",):
                base = np.ones(n)
            if metric in ("offline_partitions", "under_replicated_partitions"):
                base = np.zeros(n)
            if entity == "orders/1" and metric == "consumer_lag_messages":
                base[n // 2 : n // 2 + 12] += 5000
            parts.append(
                pl.DataFrame(
                    {
                        "ts": ts,
                        "provider": provider,
                        "cluster": cluster,
                        "level": level,
                        "entity": entity,
                        "metric": metric,
                        "value": np.abs(base),
                        "source": "file:app-test",
                    }
                )
            )
    frame = pl.concat(parts).cast(CANONICAL_SCHEMA)  # type: ignore[arg-type]
    return pl.concat([frame, health_rows(frame)])


def health_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Stored ``health_score`` rows per entity (as the health room would store them):
    100, except a dip to 20 while ``orders/1`` lags."""
    keys = frame.select("ts", "provider", "cluster", "level", "entity", "source").unique()
    spike = frame.filter(
        (pl.col("entity") == "orders/1")
        & (pl.col("metric") == "consumer_lag_messages")
        & (pl.col("value") > 1000)
    ).get_column("ts")
    return (
        keys.with_columns(
            pl.lit("health_score").alias("metric"),
            pl.when(
                pl.col("entity").is_in(["orders/1", "billing/orders"]) & pl.col("ts").is_in(spike.implode())
            )
            .then(20.0)
            .otherwise(100.0)
            .alias("value"),
        )
        .select(list(CANONICAL_SCHEMA))
        .cast(CANONICAL_SCHEMA)
    )  # type: ignore[arg-type]


def findings_frame() -> pl.DataFrame:
    """Two findings on the lag spike of ``orders/1`` and the group reading it."""
    start, end = T0 + dt.timedelta(hours=24), T0 + dt.timedelta(hours=25)
    return pl.DataFrame(
        {
            "start": [start, start + dt.timedelta(minutes=5)],
            "end": [end, end],
            "provider": ["kafka", "kafka"],
            "cluster": ["k1", "k1"],
            "level": ["partition", "consumer_group"],
            "entity": ["orders/1", "billing/orders"],
            "metric": ["consumer_lag_messages", "consumer_lag_messages"],
            "kind": ["spike", "level_shift"],
            "score": [0.97, 0.9],
            "severity": ["critical", "warning"],
            "explanation": [
                "lag on orders/1 rose 50x above its daily profile",
                "group billing/orders fell behind on orders",
            ],
        }
    ).cast(FINDING_SCHEMA)  # type: ignore[arg-type]


def build_store(root: object, *, minutes: int = 2 * 24 * 60) -> Store:
    """A store with the fleet dataset and its findings."""
    store = Store(root)  # type: ignore[arg-type]
    store.append(DATASET, fleet_frame(minutes), source="file:app-test")
    store.write_findings(DATASET, findings_frame())
    return store
