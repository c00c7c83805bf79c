"""The Prometheus source against a real Prometheus, backfilled with promtool.

Ground truth is the OpenMetrics file written here: kafka_exporter-style offset gauges
(one with an offset reset), a -1 lag sentinel, a counter with a restart, and RabbitMQ
queue depths, every 15 s for 6 hours.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import time
from pathlib import Path

import polars as pl
import pytest
import requests

from tests.services import PrometheusServer
from workbench.errors import SourceError
from workbench.sources.prometheus import PrometheusAuth, PrometheusSource, split_range

pytestmark = pytest.mark.services

STEP = 15
POINTS = 6 * 3600 // STEP  # 1,440 points per series
END = (int(time.time()) - 600) // 3600 * 3600  # whole hour, inside retention, not in the future
START = END - (POINTS - 1) * STEP
RESET_AT = 700  # offset reset of partition 1 at this point index
RESTART_AT = 900  # counter restart at this point index


def truth_offset(partition: int, i: int) -> float:
    if partition == 1 and i >= RESET_AT:
        return float((i - RESET_AT) * 3)
    return float(i * (partition + 2) * 3)


def truth_counter(i: int) -> float:
    return float(i * 30 if i < RESTART_AT else (i - RESTART_AT + 1) * 30)  # restarted: 0, then +30


def write_backfill(path: Path) -> None:
    lines = [
        "# TYPE kafka_topic_partition_current_offset gauge",
        *(
            f'kafka_topic_partition_current_offset{{kafka_cluster="bench",topic="orders",partition="{p}"}} '
            f"{truth_offset(p, i):g} {START + i * STEP}"
            for p in (0, 1)
            for i in range(POINTS)
        ),
        "# TYPE kafka_consumergroup_lag gauge",
        *(
            f'kafka_consumergroup_lag{{kafka_cluster="bench",consumergroup="billing",topic="orders",partition="0"}} '
            f"{-1 if i % 100 == 0 else i % 50} {START + i * STEP}"
            for i in range(POINTS)
        ),
        "# TYPE rabbitmq_global_messages_received counter",
        *(
            f'rabbitmq_global_messages_received_total{{protocol="amqp091",instance="r1:15692"}} {truth_counter(i):g} {START + i * STEP}'
            for i in range(POINTS)
        ),
        "# TYPE rabbitmq_queue_messages_ready gauge",
        *(
            f'rabbitmq_queue_messages_ready{{vhost="/",queue="q{q}",instance="r1:15692"}} {(i * (q + 1)) % 997} {START + i * STEP}'
            for q in range(3)
            for i in range(POINTS)
        ),
        "# EOF",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> PrometheusServer:
    path = tmp_path_factory.mktemp("backfill") / "data.om"
    write_backfill(path)
    server = PrometheusServer(workdir=tmp_path_factory.mktemp("prom-backfilled"))
    server.start()
    server.backfill([path])
    yield server
    server.stop()


def source(server: PrometheusServer, **kwargs: object) -> PrometheusSource:
    return PrometheusSource(server.url, auth=PrometheusAuth(), **kwargs)  # type: ignore[arg-type]


def test_split_range_is_half_open_and_covers_every_grid_point() -> None:
    chunks = split_range(0, 25_000 * 15, 15)
    assert len(chunks) == 3
    points = [int((b - a) / 15) + 1 for a, b in chunks]
    assert all(p <= 11_000 for p in points)
    assert sum(points) == 25_001
    assert all(nxt[0] - cur[1] == 15 for cur, nxt in itertools.pairwise(chunks))


def test_pulled_values_equal_the_backfilled_ground_truth(backfilled: PrometheusServer) -> None:
    with source(backfilled, max_points=500) as src:  # 3 chunks per series
        samples = src.query_range("kafka_topic_partition_current_offset", START, END, f"{STEP}s")
    assert samples.points.height == 2 * POINTS  # nothing missing, no duplicated boundary
    joined = samples.points.join(samples.series, on="series_id").with_columns(
        ((pl.col("ts").dt.epoch("s") - START) // STEP).alias("i")
    )
    for partition in (0, 1):
        got = joined.filter(pl.col("partition") == str(partition)).sort("i")
        assert got["i"].to_list() == list(range(POINTS))
        assert got["value"].to_list() == [truth_offset(partition, i) for i in range(POINTS)]


def test_a_pull_beyond_11000_points_is_split_where_a_single_query_fails(backfilled: PrometheusServer) -> None:
    start, end = END - 4 * 3600, END  # 14,401 points at 1 s
    single = requests.get(
        f"{backfilled.url}/api/v1/query_range",
        params={"query": "rabbitmq_queue_messages_ready", "start": start, "end": end, "step": 1},
        timeout=30,
    )
    assert single.status_code == 400
    assert "11,000" in single.text
    with source(backfilled) as src:
        samples = src.query_range("rabbitmq_queue_messages_ready", start, end, "1s")
    per_series = samples.points.group_by("series_id").len()["len"].to_list()
    assert per_series == [14_401] * 3


def test_ingest_maps_rates_resets_and_sentinels(backfilled: PrometheusServer) -> None:
    with source(backfilled, max_workers=3) as src:
        result = src.ingest(START, END, f"{STEP}s")
    assert {"kafka_exporter", "rabbitmq_aggregated", "rabbitmq_per_object"} <= set(result.exporters)
    frame = result.frame
    rates = frame.filter((pl.col("metric") == "messages_in_per_s") & (pl.col("level") == "partition"))
    p1 = rates.filter(pl.col("entity") == "orders/1")
    # the offset reset interval is dropped, every other interval is 9 msg / 15 s or 3 / 15 s
    assert p1.height == POINTS - 2
    assert set(p1["value"].round(9).to_list()) == {9 / 15, 3 / 15}
    published = frame.filter(pl.col("metric") == "published_per_s")
    assert published.height == POINTS - 1  # restart handled
    assert set(published["value"].to_list()) == {2.0}
    assert published["entity"].unique().to_list() == ["r1:15692"]
    lag = result.quarantined.filter(pl.col("reason") == "sentinel -1 (unknown)")
    assert lag.height == 2 * math.ceil(POINTS / 100)  # partition and group rows
    assert frame["cluster"].filter(frame["provider"] == "kafka").unique().to_list() == ["bench"]
    depth = frame.filter(pl.col("metric") == "queue_depth_messages")
    assert depth.height == 3 * POINTS


def test_promql_rates_agree_with_our_rates(backfilled: PrometheusServer) -> None:
    window_start = START + 3600
    with source(backfilled) as src:
        ours = src.ingest(window_start, END, "60s", provider="rabbitmq")
        theirs = src.ingest(
            window_start, END, "60s", provider="rabbitmq", counters="promql", rate_window="2m"
        )
    mine = ours.frame.filter(pl.col("metric") == "published_per_s")
    prom = theirs.frame.filter(pl.col("metric") == "published_per_s")
    both = mine.join(prom, on="ts", suffix="_prom")
    assert both.height > 200
    # rate() extrapolates towards the window edges; right after the restart the two differ.
    restart = dt.datetime.fromtimestamp(START + RESTART_AT * STEP, tz=dt.UTC)
    near = (both["ts"] >= restart) & (both["ts"] <= restart + dt.timedelta(minutes=3))
    steady = both.filter(~near)
    assert steady.height >= both.height - 4
    assert (steady["value"] - steady["value_prom"]).abs().max() < 1e-6  # a steady 2/s either way


def test_bad_promql_shows_prometheus_message_and_the_query(backfilled: PrometheusServer) -> None:
    with source(backfilled) as src, pytest.raises(SourceError, match="parse error") as info:
        src.query_range("rate(kafka_topic_partition_current_offset[5m]", START, END, "60s")
    assert info.value.query == "rate(kafka_topic_partition_current_offset[5m]"


def test_empty_result_is_a_clear_error(backfilled: PrometheusServer) -> None:
    with source(backfilled) as src, pytest.raises(SourceError, match="no series matched"):
        src.query_range('rabbitmq_queue_messages_ready{queue="nope"}', START, END, "60s")


def test_metric_names_come_through_prometheus_api_client(backfilled: PrometheusServer) -> None:
    with source(backfilled) as src:
        names = src.metric_names()
    assert "kafka_consumergroup_lag" in names


def test_cli_ingest_prometheus_writes_a_dataset(
    backfilled: PrometheusServer, isolated_settings: Path
) -> None:
    from typer.testing import CliRunner

    from workbench.cli import app
    from workbench.store import Store

    since = f"{int(time.time()) - START + 60}s"
    out = CliRunner().invoke(
        app,
        [
            "ingest",
            "prometheus",
            "--url",
            backfilled.url,
            "--since",
            since,
            "--step",
            "60s",
            "--provider",
            "kafka",
            "--dataset",
            "prom-test",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "quarantine summary" in out.output
    assert "sentinel -1" in out.output
    stored = Store().scan("prom-test").collect()
    assert stored.height > 0
    assert set(stored["provider"].cast(pl.String).unique()) == {"kafka"}
    manifest = Store().manifest("prom-test")
    assert manifest.parameters["exporters"] == ["kafka_exporter"]


def test_cli_reports_an_unreachable_server_in_one_line(isolated_settings: Path) -> None:
    import subprocess
    import sys

    from tests.services import free_port

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "ingest",
            "prometheus",
            "--url",
            f"http://127.0.0.1:{free_port()}",
            "--since",
            "1h",
            "--timeout",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "cannot reach Prometheus" in done.stderr
    assert "Traceback" not in done.stderr


def test_fast_matrix_parser_equals_the_orjson_parser_on_tricky_labels() -> None:
    import orjson

    from workbench.sources.prometheus import _assemble, _parse_matrix, _parse_matrix_fast

    tricky = ['he said "hi"', "a]]b", '{"metric":x', "],[", "naïve ✓", "back\\slash", ',"values":[[']
    result = [
        {
            "metric": {"__name__": "rabbitmq_queue_messages_ready", "vhost": "/", "queue": q},
            "values": [
                [1764115200 + 15 * i, v] for i, v in enumerate(["1", "2.5", "NaN", "+Inf", "-Inf", "1e+06"])
            ],
        }
        for q in tricky
    ]
    body = orjson.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})
    fast = _parse_matrix_fast(body, query="q", name=None)
    assert fast is not None  # the fast path handled it
    slow_body = body.replace(b'"result":[', b'"result": [', 1)  # not the exact header: orjson path
    assert _parse_matrix_fast(slow_body, query="q", name=None) is None
    a = _assemble([fast], source="s", rated_names=frozenset())
    b = _assemble(
        [_parse_matrix(slow_body, url="u", query="q", name=None)], source="s", rated_names=frozenset()
    )
    assert a.series.equals(b.series)
    assert a.points.equals(b.points, null_equal=True)
    assert sorted(a.series["queue"].to_list()) == sorted(tricky)
    assert a.points.height == 6 * len(tricky)
