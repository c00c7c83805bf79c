"""File sources: OpenMetrics, exposition, CSV, Parquet and NAB-format CSV."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from workbench.config import settings
from workbench.errors import SourceError
from workbench.sources.exposition import is_openmetrics, parse_exposition
from workbench.sources.files import ingest_file, read_metrics_file

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def test_openmetrics_with_timestamps_and_counters(tmp_path: Path) -> None:
    t = int(T0.timestamp())
    text = "\n".join(
        [
            "# TYPE kafka_server_brokertopicmetrics_messagesin counter",
            *(
                f'kafka_server_brokertopicmetrics_messagesin_total{{topic="orders",kubernetes_pod_name="k-0",'
                f'strimzi_io_cluster="prod"}} {i * 600} {t + 60 * i}'
                for i in range(4)
            ),
            "# TYPE kafka_server_replicamanager_underreplicatedpartitions gauge",
            f'kafka_server_replicamanager_underreplicatedpartitions{{kubernetes_pod_name="k-0",strimzi_io_cluster="prod"}} 2 {t}',
            "# EOF",
        ]
    )
    assert is_openmetrics(text)
    path = tmp_path / "scrape.om"
    path.write_text(text + "\n", encoding="utf-8")
    result = read_metrics_file(path)
    rates = result.frame.filter(pl.col("metric") == "messages_in_per_s")
    assert rates["value"].to_list() == [10.0, 10.0, 10.0]
    assert rates["ts"].min() == T0 + dt.timedelta(minutes=1)
    urp = result.frame.filter(
        (pl.col("metric") == "under_replicated_partitions") & (pl.col("level") == "broker")
    )
    assert urp.select("entity", "value").rows() == [("k-0", 2.0)]
    assert result.frame["cluster"].unique().to_list() == ["prod"]


def test_summaries_and_empty_families_parse() -> None:
    text = (
        "# TYPE telemetry_scrape_duration_seconds summary\n"
        "# HELP telemetry_scrape_duration_seconds Scrape duration\n"
        'telemetry_scrape_duration_seconds_count{registry="default",content_type="text/plain"} 5\n'
        'telemetry_scrape_duration_seconds_sum{registry="default",content_type="text/plain"} 0.02\n'
        "# TYPE rabbitmq_queue_head_message_timestamp gauge\n"
        "# HELP rabbitmq_queue_head_message_timestamp empty on the aggregated endpoint\n"
    )
    samples = parse_exposition(text, timestamp=T0, source="test")
    assert samples.points.height == 2
    assert samples.rejected.height == 0


def test_canonical_parquet_and_csv_round_trip(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "ts": [T0, T0 + dt.timedelta(minutes=1)],
            "provider": ["rabbitmq", "rabbitmq"],
            "cluster": ["c", "c"],
            "level": ["queue", "queue"],
            "entity": ["orders", "orders"],
            "metric": ["queue_depth_messages", "queue_depth_messages"],
            "value": [3.0, -1.0],
            "source": ["file:x", "file:x"],
        }
    )
    frame.write_parquet(tmp_path / "c.parquet")
    frame.write_csv(tmp_path / "c.csv")
    for name in ("c.parquet", "c.csv"):
        result = read_metrics_file(tmp_path / name)
        assert result.frame["value"].to_list() == [3.0]
        assert result.quarantined["reason"].to_list() == ["value is negative"]


def test_exporter_samples_parquet(tmp_path: Path) -> None:
    pl.DataFrame(
        {
            "ts": [T0, T0 + dt.timedelta(seconds=60)],
            "name": ["aws_sqs_number_of_messages_sent_sum"] * 2,
            "value": [120.0, 240.0],
            "dimension_QueueName": ["jobs"] * 2,
            "region": ["eu-west-1"] * 2,
            "account_id": ["42"] * 2,
        }
    ).with_columns(pl.col("ts").dt.to_string("%Y-%m-%dT%H:%M:%SZ")).write_parquet(tmp_path / "yace.parquet")
    result = read_metrics_file(tmp_path / "yace.parquet", period_s=60)
    sent = result.frame.filter(pl.col("metric") == "messages_in_per_s").sort("ts")
    assert sent["value"].to_list() == [2.0, 4.0]
    assert sent["cluster"].unique().to_list() == ["aws-42-eu-west-1"]


def test_bundled_nab_series_reads_as_external_value() -> None:
    path = settings().real_data_dir / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv"
    result = read_metrics_file(path)
    lines = len(path.read_text(encoding="utf-8").strip().splitlines()) - 1
    assert result.frame.height == lines
    assert result.quarantined.height == 0
    assert result.frame["entity"].unique().to_list() == ["realKnownCause/nyc_taxi"]
    assert result.frame["ts"].dtype == pl.Datetime("ms", "UTC")


def test_ingest_nab_file_into_the_store(isolated_settings: Path) -> None:
    path = settings().real_data_dir / "nab" / "data" / "realAWSCloudwatch" / "ec2_cpu_utilization_24ae8d.csv"
    report = ingest_file(path, dataset="nab-ec2")
    assert report.stored.added == report.result.frame.height
    assert report.stored.manifest.parameters["counts"]["samples_in"] == report.result.frame.height


def test_unsupported_file_type_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(SourceError, match="unsupported file type"):
        read_metrics_file(path)


def test_nothing_to_store_is_a_clear_error(isolated_settings: Path, tmp_path: Path) -> None:
    path = tmp_path / "other.prom"
    path.write_text("# TYPE go_goroutines gauge\ngo_goroutines 8\n", encoding="utf-8")
    with pytest.raises(SourceError, match="nothing to store"):
        ingest_file(path, timestamp=T0)
