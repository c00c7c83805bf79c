"""Mapping tables and the §9.3 normalization rules, on small hand-made sample sets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from workbench.catalog import metrics
from workbench.errors import ConfigError, NotFoundError
from workbench.mapping import SampleSet, concat_sample_sets, detect_exporters, map_samples
from workbench.mapping.tables import get_table, load_table, load_tables, table_names, tables

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def rows(result, metric: str, level: str | None = None) -> list[tuple[str, float]]:
    frame = result.frame.filter(pl.col("metric") == metric)
    if level is not None:
        frame = frame.filter(pl.col("level") == level)
    return sorted(frame.select("entity", "value").iter_rows())


def test_every_builtin_table_loads_and_names_real_catalogue_metrics() -> None:
    expected = {
        "kafka_exporter",
        "jmx_kafka",
        "strimzi_kafka",
        "bitnami_kafka",
        "kafka_lag_exporter",
        "burrow",
        "rabbitmq_aggregated",
        "rabbitmq_per_object",
        "rabbitmq_detailed",
        "yace_sqs",
    }
    assert expected <= set(table_names())
    catalogue = metrics()
    for table in tables().values():
        assert table.rules, table.name
        for rule in table.rules:
            assert rule.level in catalogue[rule.metric].levels


@pytest.mark.parametrize(
    ("name", "labels", "table"),
    [
        ("kafka_consumergroup_lag", {"consumergroup": "g", "topic": "t", "partition": "0"}, "kafka_exporter"),
        ("kafka_server_brokertopicmetrics_messagesin_total", {"topic": "t"}, "jmx_kafka"),
        ("kafka_server_socket_server_metrics_connection_count", {"listener": "PLAIN"}, "strimzi_kafka"),
        ("kafka_server_brokertopicmetrics_messagesinpersec_count", {"topic": "t"}, "bitnami_kafka"),
        (
            "kafka_consumergroup_group_lag",
            {"group": "g", "topic": "t", "partition": "0"},
            "kafka_lag_exporter",
        ),
        ("burrow_kafka_consumer_partition_lag", {"cluster": "c", "consumer_group": "g"}, "burrow"),
        ("rabbitmq_queue_messages_ready", {"vhost": "/", "queue": "q"}, "rabbitmq_per_object"),
        ("rabbitmq_global_messages_received_total", {"protocol": "amqp091"}, "rabbitmq_aggregated"),
        ("rabbitmq_detailed_queue_messages_ready", {"vhost": "/", "queue": "q"}, "rabbitmq_detailed"),
        ("aws_sqs_number_of_messages_sent_sum", {"dimension_QueueName": "q"}, "yace_sqs"),
    ],
)
def test_detection_from_metric_names(name: str, labels: dict[str, str], table: str) -> None:
    s = SampleSet.from_records([(name, labels, T0, 1.0)], source="test")
    assert table in [d.table for d in detect_exporters(s)]


def test_aggregated_rabbitmq_is_not_mistaken_for_per_object() -> None:
    s = SampleSet.from_records([("rabbitmq_queue_messages_ready", {}, T0, 130.0)], source="test")
    assert [d.table for d in detect_exporters(s)] == []
    s2 = SampleSet.from_records(
        [
            ("rabbitmq_queue_messages_ready", {}, T0, 130.0),
            ("rabbitmq_global_messages_received_total", {}, T0, 1.0),
        ],
        source="test",
    )
    result = map_samples(s2)
    assert result.exporters == ["rabbitmq_aggregated"]
    assert rows(result, "queue_depth_messages") == [("default", 130.0)]


def test_counter_reset_follows_promql_rate_per_raw_series_then_sums() -> None:
    # Two channels publishing to one queue; channel A restarts (its counter drops to 5).
    recs = []
    for ch, values in (("<0.1.0>", [100, 160, 5, 65]), ("<0.2.0>", [0, 60, 120, 180])):
        for i, v in enumerate(values):
            labels = {
                "channel": ch,
                "queue_vhost": "/",
                "queue": "orders",
                "exchange_vhost": "/",
                "exchange": "",
            }
            recs.append(("rabbitmq_queue_messages_published_total", labels, at(60 * i), float(v)))
    recs.append(("rabbitmq_queue_messages_ready", {"vhost": "/", "queue": "orders"}, T0, 1.0))
    result = map_samples(SampleSet.from_records(recs, source="test"))
    got = result.frame.filter(pl.col("metric") == "messages_in_per_s").sort("ts")["value"].to_list()
    # A: 1.0, reset -> 5/60, 1.0 ; B: 1.0 each. Summed per timestamp.
    assert got == pytest.approx([2.0, 1.0 + 5 / 60, 2.0])
    assert result.counts["rate_warmup"] == 2


def test_offset_reset_interval_is_dropped_not_counted() -> None:
    lab = {"topic": "orders", "partition": "0"}
    recs = [
        ("kafka_topic_partition_current_offset", lab, at(60 * i), v)
        for i, v in enumerate([0, 600, 1200, 50, 650])
    ]
    result = map_samples(SampleSet.from_records(recs, source="test"))
    rates = result.frame.filter((pl.col("metric") == "messages_in_per_s") & (pl.col("level") == "partition"))
    assert sorted(rates["value"].to_list()) == [10.0, 10.0, 10.0]
    assert rows(result, "log_end_offset")[0] == ("orders/0", 0.0)


def test_broker_topic_metrics_never_double_count_the_all_topics_series() -> None:
    recs = []
    for i in range(3):
        recs.append(
            (
                "kafka_server_brokertopicmetrics_messagesin_total",
                {"topic": "a", "instance": "b1"},
                at(10 * i),
                10.0 * i,
            )
        )
        recs.append(
            (
                "kafka_server_brokertopicmetrics_messagesin_total",
                {"topic": "b", "instance": "b1"},
                at(10 * i),
                20.0 * i,
            )
        )
        recs.append(
            ("kafka_server_brokertopicmetrics_messagesin_total", {"instance": "b1"}, at(10 * i), 30.0 * i)
        )
        recs.append(
            (
                "kafka_server_brokertopicmetrics_messagesin_total",
                {"topic": "a", "instance": "b2"},
                at(10 * i),
                5.0 * i,
            )
        )
    result = map_samples(SampleSet.from_records(recs, source="test"), cluster="c")
    topic = result.frame.filter((pl.col("metric") == "messages_in_per_s") & (pl.col("level") == "topic"))
    assert sorted(set(topic.select("entity", "value").iter_rows())) == [("a", 1.5), ("b", 2.0)]
    broker = result.frame.filter((pl.col("metric") == "messages_in_per_s") & (pl.col("level") == "broker"))
    assert sorted(set(broker.select("entity", "value").iter_rows())) == [("b1", 3.0)]


def test_strimzi_claims_shared_names_over_the_generic_jmx_rules() -> None:
    recs = [
        (
            "kafka_server_brokertopicmetrics_messagesin_total",
            {"topic": "a", "strimzi_io_cluster": "prod", "kubernetes_pod_name": "prod-kafka-0"},
            at(0),
            0.0,
        ),
        (
            "kafka_server_brokertopicmetrics_messagesin_total",
            {"topic": "a", "strimzi_io_cluster": "prod", "kubernetes_pod_name": "prod-kafka-0"},
            at(10),
            100.0,
        ),
        (
            "kafka_server_socket_server_metrics_connection_count",
            {
                "listener": "PLAIN",
                "networkProcessor": "1",
                "strimzi_io_cluster": "prod",
                "kubernetes_pod_name": "prod-kafka-0",
            },
            at(10),
            7.0,
        ),
        (
            "kafka_server_replicamanager_underreplicatedpartitions",
            {"strimzi_io_cluster": "prod", "kubernetes_pod_name": "prod-kafka-0"},
            at(10),
            0.0,
        ),
    ]
    result = map_samples(SampleSet.from_records(recs, source="test"))
    assert result.exporters[0] == "strimzi_kafka"
    assert "jmx_kafka" in result.exporters
    assert result.frame.filter(pl.col("metric") == "messages_in_per_s").height == 1  # not twice
    assert rows(result, "connections") == [("prod-kafka-0", 7.0)]
    assert result.frame["cluster"].unique().to_list() == ["prod"]


def test_scraped_replicas_of_kafka_exporter_are_averaged_not_summed() -> None:
    recs = [
        (
            "kafka_consumergroup_lag",
            {"consumergroup": "g", "topic": "t", "partition": "0", "instance": inst},
            T0,
            40.0,
        )
        for inst in ("exp-a:9308", "exp-b:9308")
    ]
    result = map_samples(SampleSet.from_records(recs, source="test"), cluster="c")
    assert rows(result, "consumer_lag_messages", "partition") == [("g/t/0", 40.0)]


def test_finer_family_wins_over_its_sum() -> None:
    lab = {"consumergroup": "g", "topic": "t"}
    recs = [
        ("kafka_consumergroup_lag", {**lab, "partition": "0"}, T0, 3.0),
        ("kafka_consumergroup_lag", {**lab, "partition": "1"}, T0, 4.0),
        ("kafka_consumergroup_lag_sum", lab, T0, 7.0),
    ]
    result = map_samples(SampleSet.from_records(recs, source="test"))
    assert rows(result, "consumer_lag_messages", "consumer_group") == [("g/t", 7.0)]
    lag_sum_only = map_samples(SampleSet.from_records(recs[2:], source="test"))
    assert rows(lag_sum_only, "consumer_lag_messages", "consumer_group") == [("g/t", 7.0)]
    assert result.ignored.filter(pl.col("name") == "kafka_consumergroup_lag_sum").height == 1


def test_yace_per_period_values_are_divided_by_the_period() -> None:
    lab = {
        "dimension_QueueName": "orders",
        "account_id": "123",
        "region": "eu-west-1",
        "name": "arn:aws:sqs:eu-west-1:123:orders",
    }
    recs = [
        ("aws_sqs_number_of_messages_sent_sum", lab, T0, 600.0),
        ("aws_sqs_approximate_number_of_messages_visible_average", lab, T0, 42.0),
        ("aws_sqs_approximate_age_of_oldest_message_maximum", lab, T0, 90.0),
    ]
    s = SampleSet.from_records(recs, source="test")
    result = map_samples(s)
    assert rows(result, "messages_in_per_s") == [("orders", 10.0)]
    assert rows(result, "queue_depth_messages") == [("orders", 42.0)]
    assert result.frame["cluster"].unique().to_list() == ["aws-123-eu-west-1"]
    assert rows(map_samples(s, period_s=300), "messages_in_per_s") == [("orders", 2.0)]


def test_head_message_timestamp_in_seconds_becomes_an_age() -> None:
    head = T0.timestamp() - 42
    s = SampleSet.from_records(
        [("rabbitmq_queue_head_message_timestamp", {"vhost": "shop", "queue": "orders"}, T0, head)],
        source="test",
    )
    assert rows(map_samples(s), "oldest_message_age_s") == [("shop/orders", pytest.approx(42.0))]


def test_unknown_names_are_listed_with_counts_never_dropped_silently() -> None:
    recs = [
        ("kafka_consumergroup_lag", {"consumergroup": "g", "topic": "t", "partition": "0"}, T0, 1.0),
        ("kafka_brokers", {}, T0, 3.0),
        ("my_custom_thing", {"a": "1"}, T0, 1.0),
        ("my_custom_thing", {"a": "2"}, T0, 1.0),
    ]
    result = map_samples(SampleSet.from_records(recs, source="test"))
    assert result.unknown.select("name", "series", "samples").rows() == [("my_custom_thing", 2, 2)]
    assert result.ignored.select("name", "reason").rows() == [("kafka_brokers", "known family, not mapped")]
    c = result.counts
    assert c["samples_in"] == 4 == c["samples_mapped"] + c["samples_ignored"] + c["samples_unknown"]
    summary = dict(result.summary().select("outcome", "count").iter_rows())
    assert summary["unknown samples"] == 2
    assert summary["ignored samples"] == 1


def test_user_table_directory_adds_a_dialect_without_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme.yaml").write_text(
        """
