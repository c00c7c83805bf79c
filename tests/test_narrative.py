"""Narratives: deterministic plain English with the numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from workbench.analysis.narrative import (
    describe_cause,
    describe_symptom,
    format_count,
    format_duration_s,
    narrate_episode,
    narrate_episodes,
)

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (1_234_567, "messages", "1.2 M messages"),
        (2.5e9, "bytes", "2.5 G bytes"),
        (45_300, "msg/s", "45.3 k msg/s"),
        (812, "", "812"),
        (3.0, "msg/s", "3 msg/s"),
        (0.254, "msg/s", "0.25 msg/s"),
        (125, "s", "2 min"),
        (float("nan"), "messages", "an unknown number of messages"),
    ],
)
def test_format_count(value: float, unit: str, text: str) -> None:
    assert format_count(value, unit) == text


def test_format_duration() -> None:
    assert [format_duration_s(s) for s in (0, 59, 61, 38 * 60, 3600, 7500, 86400, 90000)] == [
        "0 s",
        "59 s",
        "1 min",
        "38 min",
        "1 h",
        "2 h 5 min",
        "1 d",
        "1 d 1 h",
    ]


def episode(cause_rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(cause_rows).with_columns(
        rank=pl.int_range(1, pl.len() + 1), episode=pl.lit(0), cluster=pl.lit("k1")
    )


LAG = {
    "level": "consumer_group",
    "entity": "billing/orders",
    "metric": "consumer_lag_messages",
    "cause": "backlog_growth",
    "start": at(5),
    "end": at(43),
    "direction": "up",
    "before": 20.0,
    "during": 1.2e6,
    "score": 0.4,
}


def test_the_issue_example_sentence() -> None:
    broker = {
        "level": "broker",
        "entity": "broker-2",
        "metric": "(no data)",
        "cause": "broker_down",
        "start": at(3),
        "end": at(50),
        "direction": "down",
        "before": None,
        "during": None,
        "score": 0.9,
    }
    text = narrate_episode(episode([broker, LAG]))
    assert text == (
        "Consumer group billing fell behind on topic orders at 14:05 UTC; lag grew to 1.2 M messages (38 min) "
        "after broker 2 left the cluster."
    )
    assert narrate_episode(episode([broker, LAG])) == text  # deterministic


def test_surge_and_slowdown_read_differently() -> None:
    surge = {
        "level": "topic",
        "entity": "orders",
        "metric": "messages_in_per_s",
        "cause": "producer_surge",
        "start": at(2),
        "end": at(30),
        "direction": "up",
        "before": 120.0,
        "during": 480.0,
        "score": 0.8,
    }
    slow = {
        "level": "consumer_group",
        "entity": "billing/orders",
        "metric": "messages_out_per_s",
        "cause": "consumer_slowdown",
        "start": at(1),
        "end": at(30),
        "direction": "down",
        "before": 500.0,
        "during": 150.0,
        "score": 0.8,
    }
    assert narrate_episode(episode([surge, LAG])).endswith(
        "after producers on topic orders surged from 120 msg/s to 480 msg/s."
    )
    assert narrate_episode(episode([slow, LAG])).endswith(
        "because consumer group billing consumed more slowly from 500 msg/s to 150 msg/s."
    )
    # a close runner-up is mentioned as an alternative
    both = narrate_episode(episode([surge, {**slow, "score": 0.78}, LAG]))
    assert "(or consumer group billing consumed more slowly" in both


def test_symptom_only_and_queue_wording() -> None:
    assert narrate_episode(episode([LAG])).endswith("; no upstream cause stood out.")
    depth = {
        **LAG,
        "level": "queue",
        "entity": "invoices",
        "metric": "queue_depth_messages",
        "during": 52_000.0,
    }
    assert (
        describe_symptom(depth)
        == "Queue invoices backed up at 14:05 UTC; depth reached 52.0 k messages (38 min)"
    )
    rate = {
        **LAG,
        "level": "broker",
        "entity": "broker-1",
        "metric": "produce_latency_ms",
        "before": 3.0,
        "during": 45.0,
    }
    assert (
        describe_symptom(rate)
        == "Produce latency ms on broker broker-1 rose from 3 ms to 45 ms at 14:05 UTC (38 min)"
    )


@pytest.mark.parametrize(
    ("cause", "level", "entity", "metric", "expected"),
    [
        (
            "consumer_crash",
            "consumer_group",
            "audit/payments",
            "consumers",
            "after consumer group audit lost consumers",
        ),
        ("hot_partition", "partition", "orders/3", "messages_in_per_s", "after partition orders/3 ran hot"),
        (
            "memory_alarm",
            "node",
            "rabbit@node-0",
            "memory_alarm",
            "after node rabbit@node-0 raised a memory alarm",
        ),
        (
            "broker_failure",
            "broker",
            "broker-0",
            "under_replicated_partitions",
            "after broker 0 reported under replicated partitions",
        ),
        (
            "poison_message",
            "queue",
            "jobs",
            "redelivered_per_s",
            "as redelivered messages on queue jobs rose",
        ),
    ],
)
def test_cause_clauses(cause: str, level: str, entity: str, metric: str, expected: str) -> None:
    assert describe_cause({"cause": cause, "level": level, "entity": entity, "metric": metric}) == expected


def test_narrate_episodes_one_row_each() -> None:
    two = pl.concat([episode([LAG]), episode([LAG]).with_columns(episode=pl.lit(1), start=pl.lit(at(90)))])
    out = narrate_episodes(two)
    assert out["episode"].to_list() == [0, 1]
    assert out["narrative"].str.starts_with("Consumer group billing").all()
