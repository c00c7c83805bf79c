"""View templates: at least 20, valid metric names, chosen from the metrics present."""

from __future__ import annotations

import pytest

from workbench.app import templates
from workbench.catalog import metric_names
from workbench.errors import NotFoundError, ParameterError


def test_at_least_twenty_provider_specific_templates() -> None:
    specific = [t for t in templates.templates() if t.provider is not None]
    assert len(specific) >= 20
    assert {t.provider for t in specific} == {"kafka", "rabbitmq", "sqs"}


def test_every_template_metric_is_in_the_catalogue() -> None:
    known = set(metric_names())
    for t in templates.templates():
        unknown = (set(t.required) | set(t.panels) | ({t.primary} if t.primary else set())) - known
        assert not unknown, f"{t.name}: {unknown}"


def test_a_generic_template_exists_for_every_level() -> None:
    for level in templates.LEVELS:
        assert templates.get(f"generic-{level}").level == level


@pytest.mark.parametrize(
    ("provider", "level", "present", "expected"),
    [
        ("kafka", "partition", {"consumer_lag_messages"}, "kafka-partition-lag"),
        ("kafka", "partition", {"consumer_lag_messages", "consumer_lag_seconds"}, "kafka-partition-time-lag"),
        (
            "kafka",
            "consumer_group",
            {"consumer_lag_messages", "consumer_lag_seconds", "messages_out_per_s"},
            "kafka-group-time-lag",
        ),
        (
            "kafka",
            "cluster",
            {"active_controllers", "offline_partitions", "messages_in_per_s"},
            "kafka-cluster-controller",
        ),
        (
            "rabbitmq",
            "queue",
            {"queue_depth_messages", "messages_unacked", "acked_per_s"},
            "rabbitmq-queue-delivery",
        ),
        ("rabbitmq", "queue", {"dlq_depth_messages"}, "rabbitmq-dlq"),
        ("rabbitmq", "node", {"memory_used_bytes", "disk_free_bytes"}, "rabbitmq-node-resources"),
        ("sqs", "queue", {"queue_depth_messages", "oldest_message_age_s"}, "sqs-queue-age"),
        ("sqs", "queue", {"unknown_metric"}, "generic-queue"),
    ],
)
def test_choose_template_from_metrics_present(
    provider: str, level: str, present: set[str], expected: str
) -> None:
    assert templates.choose_template(provider, level, present).name == expected


def test_panels_follow_template_order_then_the_rest() -> None:
    t = templates.get("kafka-partition-time-lag")
    assert t.panels_for({"messages_in_per_s", "consumer_lag_messages", "consumer_lag_seconds", "zzz"}) == [
        "consumer_lag_seconds",
        "consumer_lag_messages",
        "messages_in_per_s",
        "zzz",
    ]


def test_registry_errors_name_the_problem() -> None:
    with pytest.raises(NotFoundError, match="no view template named 'nope'"):
        templates.get("nope")
    with pytest.raises(ParameterError, match="level"):
        templates.register(templates.ViewTemplate("x", "kafka", "shelf", "x", (), ()))
    with pytest.raises(ParameterError, match="name"):
        templates.register(templates.get("sqs-dlq"))