name: acme_queue_exporter
provider: rabbitmq
detect: [acme_queue_depth]
cluster_labels: [site]
rules:
  - {source: acme_queue_depth, metric: queue_depth_messages, level: queue, entity: [q]}
  - {source: acme_delivered_total, metric: messages_out_per_s, level: queue, entity: [q], kind: counter}
""",
        encoding="utf-8",
    )
    from workbench.config import settings

    monkeypatch.setenv("WORKBENCH_MAPPING_DIRS", str(tmp_path))
    settings(refresh=True)
    try:
        assert "acme_queue_exporter" in tables(refresh=True)
        recs = [
            ("acme_queue_depth", {"q": "jobs", "site": "paris"}, T0, 12.0),
            ("acme_delivered_total", {"q": "jobs", "site": "paris"}, T0, 0.0),
            ("acme_delivered_total", {"q": "jobs", "site": "paris"}, at(10), 30.0),
        ]
        result = map_samples(SampleSet.from_records(recs, source="test"))
        assert result.exporters == ["acme_queue_exporter"]
        assert rows(result, "queue_depth_messages") == [("jobs", 12.0)]
        assert rows(result, "messages_out_per_s") == [("jobs", 3.0)]
        assert result.frame["cluster"].unique().to_list() == ["paris"]
    finally:
        monkeypatch.delenv("WORKBENCH_MAPPING_DIRS")
        settings(refresh=True)
        tables(refresh=True)


def test_bad_user_tables_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nprovider: kafka\ndetect: [a]\nrules:\n  - {source: a, metric: nope, level: topic}\n"
    )
    with pytest.raises(ConfigError, match="not in the catalogue"):
        load_table(bad)
    bad.write_text(
        "name: x\nprovider: kafka\ndetect: [a]\nrules:\n  - {source: a, metric: partitions, level: queue}\n"
    )
    with pytest.raises(ConfigError, match="not defined at level"):
        load_table(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_tables([tmp_path / "missing"])
    with pytest.raises(NotFoundError, match="kafka_exporter"):
        get_table("no_such_table")


def test_concat_merges_the_same_series_across_scrapes() -> None:
    lab = {"protocol": "amqp091"}
    a = SampleSet.from_records([("rabbitmq_global_messages_received_total", lab, T0, 100.0)], source="s")
    b = SampleSet.from_records([("rabbitmq_global_messages_received_total", lab, at(20), 200.0)], source="s")
    merged = concat_sample_sets([a, b])
    assert merged.series.height == 1
    assert merged.points.height == 2
    assert rows(map_samples(merged), "published_per_s") == [("default", 5.0)]


def test_repeated_samples_are_quarantined_and_counted() -> None:
    lab = {"vhost": "/", "queue": "orders"}
    recs = [
        ("rabbitmq_queue_messages_ready", lab, T0, 5.0),
        ("rabbitmq_queue_messages_ready", lab, T0, 6.0),  # same series, same time
        ("rabbitmq_queue_messages_ready", lab, at(10), 7.0),
    ]
    result = map_samples(SampleSet.from_records(recs, source="test"))
    assert rows(result, "queue_depth_messages") == [("orders", 5.0), ("orders", 7.0)]
    assert result.quarantined["reason"].to_list() == ["duplicate (series, ts)"]
    assert result.counts["samples_repeated"] == 1
    assert result.counts["samples_in"] == 3


def test_series_keep_their_own_rabbitmq_node_when_identities_have_no_join_label() -> None:
    """A fleet-wide history (the simulator's export, a backfill) has one identity per node and
    no ``instance``: every series keeps the node its own labels name, none is folded into one."""
    records = []
    for node, used in (("rabbit@a", 1.0e9), ("rabbit@b", 2.0e9)):
        labels = {"rabbitmq_cluster": "c", "rabbitmq_node": node}
        records.append(("rabbitmq_identity_info", labels, T0, 1.0))
        records.append(("rabbitmq_process_resident_memory_bytes", labels, T0, used))
        records.append(("rabbitmq_queue_messages_ready", {**labels, "vhost": "/", "queue": "q"}, T0, 5.0))
    result = map_samples(SampleSet.from_records(records, source="test"))
    assert rows(result, "memory_used_bytes", "node") == [("rabbit@a", 1.0e9), ("rabbit@b", 2.0e9)]
    assert set(result.frame["cluster"].unique()) == {"c"}
