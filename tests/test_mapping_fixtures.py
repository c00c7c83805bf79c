"""The real RabbitMQ 3.10.8 scrapes in data/real/exposition/ map to the values their README lists.

The captures carry no timestamps and the README says t1 was taken 15-20 s after t0; the
tests stamp them t0 and t0 + 20 s, so rates are (t1 - t0 counter difference) / 20.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from workbench.config import settings
from workbench.mapping import SampleSet, concat_sample_sets, map_samples
from workbench.mapping.samples import NAME
from workbench.sources.exposition import read_exposition
from workbench.sources.files import read_metrics_file

DIR = settings().real_data_dir / "exposition"
PREFIX = "rabbitmq-3.10.8-deb12__"
# Just after the newest head-message timestamp in the captures (1795632958 s).
T0 = dt.datetime.fromtimestamp(1795633000, tz=dt.UTC)
T1 = T0 + dt.timedelta(seconds=20)


def load(name: str, when: dt.datetime) -> SampleSet:
    return read_exposition(DIR / f"{PREFIX}{name}.prom", timestamp=when)


def raw(samples: SampleSet, name: str, **labels: str) -> list[float]:
    series = samples.series.filter(pl.col(NAME) == name)
    for key, value in labels.items():
        series = series.filter(pl.col(key) == value)
    return samples.points.join(series.select("series_id"), on="series_id")["value"].to_list()


def value(frame: pl.DataFrame, metric: str, level: str, entity: str, ts: dt.datetime) -> float:
    hit = frame.filter(
        (pl.col("metric") == metric)
        & (pl.col("level") == level)
        & (pl.col("entity") == entity)
        & (pl.col("ts") == ts)
    )
    assert hit.height == 1, (metric, level, entity, hit)
    return float(hit["value"][0])


@pytest.fixture(scope="module")
def per_object() -> pl.DataFrame:
    merged = concat_sample_sets([load("t0_metrics_per-object", T0), load("t1_metrics_per-object", T1)])
    result = map_samples(merged)
    assert sorted(result.exporters) == ["rabbitmq_aggregated", "rabbitmq_per_object"]
    assert result.rejected.height == 0
    assert result.unknown.height == 0
    assert result.quarantined.height == 0, result.quarantined
    return result.frame


@pytest.mark.parametrize("name", [p.stem.removeprefix(PREFIX) for p in sorted(DIR.glob("*.prom"))])
def test_every_capture_parses_completely(name: str) -> None:
    samples = load(name, T0)
    assert samples.rejected.height == 0
    text = (DIR / f"{PREFIX}{name}.prom").read_text(encoding="utf-8")
    sample_lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert samples.points.height == len(sample_lines)  # empty families and summaries included
    result = map_samples(samples)
    c = result.counts
    assert c["samples_in"] == c["samples_mapped"] + c["samples_ignored"] + c["samples_unknown"]


def test_raw_values_equal_the_readme_table() -> None:
    t0, t1 = load("t0_metrics_per-object", T0), load("t1_metrics_per-object", T1)
    for samples, ready, total in ((t0, 95, 110), (t1, 185, 200)):
        assert raw(samples, "rabbitmq_queue_messages_ready", queue="orders") == [ready]
        assert raw(samples, "rabbitmq_queue_messages_unacked", queue="orders") == [15]
        assert raw(samples, "rabbitmq_queue_messages", queue="orders") == [total]
        assert raw(samples, "rabbitmq_queue_messages_ready", queue="orders.dlq") == [10]
        assert raw(samples, "rabbitmq_queue_messages_ready", queue="payments") == [20]
        assert raw(samples, "rabbitmq_queue_messages_ready", queue="idle") == [5]
        assert raw(samples, "rabbitmq_queue_consumers", queue="orders") == [1]
        for name, count in (("connections", 3), ("channels", 3), ("consumers", 1), ("queues", 4)):
            assert raw(samples, f"rabbitmq_{name}") == [count]
    classic = {"queue_type": "rabbit_classic_queue"}
    for samples, received, routed, acked, delivered, redelivered in (
        (t0, 256, 255, 80, 154, 44),
        (t1, 356, 355, 90, 164, 49),
    ):
        assert raw(samples, "rabbitmq_global_messages_received_total", protocol="amqp091") == [received]
        assert raw(samples, "rabbitmq_global_messages_routed_total", protocol="amqp091") == [routed]
        assert raw(samples, "rabbitmq_global_messages_unroutable_dropped_total", protocol="amqp091") == [1]
        assert raw(samples, "rabbitmq_global_messages_acknowledged_total", protocol="amqp091", **classic) == [
            acked
        ]
        assert raw(samples, "rabbitmq_global_messages_delivered_total", protocol="amqp091", **classic) == [
            delivered
        ]
        assert raw(
            samples,
            "rabbitmq_global_messages_delivered_total",
            protocol="amqp091",
            queue_type="rabbit_quorum_queue",
        ) == [30]
        assert raw(samples, "rabbitmq_global_messages_redelivered_total", protocol="amqp091", **classic) == [
            redelivered
        ]
        assert raw(
            samples,
            "rabbitmq_global_messages_dead_lettered_rejected_total",
            queue_type="rabbit_classic_queue",
            dead_letter_strategy="at_most_once",
        ) == [10]
    for name, ready in (("t0_metrics", 130), ("t1_metrics", 220)):
        assert raw(load(name, T0), "rabbitmq_queue_messages_ready") == [ready]


def test_queue_gauges_map_to_canonical_values(per_object: pl.DataFrame) -> None:
    for ts, orders_ready in ((T0, 95.0), (T1, 185.0)):
        assert value(per_object, "queue_depth_messages", "queue", "orders", ts) == orders_ready
        assert value(per_object, "messages_unacked", "queue", "orders", ts) == 15.0
        assert value(per_object, "queue_depth_messages", "queue", "orders.dlq", ts) == 10.0
        assert value(per_object, "queue_depth_messages", "queue", "payments", ts) == 20.0
        assert value(per_object, "queue_depth_messages", "queue", "idle", ts) == 5.0
        assert value(per_object, "consumers", "queue", "orders", ts) == 1.0
        assert value(per_object, "dlq_depth_messages", "queue", "orders.dlq", ts) == 10.0
        assert value(per_object, "connections", "node", "capture@localhost", ts) == 3.0
        assert value(per_object, "consumers", "node", "capture@localhost", ts) == 1.0
    assert per_object["cluster"].unique().to_list() == ["fixture-capture"]
    # Quorum queues have no head-message timestamp: no age for payments.
    ages = per_object.filter(pl.col("metric") == "oldest_message_age_s")
    assert sorted(ages["entity"].unique().to_list()) == ["idle", "orders", "orders.dlq"]
    assert (ages["value"] >= 0).all()


def test_counters_become_rates_from_the_two_captures(per_object: pl.DataFrame) -> None:
    node = "capture@localhost"
    assert value(per_object, "published_per_s", "node", node, T1) == pytest.approx(100 / 20)
    assert value(per_object, "messages_in_per_s", "node", node, T1) == pytest.approx(100 / 20)
    assert value(per_object, "acked_per_s", "node", node, T1) == pytest.approx(10 / 20)
    assert value(per_object, "messages_out_per_s", "node", node, T1) == pytest.approx(10 / 20)
    assert value(per_object, "redelivered_per_s", "node", node, T1) == pytest.approx(5 / 20)
    assert value(per_object, "unroutable_per_s", "node", node, T1) == 0.0
    assert value(per_object, "dead_lettered_per_s", "node", node, T1) == 0.0
    # Per queue, from per-channel counters: 100 more published into orders, consumer B acked 10.
    assert value(per_object, "messages_in_per_s", "queue", "orders", T1) == pytest.approx(100 / 20)
    assert value(per_object, "acked_per_s", "queue", "orders", T1) == pytest.approx(10 / 20)
    # No rate exists at t0 (first sample of each counter series).
    assert per_object.filter((pl.col("ts") == T0) & pl.col("metric").str.ends_with("_per_s")).height == 0


def test_aggregated_endpoint_gives_node_sums_and_alarms() -> None:
    result = map_samples(concat_sample_sets([load("t0_metrics", T0), load("t1_metrics", T1)]))
    assert result.exporters == ["rabbitmq_aggregated"]
    frame = result.frame
    node = "capture@localhost"
    assert value(frame, "queue_depth_messages", "node", node, T0) == 130.0
    assert value(frame, "queue_depth_messages", "node", node, T1) == 220.0
    assert value(frame, "memory_alarm", "node", node, T0) == 0.0
    assert value(frame, "disk_alarm", "node", node, T0) == 0.0
    assert value(frame, "published_per_s", "node", node, T1) == pytest.approx(5.0)
    assert frame.filter(pl.col("level") == "queue").height == 0
    # The aggregated channel counters are never rated (they fall when channels close).
    ignored = result.ignored.filter(pl.col("name") == "rabbitmq_channel_messages_published_total")
    assert ignored["reason"].to_list() == ["known family, not mapped"]


def test_detailed_endpoint_maps_queue_families() -> None:
    result = map_samples(load("t0_metrics_detailed_queue-families", T0))
    assert result.exporters == ["rabbitmq_detailed"]
    assert value(result.frame, "queue_depth_messages", "queue", "orders", T0) == 95.0
    assert value(result.frame, "messages_unacked", "queue", "orders", T0) == 15.0
    assert value(result.frame, "consumers", "queue", "orders", T0) == 1.0
    assert result.frame["cluster"].unique().to_list() == ["fixture-capture"]


def test_ingest_file_writes_the_store_with_a_manifest(isolated_settings) -> None:
    from workbench.sources.files import ingest_file
    from workbench.store import Store

    path = DIR / f"{PREFIX}t0_metrics_per-object.prom"
    report = ingest_file(path, timestamp=T0)
    assert report.stored.added == report.result.frame.height > 0
    manifest = Store().manifest(report.stored.dataset)
    assert sorted(manifest.parameters["exporters"]) == ["rabbitmq_aggregated", "rabbitmq_per_object"]
    assert manifest.parameters["counts"]["samples_in"] == report.result.counts["samples_in"]
    again = ingest_file(path, timestamp=T0)
    assert again.stored.added == 0  # idempotent


def test_cli_ingest_file_prints_the_quarantine_summary(isolated_settings) -> None:
    from typer.testing import CliRunner

    from workbench.cli import app

    out = CliRunner().invoke(
        app,
        ["ingest", "file", str(DIR / f"{PREFIX}t0_metrics.prom"), "--timestamp", T0.isoformat()],
    )
    assert out.exit_code == 0, out.output
    assert "quarantine summary" in out.output
    assert "rows added" in out.output
    assert read_metrics_file(DIR / f"{PREFIX}t0_metrics.prom", timestamp=T0).frame.height > 0
