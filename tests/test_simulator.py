"""Simulator mechanics: invariants that follow from how Kafka, RabbitMQ and SQS work."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from workbench import frames
from workbench.errors import ConfigError, NotFoundError, ParameterError
from workbench.sources.simulator import ScenarioSpec, simulate
from workbench.sources.simulator.core import event_coverage, floor_cumsum, lindley, time_at_count
from workbench.sources.simulator.kafka import KafkaModel
from workbench.sources.simulator.rabbitmq import RabbitModel
from workbench.sources.simulator.spec import parse_duration
from workbench.sources.simulator.sqs import SqsModel

KAFKA_SPEC = {
    "name": "mech-kafka",
    "days": 1,
    "kafka": [
        {
            "name": "kafka-test-1",
            "brokers": 3,
            "topics": [
                {
                    "name": "orders",
                    "partitions": 6,
                    "replication_factor": 3,
                    "load": {"base_rate": 200, "noise": 0.2, "bursts_per_day": 6, "burst_magnitude": 4},
                },
                {"name": "audit", "partitions": 3, "replication_factor": 1, "load": {"base_rate": 20}},
            ],
            "consumer_groups": [
                {"name": "shipping", "topics": ["orders"], "members": 3, "capacity_per_member": 90},
                {"name": "auditors", "topics": ["audit", "orders"], "members": 2, "capacity_per_member": 400},
            ],
        }
    ],
    "incidents": [
        {
            "kind": "broker_failure",
            "cluster": "kafka-test-1",
            "target": "1",
            "start": "6h",
            "duration": "30m",
        },
        {
            "kind": "rebalance_storm",
            "cluster": "kafka-test-1",
            "target": "shipping",
            "start": "12h",
            "duration": "1h",
            "magnitude": 20,
        },
        {
            "kind": "consumer_crash",
            "cluster": "kafka-test-1",
            "target": "auditors",
            "start": "18h",
            "duration": "20m",
        },
    ],
}

RABBIT_SPEC = {
    "name": "mech-rabbit",
    "days": 1,
    "rabbitmq": [
        {
            "name": "rabbit-test-1",
            "nodes": 2,
            "memory_limit_bytes": 2e9,
            "queues": [
                {
                    "name": "work",
                    "load": {"base_rate": 40, "noise": 0.3, "bursts_per_day": 8, "burst_magnitude": 5},
                    "consumers": 2,
                    "capacity_per_consumer": 30,
                    "prefetch": 25,
                    "processing_time": "2s",
                    "nack_ratio": 0.05,
                    "reject_ratio": 0.02,
                    "dead_letter_queue": "work.dlq",
                },
                {"name": "work.dlq", "node": 1, "load": {"base_rate": 0, "noise": 0}, "consumers": 0},
                {
                    "name": "jobs",
                    "vhost": "batch",
                    "type": "quorum",
                    "node": 1,
                    "load": {"base_rate": 5},
                    "consumers": 1,
                    "capacity_per_consumer": 10,
                },
            ],
        }
    ],
    "incidents": [
        {
            "kind": "consumer_crash",
            "cluster": "rabbit-test-1",
            "target": "work",
            "start": "4h",
            "duration": "30m",
        },
        {
            "kind": "memory_alarm",
            "cluster": "rabbit-test-1",
            "target": "0",
            "start": "10h",
            "duration": "40m",
            "magnitude": 1.2,
        },
        {
            "kind": "rolling_restart",
            "cluster": "rabbit-test-1",
            "start": "16h",
            "duration": "30m",
            "magnitude": 3,
        },
    ],
}

SQS_SPEC = {
    "name": "mech-sqs",
    "days": 1,
    "sqs": [
        {
            "account_id": "210987654321",
            "region": "us-east-1",
            "queues": [
                {
                    "name": "resize",
                    "load": {"base_rate": 10, "noise": 0.3},
                    "consumers": 3,
                    "capacity_per_consumer": 5,
                    "visibility_timeout": "120s",
                    "processing_time": "20s",
                    "failure_ratio": 0.1,
                    "max_receive_count": 3,
                    "dead_letter_queue": "resize-dlq",
                },
                {"name": "resize-dlq", "load": {"base_rate": 0, "noise": 0}, "consumers": 0},
                {"name": "plain", "load": {"base_rate": 3}, "consumers": 1, "capacity_per_consumer": 10},
            ],
        }
    ],
    "incidents": [
        {
            "kind": "poison_message",
            "cluster": "aws-210987654321-us-east-1",
            "target": "resize",
            "start": "5h",
            "duration": "1h",
            "magnitude": 0.3,
        },
        {
            "kind": "visibility_timeout_short",
            "cluster": "aws-210987654321-us-east-1",
            "target": "resize",
            "start": "15h",
            "duration": "1h",
            "magnitude": 2,
        },
    ],
}


@pytest.fixture(scope="module")
def kafka_run():
    result = simulate(ScenarioSpec.model_validate(KAFKA_SPEC), seed=7)
    model = result.models[0]
    assert isinstance(model, KafkaModel)
    return result, model


@pytest.fixture(scope="module")
def rabbit_run():
    result = simulate(ScenarioSpec.model_validate(RABBIT_SPEC), seed=7)
    model = result.models[0]
    assert isinstance(model, RabbitModel)
    return result, model


@pytest.fixture(scope="module")
def sqs_run():
    result = simulate(ScenarioSpec.model_validate(SQS_SPEC), seed=7)
    model = result.models[0]
    assert isinstance(model, SqsModel)
    return result, model


# --------------------------------------------------------------------------- core helpers
def test_lindley_matches_the_recursion() -> None:
    rng = np.random.default_rng(0)
    arrivals = rng.poisson(5, size=(4, 500)).astype(float)
    capacity = rng.poisson(5, size=(4, 500)).astype(float)
    initial = np.array([0.0, 3.0, 10.0, 100.0])
    got = lindley(arrivals, capacity, initial)
    expected = np.zeros_like(arrivals)
    for row in range(4):
        backlog = initial[row]
        for t in range(500):
            backlog = max(0.0, backlog + arrivals[row, t] - capacity[row, t])
            expected[row, t] = backlog
    np.testing.assert_allclose(got, expected)


def test_floor_cumsum_is_integral_and_exact_in_the_long_run() -> None:
    flow = np.full((1, 1000), 0.37)
    cum = floor_cumsum(flow)
    assert np.all(cum == np.floor(cum))
    assert np.all(np.diff(cum) >= 0)
    assert cum[0, -1] == pytest.approx(370.0, abs=1.0)


def test_time_at_count_interpolates() -> None:
    cumulative = np.array([[10.0, 20.0, 20.0, 40.0]])
    times = np.array([60.0, 120.0, 180.0, 240.0])
    got = time_at_count(cumulative, np.array([[15.0, 20.0, 30.0, 40.0]]), times)
    np.testing.assert_allclose(got, [[90.0, 120.0, 210.0, 240.0]])


def test_event_coverage_spreads_long_pauses() -> None:
    events = np.zeros((1, 5))
    events[0, 1] = 1
    np.testing.assert_allclose(event_coverage(events, 90.0, 60.0), [[0, 1, 0.5, 0, 0]])


# --------------------------------------------------------------------------------- Kafka
def test_kafka_lag_is_produced_minus_consumed_and_never_negative(kafka_run) -> None:
    _, m = kafka_run
    assert np.all(m.lag >= 0)
    np.testing.assert_array_equal(m.lag, m.leo[m.gp_partition] - m.committed)
    assert np.all(np.diff(m.leo, axis=1) >= 0)
    assert np.all(np.diff(m.committed, axis=1) >= 0)
    assert np.all(m.consumed >= 0)
    # what was consumed never exceeds what was produced (offsets are integral)
    assert np.all(m.committed <= m.leo[m.gp_partition])
    assert np.all(m.leo == np.floor(m.leo))


def test_kafka_canonical_lag_equals_offsets_in_the_frame(kafka_run) -> None:
    result, _ = kafka_run
    f = result.frame.filter(pl.col("level") == "partition")
    leo = f.filter(pl.col("metric") == "log_end_offset").select(
        "ts", pl.col("entity").alias("tp"), pl.col("value").alias("leo")
    )
    lag = f.filter(pl.col("metric").is_in(["committed_offset", "consumer_lag_messages"])).pivot(
        on="metric", index=["ts", "entity"], values="value"
    )
    lag = lag.with_columns(pl.col("entity").str.splitn("/", 2).struct.field("field_1").alias("tp"))
    joined = lag.join(leo, on=["ts", "tp"])
    assert joined.height == lag.height > 0
    assert (joined["leo"] - joined["committed_offset"] == joined["consumer_lag_messages"]).all()


def test_kafka_broker_failure_shrinks_isr_moves_leaders_and_takes_rf1_offline(kafka_run) -> None:
    _, m = kafka_run
    t = 6 * 60 + 10  # inside the failure window (6h .. 6h30m)
    on_broker = (m.replicas == 1).any(axis=1)
    rf = (m.replicas >= 0).sum(axis=1)
    assert not m.broker_up[1, t]
    np.testing.assert_array_equal(m.isr[on_broker, t], rf[on_broker] - 1)
    assert np.all(m.leader[:, t] != 1)
    offline_expected = on_broker & (rf == 1)
    np.testing.assert_array_equal(m.offline[:, t], offline_expected)
    assert offline_expected.any()
    # offline partitions accept no writes
    assert np.all(m.produced[offline_expected, t] == 0)
    # after recovery and catch-up every replica is back in sync
    assert np.all(m.isr[:, -1] == rf)
    assert np.all(m.leader[:, -1] == m.replicas[:, 0])


def test_kafka_rebalance_storm_pauses_consumption(kafka_run) -> None:
    _, m = kafka_run
    group = 0  # shipping
    rows = m.gp_group == group
    during = m.consumed[rows, 12 * 60 : 13 * 60].sum()
    before = m.consumed[rows, 11 * 60 : 12 * 60].sum()
    assert during < before
    assert (np.diff(m.members[group, 12 * 60 : 13 * 60]) != 0).any()


def test_kafka_consumer_crash_stops_the_group_and_lag_grows(kafka_run) -> None:
    _, m = kafka_run
    group = 1
    window = slice(18 * 60 + 1, 18 * 60 + 20)
    assert np.all(m.members[group, window] == 0)
    rows = m.gp_group == group
    assert np.all(m.consumed[rows][:, window] == 0)
    lag = m.lag[rows].sum(axis=0)
    assert lag[18 * 60 + 19] > lag[18 * 60 - 1] * 2


# ------------------------------------------------------------------------------ RabbitMQ
def test_rabbit_ready_plus_unacked_is_conserved(rabbit_run) -> None:
    _, m = rabbit_run
    total = m.ready + m.unacked
    assert np.all(m.ready >= 0)
    assert np.all(m.unacked >= 0)
    change = np.diff(total, axis=1)
    flows = (m.published + m.dead_lettered_in - m.acked - m.rejected)[:, 1:]
    np.testing.assert_array_equal(change, flows)


def test_rabbit_unacked_bounded_by_prefetch(rabbit_run) -> None:
    _, m = rabbit_run
    prefetch = np.array([q.prefetch for q in m.spec.queues]).reshape(-1, 1)
    assert np.all(m.unacked <= prefetch * m.consumers)


def test_rabbit_dead_letters_arrive_in_the_dlq(rabbit_run) -> None:
    _, m = rabbit_run
    np.testing.assert_array_equal(m.dead_lettered_in[1], m.rejected[0])
    assert m.rejected[0].sum() > 0
    assert np.all(m.dead_lettered_in[[0, 2]] == 0)


def test_rabbit_memory_alarm_blocks_publishers_then_releases_them(rabbit_run) -> None:
    _, m = rabbit_run
    alarm = m.memory_alarm[0] > 0
    assert alarm.any()
    assert np.all(m.published[:, alarm] == 0)
    first_after = np.flatnonzero(alarm)[-1] + 1
    assert m.published[0, first_after] > 5 * np.median(m.published[0, : np.flatnonzero(alarm)[0]])


def test_rabbit_consumer_crash_requeues_unacked_as_redeliveries(rabbit_run) -> None:
    _, m = rabbit_run
    t = 4 * 60  # crash starts
    assert m.consumers[0, t + 1] == 0
    assert m.unacked[0, t + 1] == 0
    assert m.redelivered[0, t] >= m.unacked[0, t - 1] - 1
    assert m.ready[0, t + 25] > m.ready[0, t - 1]


def test_rabbit_head_timestamp_only_with_ready_messages(rabbit_run) -> None:
    _, m = rabbit_run
    assert np.all(np.isnan(m.head_age_s[m.ready == 0]))
    assert np.all(m.head_age_s[m.ready > 0] >= 0)


# ----------------------------------------------------------------------------------- SQS
def test_sqs_dlq_receives_exactly_the_messages_past_max_receive_count(sqs_run) -> None:
    _, m = sqs_run
    k = int(m.visibility_steps[0])
    # a message failing its 3rd receive moves when its visibility timeout ends
    np.testing.assert_array_equal(m.moved_to_dlq[0, k:], m.returned_last[0, :-k])
    np.testing.assert_array_equal(m.redrive_in[1], m.moved_to_dlq[0])
    assert m.moved_to_dlq[0].sum() > 0
    # redriven messages are not counted in the DLQ's NumberOfMessagesSent
    assert m.sent[1].sum() == 0
    assert m.visible[1, -1] == m.redrive_in[1].sum()


def test_sqs_messages_are_conserved(sqs_run) -> None:
    _, m = sqs_run
    inside = np.cumsum(m.sent[0] - m.deleted[0] - m.moved_to_dlq[0])
    np.testing.assert_array_equal(inside, m.visible[0] + m.returning[0])
    assert np.all(m.visible >= 0)


def test_sqs_short_visibility_timeout_causes_duplicates(sqs_run) -> None:
    _, m = sqs_run
    window = slice(15 * 60 + 5, 16 * 60)
    before = slice(13 * 60, 14 * 60)
    dup_during = m.re_received[0, window].sum() / max(m.received[0, window].sum(), 1)
    dup_before = m.re_received[0, before].sum() / max(m.received[0, before].sum(), 1)
    assert dup_during > 3 * dup_before
    assert m.received[0, window].sum() > m.deleted[0, window].sum()


# ------------------------------------------------------------------ frames, determinism
def test_output_is_a_valid_canonical_frame(kafka_run, rabbit_run, sqs_run) -> None:
    for result, _ in (kafka_run, rabbit_run, sqs_run):
        frames.validate(result.frame)
        incidents = result.incidents
        assert incidents.schema == pl.Schema(frames.INCIDENT_SCHEMA)
        assert incidents.height == len(result.spec.incidents)
        assert (incidents["end"] >= incidents["start"]).all()


def test_same_seed_same_output_other_seed_differs() -> None:
    a = simulate("default", days=0.5, seed=11)
    b = simulate("default", days=0.5, seed=11)
    c = simulate("default", days=0.5, seed=12)
    assert a.frame.equals(b.frame)
    assert a.incidents.equals(b.incidents)
    assert not a.frame.equals(c.frame)


def test_entity_naming_conventions() -> None:
    r = simulate(ScenarioSpec.model_validate(RABBIT_SPEC), days=0.1, seed=1)
    queues = set(r.frame.filter(pl.col("level") == "queue")["entity"].unique())
    assert {"work", "work.dlq", "batch/jobs"} <= queues
    nodes = set(r.frame.filter(pl.col("level") == "node")["entity"].unique())
    assert nodes == {"rabbit@rabbit-test-1-server-0", "rabbit@rabbit-test-1-server-1"}


def test_bad_parameters_raise_clear_errors() -> None:
    with pytest.raises(ParameterError, match="days"):
        simulate("default", days=0)
    with pytest.raises(ParameterError, match="step"):
        simulate("default", days=1, step="0s")
    with pytest.raises(ParameterError, match="start"):
        simulate("default", days=1, start="yesterday")
    with pytest.raises(NotFoundError, match=r"available: .*default"):
        simulate("no-such-scenario")
    with pytest.raises(ParameterError, match="duration"):
        parse_duration("ten minutes")


def test_invalid_specs_name_the_field() -> None:
    bad = {
        **KAFKA_SPEC,
        "incidents": [
            {
                "kind": "broker_failure",
                "cluster": "kafka-test-1",
                "target": "9",
                "start": "1h",
                "duration": "5m",
            }
        ],
    }
    with pytest.raises(ConfigError, match="target '9' not found"):
        simulate(ScenarioSpec.model_validate(bad), days=0.2)
    with pytest.raises(ValueError, match="replication_factor 4 exceeds brokers 3"):
        ScenarioSpec.model_validate(
            {
                "name": "x",
                "kafka": [{"topics": [{"name": "t", "replication_factor": 4, "load": {"base_rate": 1}}]}],
            }
        )
    with pytest.raises(ValueError, match="unknown topic"):
        ScenarioSpec.model_validate(
            {
                "name": "x",
                "kafka": [
                    {
                        "topics": [{"name": "t", "load": {"base_rate": 1}}],
                        "consumer_groups": [{"name": "g", "topics": ["u"], "capacity_per_member": 1}],
                    }
                ],
            }
        )


def test_long_commit_intervals_make_a_sawtooth_lag() -> None:
    spec = ScenarioSpec.model_validate(
        {
            "name": "commits",
            "kafka": [
                {
                    "topics": [{"name": "t", "partitions": 2, "load": {"base_rate": 50}}],
                    "consumer_groups": [
                        {
                            "name": "g",
                            "topics": ["t"],
                            "capacity_per_member": 100,
                            "members": 2,
                            "commit_interval": "5m",
                        }
                    ],
                }
            ],
        }
    )
    m = simulate(spec, days=0.1, seed=1).models[0]
    assert isinstance(m, KafkaModel)
    moves = np.diff(m.committed, axis=1) > 0
    assert moves.sum(axis=1).max() <= m.committed.shape[1] // 5 + 1
    assert np.all(m.lag >= 0)
    np.testing.assert_array_equal(m.lag, m.leo[m.gp_partition] - m.committed)


def test_incident_magnitude_defaults_per_kind_and_round_trips() -> None:
    from workbench.sources.simulator.spec import (
        DEFAULT_MAGNITUDE,
        IncidentSpec,
        scenario_from_yaml,
        scenario_to_yaml,
    )

    slow = IncidentSpec(kind="slow_consumer", cluster="c", target="g", start="1h", duration="1h")
    assert slow.magnitude == DEFAULT_MAGNITUDE["slow_consumer"] < 1
    spec = ScenarioSpec.model_validate(
        {
            **{k: v for k, v in SQS_SPEC.items() if k != "incidents"},
            "incidents": [
                {
                    "kind": "slow_consumer",
                    "cluster": "aws-210987654321-us-east-1",
                    "target": "plain",
                    "start": "1h",
                    "duration": "1h",
                    "magnitude": 1.0,
                }
            ],
        }
    )
    assert scenario_from_yaml(scenario_to_yaml(spec)) == spec
