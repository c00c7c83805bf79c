"""The real services start, answer, and are scraped: the base of every integration test."""

from __future__ import annotations

import pika
import pytest
import requests

pytestmark = pytest.mark.services


def test_prometheus_starts_and_scrapes_itself(prometheus_factory):
    prom = prometheus_factory()
    prom.reload([{"job_name": "self", "static_configs": [{"targets": [prom.url.removeprefix("http://")]}]}])
    result = prom.wait_for_series('up{job="self"}')
    assert result[0]["value"][1] == "1"


def test_rabbitmq_counts_published_messages(rabbitmq):
    params = pika.ConnectionParameters(
        "127.0.0.1", rabbitmq.amqp_port, credentials=pika.PlainCredentials("guest", "guest")
    )
    with pika.BlockingConnection(params) as conn:
        channel = conn.channel()
        channel.queue_declare("smoke.q", durable=True)
        for i in range(7):
            channel.basic_publish("", "smoke.q", f"m{i}".encode())
    listing = rabbitmq.ctl("list_queues", "-q", "name", "messages_ready")
    depths = dict(line.split("\t") for line in listing.strip().splitlines() if "\t" in line)
    assert depths["smoke.q"] == "7"
    body = requests.get(rabbitmq.metrics_url, timeout=10).text
    assert 'rabbitmq_queue_messages_ready{vhost="/",queue="smoke.q"}' in body
