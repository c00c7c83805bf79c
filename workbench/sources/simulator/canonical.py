"""From provider models to canonical blocks, and from blocks to the canonical long frame.

Rates are exact: ``messages_in_per_s`` is the number of messages appended in the step
divided by the step length, so the canonical rate equals what a PromQL ``rate()`` over the
native counters gives at the same resolution.

Examples
--------
>>> import numpy as np
>>> from workbench.sources.simulator.canonical import blocks_to_frame
>>> from workbench.sources.simulator.core import Block
>>> ts = np.array([60_000, 120_000], dtype=np.int64)
>>> block = Block("sqs", "aws-1", "queue", "queue_depth_messages", ["q"], np.array([[1.0, np.nan]]))
>>> blocks_to_frame([block], ts, source="sim:x:1").height
1
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from numpy.typing import NDArray

from workbench.frames import CANONICAL_SCHEMA, empty_canonical
from workbench.sources.simulator.core import F64, Block, group_sum, onehot

__all__ = ["blocks_to_frame", "kafka_blocks"]


def blocks_to_frame(blocks: Sequence[Block], ts_ms: NDArray[np.int64], *, source: str) -> pl.DataFrame:
    """Assemble blocks into one canonical long frame (NaN samples are left out).

    Rows are ordered by series, then time. The series keys are gathered from a small table
    of series, so the cost is a few memory copies per sample.
    """
    blocks = [b for b in blocks if b.values.shape[0] > 0]
    if not blocks:
        return empty_canonical()
    counts = [len(b.entities) for b in blocks]
    series = pl.DataFrame(
        {
            "provider": np.repeat([b.provider for b in blocks], counts),
            "cluster": np.repeat([b.cluster for b in blocks], counts),
            "level": np.repeat([b.level for b in blocks], counts),
            "entity": [e for b in blocks for e in b.entities],
            "metric": np.repeat([b.metric for b in blocks], counts),
        },
        schema={
            "provider": CANONICAL_SCHEMA["provider"],
            "cluster": pl.String,
            "level": CANONICAL_SCHEMA["level"],
            "entity": pl.String,
            "metric": pl.String,
        },
    )
    # the value arrays are handed to Polars without copying (one chunk per block)
    flats = [np.ascontiguousarray(b.values, dtype=np.float64).ravel() for b in blocks]
    has_nan = any(bool(np.isnan(f).any()) for f in flats)
    values = pl.concat([pl.Series("value", f) for f in flats], rechunk=False)
    times = pl.DataFrame({"ts": pl.Series("ts", ts_ms).cast(pl.Datetime("ms", "UTC"))})
    # a lazy cross join lays out series x time in series-major order without a Python loop
    # and lets Polars build the repeated key columns in parallel
    frame = (
        series.lazy()
        .join(times.lazy(), how="cross", maintain_order="left_right")
        .with_columns(values, pl.lit(source, dtype=pl.String).alias("source"))
    )
    if has_nan:
        frame = frame.filter(pl.col("value").is_not_nan())
    return frame.select(list(CANONICAL_SCHEMA)).collect()


def _nan_where(values: F64, missing: NDArray[np.bool_]) -> F64:
    out = values.astype(np.float64, copy=True)
    out[missing] = np.nan
    return out


def kafka_blocks(model: object) -> list[Block]:
    """Canonical blocks of a :class:`~workbench.sources.simulator.kafka.KafkaModel`."""
    from workbench.sources.simulator.kafka import KafkaModel

    assert isinstance(model, KafkaModel)
    spec, cal = model.spec, model.calendar
    dt = cal.step_seconds
    T = cal.steps
    name = spec.name
    topics = spec.topics
    n_topics, n_brokers = len(topics), spec.brokers
    groups = spec.consumer_groups
    part_entities = model.partition_entities
    topic_names = [t.name for t in topics]
    broker_names = [f"broker-{b}" for b in range(n_brokers)]
    down = ~model.broker_up
    rf = (model.replicas >= 0).sum(axis=1).reshape(-1, 1)
    msg_bytes = np.array([t.load.message_bytes for t in topics])[model.topic_of].reshape(-1, 1)
    leader = model.leader.astype(np.int64)

    in_rate = model.produced / dt
    bytes_in = in_rate * msg_bytes
    urp = (model.isr < rf).astype(np.float64)
    offline = model.offline.astype(np.float64)
    by_topic = onehot(model.topic_of, n_topics)
    out: list[Block] = []

    def add(level: str, metric: str, entities: list[str], values: F64) -> None:
        out.append(Block("kafka", name, level, metric, entities, values))

    # partitions (topic/partition)
    add("partition", "log_end_offset", part_entities, model.leo)
    add("partition", "messages_in_per_s", part_entities, in_rate)
    add("partition", "in_sync_replicas", part_entities, model.isr)
    add("partition", "under_replicated_partitions", part_entities, urp)
    add("partition", "offline_partitions", part_entities, offline)

    # consumer (group/topic/partition) and group x topic
    consumed_rate = model.consumed / dt  # what consumers fetched (bytes out)
    # what is observable is committed-offset movement (the catalogue's messages_out_per_s)
    committed_rate = (
        np.diff(model.committed, axis=1, prepend=model.committed[:, :1] - model.consumed[:, :1]) / dt
    )
    if model.gp_group.size:
        gp_entities = [
            f"{groups[g].name}/{part_entities[p]}"
            for g, p in zip(model.gp_group, model.gp_partition, strict=True)
        ]
        add("partition", "committed_offset", gp_entities, model.committed)
        add("partition", "consumer_lag_messages", gp_entities, model.lag)
        add("partition", "consumer_lag_seconds", gp_entities, model.lag_seconds)
        add("partition", "messages_out_per_s", gp_entities, committed_rate)
        pair_keys: list[tuple[int, int]] = sorted(
            {
                (int(g), int(model.topic_of[p]))
                for g, p in zip(model.gp_group, model.gp_partition, strict=True)
            }
        )
        pair_index = {k: i for i, k in enumerate(pair_keys)}
        pair_of = np.array(
            [
                pair_index[(int(g), int(model.topic_of[p]))]
                for g, p in zip(model.gp_group, model.gp_partition, strict=True)
            ]
        )
        pair_entities = [f"{groups[g].name}/{topic_names[t]}" for g, t in pair_keys]
        by_pair = onehot(pair_of, len(pair_keys))
        add("consumer_group", "consumer_lag_messages", pair_entities, by_pair @ model.lag)
        lag_s_max = np.stack([model.lag_seconds[pair_of == i].max(axis=0) for i in range(len(pair_keys))])
        add("consumer_group", "consumer_lag_seconds", pair_entities, lag_s_max)
        add("consumer_group", "messages_out_per_s", pair_entities, by_pair @ committed_rate)
        add("consumer_group", "consumers", pair_entities, model.members[[g for g, _ in pair_keys]])
        topic_lag = onehot(model.topic_of[model.gp_partition], n_topics) @ model.lag
        add("topic", "consumer_lag_messages", topic_names, topic_lag)

    # topics
    add("topic", "messages_in_per_s", topic_names, by_topic @ in_rate)
    add("topic", "bytes_in_per_s", topic_names, by_topic @ bytes_in)
    fetch_bytes = np.zeros_like(in_rate)
    if model.gp_group.size:
        fetch_bytes = onehot(model.gp_partition, in_rate.shape[0]) @ (
            consumed_rate * msg_bytes[model.gp_partition]
        )
    add("topic", "bytes_out_per_s", topic_names, by_topic @ fetch_bytes)
    add(
        "topic",
        "partitions",
        topic_names,
        np.repeat(np.array([[t.partitions] for t in topics], dtype=np.float64), T, axis=1),
    )
    add("topic", "under_replicated_partitions", topic_names, by_topic @ urp)
    add("topic", "offline_partitions", topic_names, by_topic @ offline)

    # brokers (missing while down: the JMX exporter is unreachable)
    replication_out = bytes_in * np.maximum(model.isr - 1.0, 0.0)
    hosted = np.zeros((n_brokers, T))
    for r in range(model.replicas.shape[1]):
        has = model.replicas[:, r] >= 0
        hosted += np.repeat(
            np.bincount(model.replicas[has, r], minlength=n_brokers).reshape(-1, 1).astype(np.float64),
            T,
            axis=1,
        )
    controller = _controller(model.broker_up)
    elections = np.zeros((model.leader.shape[0], T))
    elections[:, 1:] = (model.leader[:, 1:] != model.leader[:, :-1]).astype(np.float64)
    elections_rate = elections.sum(axis=0) / dt
    broker_metrics = {
        "messages_in_per_s": group_sum(leader, in_rate, n_brokers),
        "bytes_in_per_s": group_sum(leader, bytes_in, n_brokers),
        "bytes_out_per_s": group_sum(leader, fetch_bytes + replication_out, n_brokers),
        "under_replicated_partitions": group_sum(leader, urp, n_brokers),
        "partitions": hosted,
        "active_controllers": (controller.reshape(1, -1) == np.arange(n_brokers).reshape(-1, 1)).astype(
            np.float64
        ),
        "leader_elections_per_s": np.where(
            controller.reshape(1, -1) == np.arange(n_brokers).reshape(-1, 1),
            elections_rate.reshape(1, -1),
            0.0,
        ),
        "produce_latency_ms": model.produce_latency_p99_ms,
        "memory_used_bytes": _heap(spec.heap_bytes, group_sum(leader, bytes_in, n_brokers), dt),
        "memory_limit_bytes": np.full((n_brokers, T), spec.heap_bytes),
        "connections": _connections(model, leader, n_brokers),
        "disk_free_bytes": _disk_free(model, msg_bytes, n_brokers),
    }
    for metric, values in broker_metrics.items():
        add("broker", metric, broker_names, _nan_where(values, down))

    # cluster
    cluster = [name]
    add("cluster", "messages_in_per_s", cluster, in_rate.sum(axis=0, keepdims=True))
    add("cluster", "bytes_in_per_s", cluster, bytes_in.sum(axis=0, keepdims=True))
    add("cluster", "under_replicated_partitions", cluster, urp.sum(axis=0, keepdims=True))
    add("cluster", "offline_partitions", cluster, offline.sum(axis=0, keepdims=True))
    add("cluster", "active_controllers", cluster, (controller >= 0).astype(np.float64).reshape(1, -1))
    add("cluster", "partitions", cluster, np.full((1, T), float(model.leo.shape[0])))
    add("cluster", "leader_elections_per_s", cluster, elections_rate.reshape(1, -1))
    if model.gp_group.size:
        add("cluster", "consumer_lag_messages", cluster, model.lag.sum(axis=0, keepdims=True))
    return out


def _controller(broker_up: NDArray[np.bool_]) -> NDArray[np.int64]:
    """The active controller: broker 0 while up, else the lowest-id live broker (-1 if none)."""
    first_up = np.argmax(broker_up, axis=0)
    return np.where(broker_up.any(axis=0), first_up, -1).astype(np.int64)


def _heap(heap: float, bytes_in: F64, dt: float) -> F64:
    """JVM heap in use: a GC sawtooth between 25 % and 75 % whose period shrinks with load."""
    low, high = 0.25 * heap, 0.75 * heap
    alloc = 0.02 * heap * dt / 60.0 + 4.0 * bytes_in * dt
    return low + np.mod(np.cumsum(alloc, axis=1), high - low)


def _connections(model: object, leader: NDArray[np.int64], n_brokers: int) -> F64:
    from workbench.sources.simulator.kafka import KafkaModel

    assert isinstance(model, KafkaModel)
    T = model.calendar.steps
    led = group_sum(leader, np.ones_like(model.leader), n_brokers)
    share = led / np.maximum(led.sum(axis=0, keepdims=True), 1.0)
    clients = 3.0 * len(model.spec.topics) + (
        model.members.sum(axis=0) if model.members.size else np.zeros(T)
    )
    return np.asarray(np.round(12.0 + clients.reshape(1, -1) * share * 2.0), dtype=np.float64)


def _disk_free(model: object, msg_bytes: F64, n_brokers: int) -> F64:
    from workbench.sources.simulator.kafka import KafkaModel

    assert isinstance(model, KafkaModel)
    log_bytes = (model.leo - model.oldest) * msg_bytes
    total = np.zeros((n_brokers, model.calendar.steps))
    for r in range(model.replicas.shape[1]):
        has = model.replicas[:, r] >= 0
        total += onehot(model.replicas[has, r], n_brokers) @ log_bytes[has]
    capacity = np.maximum(total.max(axis=1, keepdims=True) * 2.5, 1e11)
    return np.asarray(capacity - total, dtype=np.float64)
