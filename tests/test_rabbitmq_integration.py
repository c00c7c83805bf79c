"""A real RabbitMQ 3.10 under pika load, scraped by a real Prometheus, read by the workbench.

The workbench's canonical frames must equal what the broker itself reports:
queue depths and unacked counts equal ``rabbitmqctl list_queues``, and the published
counts equal what this test published.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pika
import polars as pl
import pytest
import requests

from tests.services import PrometheusServer, RabbitMQServer
from workbench.mapping.samples import NAME
from workbench.sources.prometheus import PrometheusAuth, PrometheusSource

pytestmark = pytest.mark.services

ORDERS, PAYMENTS = "wb.it.orders", "wb.it.payments"
N_ORDERS, N_PAYMENTS, CONSUMED, HELD = 120, 45, 20, 7


def instant(prom: PrometheusServer, query: str) -> list[dict[str, object]]:
    answer = requests.get(f"{prom.url}/api/v1/query", params={"query": query}, timeout=10).json()
    return list(answer["data"]["result"])


def wait_until(prom: PrometheusServer, query: str, expected: float, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        result = instant(prom, query)
        last = result
        if result and float(result[0]["value"][1]) == expected:  # type: ignore[index]
            return
        time.sleep(0.5)
    raise TimeoutError(f"{query} never became {expected}: {last}")


def list_queues(rabbitmq: RabbitMQServer) -> dict[str, tuple[int, int]]:
    listing = rabbitmq.ctl(
        "list_queues", "-q", "--no-table-headers", "name", "messages_ready", "messages_unacknowledged"
    )
    out = {}
    for line in listing.strip().splitlines():
        name, ready, unacked = line.split("\t")
        out[name] = (int(ready), int(unacked))
    return out


def publish(channel: pika.adapters.blocking_connection.BlockingChannel, queue: str, n: int) -> None:
    props = pika.BasicProperties(delivery_mode=2, timestamp=int(time.time()))
    for i in range(n):
        channel.basic_publish("", queue, f"{queue}-{i}".encode(), props)


def test_frames_equal_what_the_broker_reports(rabbitmq: RabbitMQServer, prometheus_factory) -> None:
    target = f"127.0.0.1:{rabbitmq.prometheus_port}"
    prom = prometheus_factory(
        [{"job_name": "rabbitmq", "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}],
        scrape_interval="1s",
    )
    params = pika.ConnectionParameters(
        "127.0.0.1", rabbitmq.amqp_port, credentials=pika.PlainCredentials("guest", "guest")
    )
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for queue in (ORDERS, PAYMENTS):
            channel.queue_declare(queue, durable=True)
            channel.queue_purge(queue)
        # Let Prometheus see the global counters and the (empty) queues before any load.
        wait_until(prom, f'rabbitmq_queue_messages_ready{{queue="{ORDERS}"}}', 0)
        prom.wait_for_series('rabbitmq_global_messages_received_total{protocol="amqp091"}')
        time.sleep(2)
        start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
        received_before = float(instant(prom, "sum(rabbitmq_global_messages_received_total)")[0]["value"][1])  # type: ignore[index]

        publish(channel, ORDERS, N_ORDERS)
        publish(channel, PAYMENTS, N_PAYMENTS)
        consumer = connection.channel()
        consumer.basic_qos(prefetch_count=0)
        for _ in range(CONSUMED):  # fetch and ack
            method, _props, _body = consumer.basic_get(ORDERS, auto_ack=False)
            assert method is not None
            consumer.basic_ack(method.delivery_tag)
        for _ in range(HELD):  # fetch and hold unacked
            method, _props, _body = consumer.basic_get(ORDERS, auto_ack=False)
            assert method is not None

        ready_orders = N_ORDERS - CONSUMED - HELD
        wait_until(prom, f'rabbitmq_queue_messages_ready{{queue="{ORDERS}"}}', ready_orders)
        wait_until(prom, f'rabbitmq_queue_messages_unacked{{queue="{ORDERS}"}}', HELD)
        wait_until(prom, f'rabbitmq_queue_messages_ready{{queue="{PAYMENTS}"}}', N_PAYMENTS)
        wait_until(
            prom, "sum(rabbitmq_global_messages_received_total)", received_before + N_ORDERS + N_PAYMENTS
        )
        time.sleep(2)
        end = dt.datetime.now(dt.UTC).replace(microsecond=0)

        broker = list_queues(rabbitmq)
        with PrometheusSource(prom.url, auth=PrometheusAuth(), name="it") as src:
            samples = src.pull(start, end, "1s", provider="rabbitmq")
            result = src.ingest(start, end, "1s", provider="rabbitmq")
    finally:
        connection.close()

    frame = result.frame
    assert {"rabbitmq_aggregated", "rabbitmq_per_object"} <= set(result.exporters)
    last_ts = frame.filter(pl.col("metric") == "queue_depth_messages")["ts"].max()
    latest = frame.filter(pl.col("ts") == last_ts)

    def latest_value(metric: str, entity: str) -> float:
        hit = latest.filter((pl.col("metric") == metric) & (pl.col("entity") == entity))
        assert hit.height == 1, (metric, entity)
        return float(hit["value"][0])

    # Depths and unacked counts equal rabbitmqctl list_queues.
    for queue in (ORDERS, PAYMENTS):
        ready, unacked = broker[queue]
        assert latest_value("queue_depth_messages", queue) == ready
        assert latest_value("messages_unacked", queue) == unacked
    assert broker[ORDERS] == (ready_orders, HELD)
    assert latest_value("consumers", ORDERS) == 0.0

    # Published counts: the node's received-messages rate, integrated over the 1 s grid,
    # equals what was published in the window (rates computed per raw series by us).
    published = frame.filter(pl.col("metric") == "published_per_s").sort("ts")
    steps = published["ts"].diff().dt.total_seconds().drop_nulls().unique().to_list()
    assert steps == [1]
    assert published["value"].sum() == pytest.approx(N_ORDERS + N_PAYMENTS)
    assert frame.filter(pl.col("metric") == "acked_per_s").filter(pl.col("level") == "node")[
        "value"
    ].sum() == pytest.approx(CONSUMED)

    # The raw per-queue counter pulled from Prometheus holds exactly what was published.
    series = samples.series.filter(
        (pl.col(NAME) == "rabbitmq_queue_messages_published_total") & (pl.col("queue") == ORDERS)
    )
    published_orders = (
        samples.points.join(series.select("series_id"), on="series_id")
        .group_by("series_id")
        .agg(pl.col("value").max())
    )
    assert published_orders["value"].sum() == N_ORDERS

    # The cluster and node come from rabbitmq_identity_info, joined on the scrape target.
    cluster_name = json.loads(rabbitmq.ctl("cluster_status", "--formatter", "json"))["cluster_name"]
    assert frame["cluster"].unique().to_list() == [cluster_name]
    nodes = frame.filter(pl.col("level") == "node")["entity"].unique().to_list()
    assert nodes == [rabbitmq.nodename]
    assert result.counts["samples_in"] == (
        result.counts["samples_mapped"] + result.counts["samples_ignored"] + result.counts["samples_unknown"]
    )
