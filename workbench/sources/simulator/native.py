"""Exporter-native output: the names, labels and types real exporters use.

The same mechanics arrays are written as the series of

- **danielqsj/kafka_exporter** (all gauges, offsets included; the cluster comes from the
  constant label ``cluster`` that ``--kafka.labels cluster=<name>`` adds);
- **seglo/kafka-lag-exporter** time lag (``kafka_consumergroup_group_lag_seconds``, labels
  ``cluster_name, group, topic, partition, member_host, consumer_id, client_id``);
- **JMX exporter with Strimzi's rules** per broker (``_total`` counters, gauges, the
  ``quantile`` gauges of request timers), labelled with the target labels Strimzi's
  PodMonitor adds (``strimzi_io_cluster``, ``kubernetes_pod_name``). A broker that is down
  exports nothing, and its counters restart from zero when the JVM comes back;
- **rabbitmq_prometheus** per-object metrics (3.10 names) with ``rabbitmq_node`` and
  ``rabbitmq_cluster`` on every series: what the cluster-operator's
  ``* on(instance) group_left rabbitmq_identity_info`` join yields, written out because one
  endpoint serves the whole fleet. A restarting node exports nothing and its channel
  counters restart from zero; consumers that reconnect get a channel with a new pid (the
  old series ends, a new one starts at zero), the label churn real scrapes show;
- **YACE** for SQS (gauges holding the CloudWatch statistic of the latest period, names and
  statistics as in YACE's ``examples/sqs.yml``; labels ``name`` (ARN),
  ``dimension_QueueName``, ``region``, ``account_id``). A queue that has held no message
  and seen no API call for six hours is inactive in CloudWatch: its series have gaps.

:func:`native_frame` lays them out long: ``ts, name, type, exporter, labels, value`` with
the labels as a struct (null where a series lacks a label). :func:`exposition` renders one tick in the
Prometheus text format with ``prometheus_client``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl
from numpy.typing import NDArray
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, UnknownMetricFamily

from workbench.sources.simulator.core import F64, NativeBlock, group_sum, onehot
from workbench.sources.simulator.kafka import KafkaModel
from workbench.sources.simulator.rabbitmq import RabbitModel, node_name
from workbench.sources.simulator.sqs import SqsModel

__all__ = ["collect_families", "exposition", "native_blocks", "native_frame"]


def _restarting_cumsum(per_step: F64, up: NDArray[np.bool_]) -> F64:
    """Cumulative counter that restarts from zero after each down period (NaN while down)."""
    cum = np.cumsum(np.where(up, per_step, 0.0), axis=1)
    # value of the cumsum at the last step before each restart, carried forward
    restart = np.zeros_like(up)
    restart[:, 1:] = up[:, 1:] & ~up[:, :-1]
    base_at = np.where(restart, np.concatenate([np.zeros((up.shape[0], 1)), cum[:, :-1]], axis=1), np.nan)
    base_at[:, 0] = 0.0
    # forward-fill the base along time
    idx = np.where(~np.isnan(base_at), np.arange(up.shape[1]), 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    base = np.take_along_axis(base_at, idx, axis=1)
    out = cum - base
    out[~up] = np.nan
    return np.asarray(out, dtype=np.float64)


def _rows(up: NDArray[np.bool_], values: F64) -> F64:
    out = values.astype(np.float64, copy=True)
    out[~up] = np.nan
    return out


def kafka_native_blocks(model: KafkaModel) -> list[NativeBlock]:
    """kafka_exporter, kafka-lag-exporter and JMX (Strimzi rules) series of one cluster."""
    spec, cal = model.spec, model.calendar
    T = cal.steps
    name = spec.name
    topics = [t.name for t in spec.topics]
    groups = [g.name for g in spec.consumer_groups]
    n_brokers = spec.brokers
    up = model.broker_up
    tp_topic = [topics[t] for t in model.topic_of]
    tp_part = [str(p) for p in model.partition_no]
    n_part = len(tp_topic)
    rf = (model.replicas >= 0).sum(axis=1).astype(np.float64)
    blocks: list[NativeBlock] = []

    def ke(metric: str, help_text: str, labels: dict[str, list[str]], values: F64) -> None:
        rows = values.shape[0]
        blocks.append(
            NativeBlock(
                metric, "gauge", help_text, {"cluster": [name] * rows, **labels}, values, "kafka_exporter"
            )
        )

    ke(
        "kafka_brokers",
        "Number of Brokers in the Kafka Cluster.",
        {},
        up.sum(axis=0, keepdims=True).astype(np.float64),
    )
    ke(
        "kafka_broker_info",
        "Information about the Kafka Broker.",
        {
            "id": [str(b) for b in range(n_brokers)],
            "address": [f"{name}-kafka-{b}.{name}-kafka-brokers:9092" for b in range(n_brokers)],
        },
        np.where(up, 1.0, np.nan),
    )
    ke(
        "kafka_topic_partitions",
        "Number of partitions for this Topic",
        {"topic": topics},
        np.repeat(np.array([[t.partitions] for t in spec.topics], dtype=np.float64), T, axis=1),
    )
    part_labels = {"topic": tp_topic, "partition": tp_part}
    ke(
        "kafka_topic_partition_current_offset",
        "Current Offset of a Broker at Topic/Partition",
        part_labels,
        model.leo,
    )
    ke(
        "kafka_topic_partition_oldest_offset",
        "Oldest Offset of a Broker at Topic/Partition",
        part_labels,
        model.oldest,
    )
    ke("kafka_topic_partition_leader", "Leader Broker ID of this Topic/Partition", part_labels, model.leader)
    ke(
        "kafka_topic_partition_replicas",
        "Number of Replicas for this Topic/Partition",
        part_labels,
        np.repeat(rf.reshape(-1, 1), T, axis=1),
    )
    ke(
        "kafka_topic_partition_in_sync_replica",
        "Number of In-Sync Replicas for this Topic/Partition",
        part_labels,
        model.isr,
    )
    ke(
        "kafka_topic_partition_leader_is_preferred",
        "1 if Topic/Partition is using the Preferred Broker",
        part_labels,
        (model.leader == model.replicas[:, :1]).astype(np.float64),
    )
    ke(
        "kafka_topic_partition_under_replicated_partition",
        "1 if Topic/Partition is under Replicated",
        part_labels,
        (model.isr < rf.reshape(-1, 1)).astype(np.float64),
    )
    if model.gp_group.size:
        gp = {
            "consumergroup": [groups[g] for g in model.gp_group],
            "topic": [tp_topic[p] for p in model.gp_partition],
            "partition": [tp_part[p] for p in model.gp_partition],
        }
        ke(
            "kafka_consumergroup_current_offset",
            "Current Offset of a ConsumerGroup at Topic/Partition",
            gp,
            model.committed,
        )
        ke(
            "kafka_consumergroup_lag",
            "Current Approximate Lag of a ConsumerGroup at Topic/Partition",
            gp,
            model.lag,
        )
        keys = sorted(
            {
                (int(g), int(model.topic_of[p]))
                for g, p in zip(model.gp_group, model.gp_partition, strict=True)
            }
        )
        pair = {k: i for i, k in enumerate(keys)}
        pair_of = np.array(
            [
                pair[(int(g), int(model.topic_of[p]))]
                for g, p in zip(model.gp_group, model.gp_partition, strict=True)
            ]
        )
        sum_labels = {"consumergroup": [groups[g] for g, _ in keys], "topic": [topics[t] for _, t in keys]}
        by_pair = onehot(pair_of, len(keys))
        summed = by_pair @ model.committed
        ke(
            "kafka_consumergroup_current_offset_sum",
            "Current Offset of a ConsumerGroup at Topic for all partitions",
            sum_labels,
            summed,
        )
        lag_sum = by_pair @ model.lag
        ke(
            "kafka_consumergroup_lag_sum",
            "Current Approximate Lag of a ConsumerGroup at Topic for all partitions",
            sum_labels,
            lag_sum,
        )
        ke(
            "kafka_consumergroup_members",
            "Amount of members in a consumer group",
            {"consumergroup": groups},
            model.members,
        )
        lag_labels = {
            "cluster_name": [name] * model.gp_group.size,
            "group": gp["consumergroup"],
            "topic": gp["topic"],
            "partition": gp["partition"],
            "member_host": [
                f"/10.1.{g}.{int(p) % 250 + 1}"
                for g, p in zip(model.gp_group, model.gp_partition, strict=True)
            ],
            "consumer_id": [
                f"{groups[g]}-consumer-{int(p) % 8}"
                for g, p in zip(model.gp_group, model.gp_partition, strict=True)
            ],
            "client_id": [f"{groups[g]}-client" for g in model.gp_group],
        }
        blocks.append(
            NativeBlock(
                "kafka_consumergroup_group_lag_seconds",
                "gauge",
                "Group offset lag of a partition in seconds",
                lag_labels,
                model.lag_seconds,
                "kafka_lag_exporter",
            )
        )

    # JMX exporter with Strimzi rules, one scrape target per broker
    leader = model.leader.astype(np.int64)
    msg_bytes = np.array([t.load.message_bytes for t in spec.topics])[model.topic_of].reshape(-1, 1)
    fetched = (
        onehot(model.gp_partition, n_part) @ model.consumed if model.gp_group.size else np.zeros((n_part, T))
    )
    per_broker_topic_in = np.zeros((n_brokers * len(topics), T))
    per_broker_topic_bytes = np.zeros_like(per_broker_topic_in)
    per_broker_topic_out = np.zeros_like(per_broker_topic_in)
    key = np.where(leader >= 0, leader * len(topics) + model.topic_of.reshape(-1, 1), -1)
    per_broker_topic_in += group_sum(key, model.produced, n_brokers * len(topics))
    per_broker_topic_bytes += group_sum(key, model.produced * msg_bytes, n_brokers * len(topics))
    per_broker_topic_out += group_sum(key, fetched * msg_bytes, n_brokers * len(topics))
    bt_up = np.repeat(up, len(topics), axis=0)
    pods = [f"{name}-kafka-{b}" for b in range(n_brokers)]

    def jmx(
        metric: str,
        kind: str,
        help_text: str,
        labels: dict[str, list[str]],
        values: F64,
        broker_of_row: NDArray[np.int64],
    ) -> None:
        rows = values.shape[0]
        full = {
            "strimzi_io_cluster": [name] * rows,
            "kubernetes_pod_name": [pods[b] for b in broker_of_row],
            **labels,
        }
        blocks.append(NativeBlock(metric, kind, help_text, full, values, "jmx_exporter"))

    brokers = np.arange(n_brokers)
    bt_broker = np.repeat(brokers, len(topics))
    bt_topic = {"topic": topics * n_brokers}
    for metric, per, text in (
        ("kafka_server_brokertopicmetrics_messagesin_total", per_broker_topic_in, "Incoming messages"),
        ("kafka_server_brokertopicmetrics_bytesin_total", per_broker_topic_bytes, "Incoming bytes"),
        ("kafka_server_brokertopicmetrics_bytesout_total", per_broker_topic_out, "Outgoing bytes"),
    ):
        jmx(metric, "counter", text + " per topic", bt_topic, _restarting_cumsum(per, bt_up), bt_broker)
        totals = per.reshape(n_brokers, len(topics), T).sum(axis=1)
        jmx(metric, "counter", text + " (all topics)", {}, _restarting_cumsum(totals, up), brokers)

    urp = (model.isr < rf.reshape(-1, 1)).astype(np.float64)
    hosted = np.zeros((n_brokers, 1))
    for r in range(model.replicas.shape[1]):
        has = model.replicas[:, r] >= 0
        hosted[:, 0] += np.bincount(model.replicas[has, r], minlength=n_brokers)
    controller = np.where(up.any(axis=0), np.argmax(up, axis=0), -1)
    is_controller = controller.reshape(1, -1) == brokers.reshape(-1, 1)
    elections = np.zeros((n_part, T))
    elections[:, 1:] = (model.leader[:, 1:] != model.leader[:, :-1]).astype(np.float64)
    gauges = {
        "kafka_server_replicamanager_underreplicatedpartitions": group_sum(leader, urp, n_brokers),
        "kafka_server_replicamanager_partitioncount": np.repeat(hosted, T, axis=1),
        "kafka_server_replicamanager_leadercount": group_sum(leader, np.ones_like(urp), n_brokers),
        "kafka_controller_kafkacontroller_activecontrollercount": is_controller.astype(np.float64),
        "kafka_controller_kafkacontroller_offlinepartitionscount": np.where(
            is_controller, model.offline.sum(axis=0).reshape(1, -1), 0.0
        ),
    }
    for metric, values in gauges.items():
        jmx(metric, "gauge", metric, {}, _rows(up, values), brokers)
    # a timer's `_count` (typed untyped here, as Bitnami's rules leave it; a counter by its suffix)
    jmx(
        "kafka_controller_controllerstats_leaderelectionrateandtimems_count",
        "untyped",
        "Leader elections",
        {},
        _restarting_cumsum(np.where(is_controller, elections.sum(axis=0).reshape(1, -1), 0.0), up),
        brokers,
    )
    jmx(
        "kafka_network_requestmetrics_totaltimems",
        "gauge",
        "Produce request time (ms)",
        {"request": ["Produce"] * n_brokers, "quantile": ["0.99"] * n_brokers},
        _rows(up, model.produce_latency_p99_ms),
        brokers,
    )
    from workbench.sources.simulator.canonical import _connections, _disk_free, _heap

    heap = _heap(
        spec.heap_bytes,
        group_sum(leader, model.produced * msg_bytes / cal.step_seconds, n_brokers),
        cal.step_seconds,
    )
    jmx(
        "jvm_memory_used_bytes",
        "gauge",
        "Used bytes of a given JVM memory area.",
        {"area": ["heap"] * n_brokers},
        _rows(up, heap),
        brokers,
    )
    jmx(
        "jvm_memory_max_bytes",
        "gauge",
        "Max (bytes) of a given JVM memory area.",
        {"area": ["heap"] * n_brokers},
        _rows(up, np.full((n_brokers, T), spec.heap_bytes)),
        brokers,
    )
    jmx(
        "kafka_server_socket_server_metrics_connection_count",
        "gauge",
        "connection-count",
        {"listener": ["PLAIN-9092"] * n_brokers, "networkProcessor": ["0"] * n_brokers},
        _rows(up, _connections(model, leader, n_brokers)),
        brokers,
    )
    disk = _disk_free(model, msg_bytes, n_brokers)
    blocks.append(
        NativeBlock(
            "kubelet_volume_stats_available_bytes",
            "gauge",
            "Number of available bytes in the volume",
            {
                "namespace": ["kafka"] * n_brokers,
                "persistentvolumeclaim": [f"data-0-{name}-kafka-{b}" for b in brokers],
            },
            disk,
            "kubelet",
        )
    )
    return blocks


def rabbit_native_blocks(model: RabbitModel) -> list[NativeBlock]:
    """rabbitmq_prometheus series (per-object queue metrics, channel counters, node metrics)."""
    spec, cal = model.spec, model.calendar
    T = cal.steps
    queues = spec.queues
    n_q = len(queues)
    nodes = [node_name(spec.name, n) for n in range(spec.nodes)]
    home = np.array([q.node for q in queues])
    q_up = model.node_up[home]
    blocks: list[NativeBlock] = []

    def rq(
        metric: str,
        kind: str,
        help_text: str,
        labels: dict[str, list[str]],
        values: F64,
        node_of_row: NDArray[np.int64],
    ) -> None:
        rows = values.shape[0]
        full = {
            "rabbitmq_cluster": [spec.name] * rows,
            "rabbitmq_node": [nodes[n] for n in node_of_row],
            **labels,
        }
        blocks.append(NativeBlock(metric, kind, help_text, full, values, "rabbitmq_prometheus"))

    qlab = {"vhost": [q.vhost for q in queues], "queue": [q.name for q in queues]}
    rq(
        "rabbitmq_queue_messages_ready",
        "gauge",
        "Messages ready to be delivered to consumers",
        qlab,
        _rows(q_up, model.ready),
        home,
    )
    rq(
        "rabbitmq_queue_messages_unacked",
        "gauge",
        "Messages delivered to consumers but not yet acknowledged",
        qlab,
        _rows(q_up, model.unacked),
        home,
    )
    rq(
        "rabbitmq_queue_messages",
        "gauge",
        "Sum of ready and unacknowledged messages - total queue depth",
        qlab,
        _rows(q_up, model.ready + model.unacked),
        home,
    )
    rq("rabbitmq_queue_consumers", "gauge", "Consumers on a queue", qlab, _rows(q_up, model.consumers), home)
    classic = np.array([q.type == "classic" for q in queues])
    if classic.any():
        head_ts = np.floor(
            cal.seconds.reshape(1, -1) - model.head_age_s
        )  # NaN (absent) when nothing is ready
        rq(
            "rabbitmq_queue_head_message_timestamp",
            "gauge",
            "Timestamp of the first message in the queue, if any",
            {k: [v for v, c in zip(vals, classic, strict=True) if c] for k, vals in qlab.items()},
            _rows(q_up[classic], head_ts[classic]),
            home[classic],
        )
    pub_ch = [f"<0.{700 + 2 * i}.0>" for i in range(n_q)]
    rq(
        "rabbitmq_queue_messages_published_total",
        "counter",
        "Total number of messages published to queues",
        {
            "channel": pub_ch,
            "queue_vhost": qlab["vhost"],
            "queue": qlab["queue"],
            "exchange_vhost": qlab["vhost"],
            "exchange": [""] * n_q,
        },
        _restarting_cumsum(model.published, q_up),
        home,
    )
    # consumer channels: a reconnect (consumer count change, node restart) opens a channel
    # with a new pid whose counters start at zero; the old series ends (label churn)
    reconnect = np.zeros((n_q, T), dtype=bool)
    reconnect[:, 1:] = (model.consumers[:, 1:] != model.consumers[:, :-1]) | (q_up[:, 1:] & ~q_up[:, :-1])
    epoch = np.cumsum(reconnect, axis=1)
    open_channel = q_up & (model.consumers > 0)
    rows_q: list[int] = []
    rows_mask: list[NDArray[np.bool_]] = []
    for q in range(n_q):  # a handful of epochs per queue; each row is vectorised over time
        for e in np.unique(epoch[q][open_channel[q]]).tolist():
            rows_q.append(q)
            rows_mask.append((epoch[q] == e) & open_channel[q])
    ch_lab = {
        "channel": [f"<0.{701 + 2 * q + 4096 * k}.0>" for k, q in enumerate(rows_q)],
        "vhost": [qlab["vhost"][q] for q in rows_q],
        "queue": [qlab["queue"][q] for q in rows_q],
    }
    masks = np.array(rows_mask, dtype=bool).reshape(len(rows_q), T)
    ch_home = home[np.array(rows_q, dtype=np.int64)] if rows_q else home[:0]

    def per_channel(values: F64) -> F64:
        if not rows_q:
            return np.zeros((0, T))
        return _restarting_cumsum(values[np.array(rows_q)], masks)

    for metric, text, values in (
        (
            "rabbitmq_channel_messages_delivered_ack_total",
            "Total number of messages delivered to consumers in manual acknowledgement mode",
            model.delivered,
        ),
        (
            "rabbitmq_channel_messages_acked_total",
            "Total number of messages acknowledged by consumers",
            model.acked,
        ),
        (
            "rabbitmq_channel_messages_redelivered_total",
            "Total number of messages redelivered to consumers",
            model.redelivered,
        ),
    ):
        rq(metric, "counter", text, ch_lab, per_channel(values), ch_home)

    node_rows = np.arange(spec.nodes)
    up = model.node_up
    on_node = np.zeros((spec.nodes, n_q))
    on_node[home, np.arange(n_q)] = 1.0
    qtype = np.array([0 if q.type == "classic" else 1 for q in queues])
    type_names = ["rabbit_classic_queue", "rabbit_quorum_queue"]
    per_node_type = {
        k: np.zeros((spec.nodes * 2, T)) for k in ("delivered", "acked", "redelivered", "rejected")
    }
    for k in per_node_type:
        src = getattr(model, k)
        key = (home * 2 + qtype).reshape(-1, 1).repeat(T, axis=1)
        per_node_type[k] = group_sum(key, src, spec.nodes * 2)
    nt_node = np.repeat(node_rows, 2)
    nt_up = np.repeat(up, 2, axis=0)
    nt_lab = {"protocol": ["amqp091"] * (2 * spec.nodes), "queue_type": type_names * spec.nodes}
    received = on_node @ model.published
    rq(
        "rabbitmq_global_messages_received_total",
        "counter",
        "Total number of messages received from publishers",
        {"protocol": ["amqp091"] * spec.nodes},
        _restarting_cumsum(received, up),
        node_rows,
    )
    rq(
        "rabbitmq_global_messages_routed_total",
        "counter",
        "Total number of messages routed to queues or streams",
        {"protocol": ["amqp091"] * spec.nodes},
        _restarting_cumsum(received, up),
        node_rows,
    )
    for metric, k, text in (
        (
            "rabbitmq_global_messages_delivered_total",
            "delivered",
            "Total number of messages delivered to consumers",
        ),
        (
            "rabbitmq_global_messages_acknowledged_total",
            "acked",
            "Total number of message acknowledgements received from consumers",
        ),
        (
            "rabbitmq_global_messages_redelivered_total",
            "redelivered",
            "Total number of messages redelivered to consumers",
        ),
    ):
        rq(metric, "counter", text, nt_lab, _restarting_cumsum(per_node_type[k], nt_up), nt_node)
    rq(
        "rabbitmq_global_messages_dead_lettered_rejected_total",
        "counter",
        "Total number of messages dead-lettered due to basic.reject or basic.nack",
        {"queue_type": type_names * spec.nodes, "dead_letter_strategy": ["at_most_once"] * (2 * spec.nodes)},
        _restarting_cumsum(per_node_type["rejected"], nt_up),
        nt_node,
    )
    node_gauges = {
        "rabbitmq_process_resident_memory_bytes": ("Memory used in bytes", model.memory_bytes),
        "rabbitmq_resident_memory_limit_bytes": (
            "Memory high watermark in bytes",
            np.full((spec.nodes, T), spec.memory_limit_bytes),
        ),
        "rabbitmq_disk_space_available_bytes": ("Disk space available in bytes", model.disk_free_bytes),
        "rabbitmq_disk_space_available_limit_bytes": (
            "Free disk space low watermark in bytes",
            np.full((spec.nodes, T), spec.disk_free_limit_bytes),
        ),
        "rabbitmq_alarms_memory_used_watermark": (
            "is 1 if VM memory watermark alarm is in effect",
            model.memory_alarm,
        ),
        "rabbitmq_alarms_free_disk_space_watermark": (
            "is 1 if free disk space watermark alarm is in effect",
            model.disk_alarm,
        ),
        "rabbitmq_consumers": ("Consumers currently connected", on_node @ model.consumers),
        "rabbitmq_queues": ("Queues available", np.repeat(on_node.sum(axis=1, keepdims=True), T, axis=1)),
        "rabbitmq_connections": (
            "Connections currently open",
            np.round(
                5.0
                + (model.consumers.sum(axis=0) + n_q).reshape(1, -1) / spec.nodes * np.ones((spec.nodes, 1))
            ),
        ),
    }
    for metric, (text, values) in node_gauges.items():
        rq(metric, "gauge", text, {}, _rows(up, values), node_rows)
    rq(
        "rabbitmq_identity_info",
        "untyped",
        "RabbitMQ node & cluster identity info",
        {"rabbitmq_cluster_permanent_id": [f"rabbitmq-cluster-id-{spec.name}"] * spec.nodes},
        _rows(up, np.ones((spec.nodes, T))),
        node_rows,
    )
    return blocks


def sqs_native_blocks(model: SqsModel) -> list[NativeBlock]:
    """YACE series for the SQS queues of one account/region (statistic of the latest period)."""
    spec, cal = model.spec, model.calendar
    names = [q.name for q in spec.queues]
    n_q = len(names)
    period_steps = max(1, round(spec.period.total_seconds() / cal.step_seconds))

    def period_sum(values: F64) -> F64:
        cum = np.cumsum(values, axis=1)
        out = cum.copy()
        out[:, period_steps:] = cum[:, period_steps:] - cum[:, :-period_steps]
        return out

    def period_mean(values: F64) -> F64:
        return period_sum(values) / np.minimum(np.arange(1, values.shape[1] + 1), period_steps).reshape(1, -1)

    labels = {
        "name": [f"arn:aws:sqs:{spec.region}:{spec.account_id}:{n}" for n in names],
        "dimension_QueueName": names,
        "region": [spec.region] * n_q,
        "account_id": [spec.account_id] * n_q,
    }
    sizes = np.array([q.load.message_bytes for q in spec.queues]).reshape(-1, 1) * np.ones((1, cal.steps))
    series = {
        # levels with the Sum statistic as in examples/sqs.yml: equal to the level for a 60 s period
        "aws_sqs_approximate_number_of_messages_visible_sum": period_mean(model.visible),
        "aws_sqs_approximate_number_of_messages_not_visible_sum": period_mean(model.not_visible),
        "aws_sqs_approximate_number_of_messages_delayed_sum": np.zeros_like(model.visible),
        "aws_sqs_approximate_age_of_oldest_message_average": model.age_s,
        "aws_sqs_number_of_messages_sent_sum": period_sum(model.sent),
        "aws_sqs_number_of_messages_received_sum": period_sum(model.received),
        "aws_sqs_number_of_messages_deleted_sum": period_sum(model.deleted),
        "aws_sqs_number_of_empty_receives_sum": period_sum(model.empty_receives),
        "aws_sqs_sent_message_size_average": np.where(model.sent > 0, sizes, np.nan),
    }
    # CloudWatch reports a queue only while it is active: it holds messages or saw an API
    # call (send, receive, delete, empty poll) in the last six hours. Idle queues are gaps.
    busy = (
        model.visible
        + model.not_visible
        + model.sent
        + model.received
        + model.empty_receives
        + model.redrive_in
    ) > 0
    window = max(1, round(6 * 3600 / cal.step_seconds))
    recent = np.cumsum(busy.astype(np.int64), axis=1)
    recent[:, window:] -= recent[:, :-window].copy()
    active = recent > 0
    blocks = [
        NativeBlock(
            metric, "gauge", "Help is not implemented yet.", labels, np.where(active, values, np.nan), "yace"
        )
        for metric, values in series.items()
    ]
    blocks.append(
        NativeBlock(
            "aws_sqs_info",
            "gauge",
            "Help is not implemented yet.",
            {"name": labels["name"], "tag_team": ["platform"] * n_q},
            np.zeros((n_q, cal.steps)),
            "yace",
        )
    )
    return blocks


def native_blocks(models: Sequence[object]) -> list[NativeBlock]:
    """Native blocks of every model, in model order."""
    blocks: list[NativeBlock] = []
    for model in models:
        if isinstance(model, KafkaModel):
            blocks += kafka_native_blocks(model)
        elif isinstance(model, RabbitModel):
            blocks += rabbit_native_blocks(model)
        elif isinstance(model, SqsModel):
            blocks += sqs_native_blocks(model)
    return blocks


def label_names(blocks: Sequence[NativeBlock]) -> list[str]:
    """Union of label names over blocks, in first-seen order."""
    return list(dict.fromkeys(k for b in blocks for k in b.labels))


def native_frame(blocks: Sequence[NativeBlock], ts_ms: NDArray[np.int64]) -> pl.DataFrame:
    """Long frame of native samples: ``ts, name, type, exporter, labels, value``.

    ``labels`` is a struct with one String field per label name used by any series (null
    where a series lacks the label); ``frame.unnest("labels")`` gives one column per label.
    Absent samples (exporter down, empty queue head) are left out.

    Examples
    --------
    >>> from workbench.sources.simulator import simulate
    >>> r = simulate("hot-partition", days=0.05, seed=1)
    >>> native = native_frame(r.native_blocks, r.calendar.ts_ms)
    >>> native.columns
    ['ts', 'name', 'type', 'exporter', 'labels', 'value']
    >>> "kafka_consumergroup_lag" in set(native["name"])
    True
    """
    blocks = [b for b in blocks if b.values.shape[0] > 0]
    names = label_names(blocks)
    meta: dict[str, list[str]] = {"name": [], "type": [], "exporter": []}
    labels: dict[str, list[str | None]] = {n: [] for n in names}
    for b in blocks:
        rows = b.values.shape[0]
        meta["name"] += [b.name] * rows
        meta["type"] += [b.kind] * rows
        meta["exporter"] += [b.exporter] * rows
        for n in names:
            labels[n] += b.labels.get(n, [None] * rows)
    label_frame = pl.DataFrame(labels, schema={n: pl.String for n in names})
    series = pl.DataFrame(meta, schema={c: pl.String for c in meta}).with_columns(
        pl.Series("labels", label_frame.to_struct()) if names else pl.lit(None).alias("labels")
    )
    values = np.concatenate([b.values for b in blocks], axis=0) if blocks else np.zeros((0, ts_ms.size))
    times = pl.DataFrame({"ts": pl.Series("ts", ts_ms).cast(pl.Datetime("ms", "UTC"))})
    return (
        series.lazy()
        .join(times.lazy(), how="cross", maintain_order="left_right")
        .with_columns(pl.Series("value", values.ravel(), dtype=pl.Float64))
        .filter(pl.col("value").is_not_nan())
        .select("ts", "name", "type", "exporter", "labels", "value")
        .collect()
    )


def collect_families(blocks: Sequence[NativeBlock], index: int) -> Iterator[Metric]:
    """prometheus_client metric families holding each series' value at step ``index``.

    Blocks that share a family name (e.g. per-topic and all-topics counters) are merged.
    """
    families: dict[str, Metric] = {}
    for b in blocks:
        fam = families.get(b.family)
        if fam is None:
            if b.kind == "counter":
                fam = CounterMetricFamily(b.family, b.help, labels=())
            elif b.kind == "gauge":
                fam = GaugeMetricFamily(b.family, b.help, labels=())
            else:
                fam = UnknownMetricFamily(b.family, b.help, labels=())
            families[b.family] = fam
        column = b.values[:, index]
        keys = list(b.labels)
        for row in np.flatnonzero(~np.isnan(column)):
            labels = {k: b.labels[k][row] for k in keys}
            fam.add_sample(b.name, labels, float(column[row]))
    yield from families.values()


def exposition(blocks: Sequence[NativeBlock], index: int) -> str:
    """The Prometheus text exposition (format 0.0.4) of step ``index``.

    Examples
    --------
    >>> from workbench.sources.simulator import simulate
    >>> r = simulate("default", days=0.1, seed=1)
    >>> text = exposition(r.native_blocks, 10)
    >>> "kafka_consumergroup_lag{" in text
    True
    """
    from prometheus_client import CollectorRegistry, generate_latest

    class _Once:
        def collect(self) -> Iterator[Metric]:
            return collect_families(blocks, index)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Once())  # type: ignore[arg-type]
    return generate_latest(registry).decode("utf-8")
