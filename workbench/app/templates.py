"""View templates for the entity drill-down, per provider and entity level.

A template says which metric panels an operator wants to see for one kind of
entity (a Kafka partition, a RabbitMQ quorum queue, an SQS dead-letter queue…),
in which order, which metric is *primary* (the one decomposed and forecast),
and which extra views apply (Burrow lag-status timeline, forecast band,
seasonal decomposition). :func:`choose_template` picks one automatically from
the metrics an entity actually has: the most specific template whose required
metrics are all present wins, and a generic template per level catches the rest.

Templates are a registry (``register`` / ``get``) so a deployment can add its own.

Examples
--------
>>> t = choose_template("kafka", "partition", {"consumer_lag_messages", "consumer_lag_seconds"})
>>> t.name
'kafka-partition-time-lag'
>>> choose_template("sqs", "queue", {"queue_depth_messages"}).name
'sqs-queue-backlog'
>>> choose_template("sqs", "queue", {"something_else"}).name
'generic-queue'
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from workbench.errors import NotFoundError, ParameterError

__all__ = [
    "ViewTemplate",
    "choose_template",
    "get",
    "register",
    "templates",
]

PROVIDERS = ("kafka", "rabbitmq", "sqs")
LEVELS = ("cluster", "broker", "node", "topic", "partition", "queue", "consumer_group")


@dataclass(frozen=True)
class ViewTemplate:
    """How to show one kind of entity.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"kafka-partition-lag"``.
    provider : str or None
        ``kafka``, ``rabbitmq``, ``sqs``, or None for a generic template.
    level : str
        Entity level the template is for.
    title : str
        Heading shown above the panels.
    required : tuple of str
        Metrics that must all be present for the template to apply.
    panels : tuple of str
        Metrics to plot, in order (those absent are skipped).
    primary : str or None
        Metric used for decomposition and forecast.
    extras : tuple of str
        Extra views: ``"lag_status"``, ``"forecast"``, ``"decomposition"``.
    description : str
        What the operator should look at, in one sentence.
    """

    name: str
    provider: str | None
    level: str
    title: str
    required: tuple[str, ...]
    panels: tuple[str, ...]
    primary: str | None = None
    extras: tuple[str, ...] = ()
    description: str = ""
    tags: tuple[str, ...] = field(default=())

    def panels_for(self, present: Iterable[str]) -> list[str]:
        """Panels to draw for the metrics present: template order, then the rest sorted.

        Examples
        --------
        >>> get("sqs-queue-backlog").panels_for({"queue_depth_messages", "zzz"})
        ['queue_depth_messages', 'zzz']
        """
        have = set(present)
        ordered = [m for m in self.panels if m in have]
        return ordered + sorted(have.difference(ordered))


_REGISTRY: dict[str, ViewTemplate] = {}


def register(template: ViewTemplate, *, replace: bool = False) -> ViewTemplate:
    """Add a template to the registry.

    Raises
    ------
    ParameterError
        If the name is taken (and ``replace`` is false), or the provider or
        level is unknown.
    """
    if template.provider is not None and template.provider not in PROVIDERS:
        raise ParameterError("provider", allowed=f"one of {PROVIDERS} or None", received=template.provider)
    if template.level not in LEVELS:
        raise ParameterError("level", allowed=f"one of {LEVELS}", received=template.level)
    if template.name in _REGISTRY and not replace:
        raise ParameterError("name", allowed="a template name not registered yet", received=template.name)
    _REGISTRY[template.name] = template
    return template


def get(name: str) -> ViewTemplate:
    """Return the template called ``name``.

    Raises
    ------
    NotFoundError
        Naming the templates that exist.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise NotFoundError("view template", name, _REGISTRY) from None


def templates(provider: str | None = None, level: str | None = None) -> list[ViewTemplate]:
    """All registered templates, optionally for one provider and/or level.

    Examples
    --------
    >>> len(templates()) >= 20
    True
    """
    return [
        t
        for t in _REGISTRY.values()
        if (provider is None or t.provider == provider) and (level is None or t.level == level)
    ]


def choose_template(provider: str, level: str, present: Iterable[str]) -> ViewTemplate:
    """Pick the most specific template whose required metrics are all present.

    Ties are broken by how many of the template's panels are present, then by
    name. Falls back to ``generic-<level>``.

    Parameters
    ----------
    provider : str
        The entity's provider.
    level : str
        The entity's level.
    present : iterable of str
        Metric names the entity has data for.

    Returns
    -------
    ViewTemplate
    """
    have = set(present)
    candidates = [t for t in templates(provider, level) if set(t.required) <= have]
    if candidates:
        return max(
            candidates,
            key=lambda t: (len(t.required), len(have.intersection(t.panels)), t.name),
        )
    return get(f"generic-{level}")


def _t(
    name: str,
    provider: str,
    level: str,
    title: str,
    required: tuple[str, ...],
    panels: tuple[str, ...],
    primary: str | None = None,
    extras: tuple[str, ...] = (),
    description: str = "",
) -> None:
    register(
        ViewTemplate(
            name,
            provider,
            level,
            title,
            required,
            panels,
            primary or (required[0] if required else None),
            extras,
            description,
        )
    )


_FC = ("forecast", "decomposition")

# --- Kafka ---------------------------------------------------------------------------------
_t(
    "kafka-cluster-controller",
    "kafka",
    "cluster",
    "Kafka cluster: controller and replication",
    ("active_controllers", "offline_partitions"),
    (
        "active_controllers",
        "offline_partitions",
        "under_replicated_partitions",
        "messages_in_per_s",
        "bytes_in_per_s",
        "bytes_out_per_s",
    ),
    "messages_in_per_s",
    _FC,
    "Exactly one active controller and zero offline partitions is healthy.",
)
_t(
    "kafka-cluster-throughput",
    "kafka",
    "cluster",
    "Kafka cluster: throughput",
    ("messages_in_per_s",),
    ("messages_in_per_s", "bytes_in_per_s", "bytes_out_per_s", "under_replicated_partitions"),
    None,
    _FC,
    "Fleet-wide produce rate and its daily shape.",
)
_t(
    "kafka-broker-replication",
    "kafka",
    "broker",
    "Kafka broker: replication",
    ("under_replicated_partitions", "partitions"),
    (
        "under_replicated_partitions",
        "partitions",
        "messages_in_per_s",
        "bytes_in_per_s",
        "bytes_out_per_s",
        "connections",
        "memory_used_bytes",
    ),
    "messages_in_per_s",
    _FC,
    "Under-replicated partitions on a broker point at a lagging follower or a lost peer.",
)
_t(
    "kafka-broker-throughput",
    "kafka",
    "broker",
    "Kafka broker: throughput",
    ("bytes_in_per_s",),
    ("bytes_in_per_s", "bytes_out_per_s", "messages_in_per_s", "connections"),
    None,
    _FC,
    "Bytes in and out of one broker.",
)
_t(
    "kafka-broker-resources",
    "kafka",
    "broker",
    "Kafka broker: resources",
    ("memory_used_bytes",),
    ("memory_used_bytes", "disk_free_bytes", "connections", "messages_in_per_s"),
    None,
    _FC,
    "Heap and disk headroom.",
)
_t(
    "kafka-topic-throughput",
    "kafka",
    "topic",
    "Kafka topic: throughput",
    ("messages_in_per_s",),
    ("messages_in_per_s", "bytes_in_per_s", "bytes_out_per_s", "partitions", "under_replicated_partitions"),
    None,
    _FC,
    "Produce rate of the topic against its usual daily pattern.",
)
_t(
    "kafka-topic-lag",
    "kafka",
    "topic",
    "Kafka topic: produce vs consumer lag",
    ("messages_in_per_s", "consumer_lag_messages"),
    (
        "messages_in_per_s",
        "consumer_lag_messages",
        "consumer_lag_seconds",
        "bytes_in_per_s",
        "partitions",
        "under_replicated_partitions",
    ),
    "consumer_lag_messages",
    ("lag_status", *_FC),
    "Lag that grows while the produce rate is flat means consumers slowed down.",
)
_t(
    "kafka-topic-replication",
    "kafka",
    "topic",
    "Kafka topic: replication",
    ("under_replicated_partitions", "partitions"),
    ("under_replicated_partitions", "partitions", "messages_in_per_s"),
    "messages_in_per_s",
    _FC,
    "Partitions of this topic that lost in-sync replicas.",
)
_t(
    "kafka-partition-lag",
    "kafka",
    "partition",
    "Kafka partition: consumer lag",
    ("consumer_lag_messages",),
    ("consumer_lag_messages", "messages_in_per_s", "messages_out_per_s"),
    None,
    ("lag_status", *_FC),
    "Lag in messages with Burrow's status of the reading group.",
)
_t(
    "kafka-partition-time-lag",
    "kafka",
    "partition",
    "Kafka partition: lag in messages and time",
    ("consumer_lag_messages", "consumer_lag_seconds"),
    ("consumer_lag_seconds", "consumer_lag_messages", "messages_in_per_s", "messages_out_per_s"),
    "consumer_lag_seconds",
    ("lag_status", *_FC),
    "Time lag (kafka-lag-exporter's interpolation) says how stale the consumer is.",
)
_t(
    "kafka-partition-throughput",
    "kafka",
    "partition",
    "Kafka partition: throughput and skew",
    ("messages_in_per_s",),
    ("messages_in_per_s", "bytes_in_per_s", "messages_out_per_s"),
    None,
    _FC,
    "A hot partition shows a produce rate far above its siblings.",
)
_t(
    "kafka-group-lag",
    "kafka",
    "consumer_group",
    "Kafka consumer group: lag",
    ("consumer_lag_messages",),
    ("consumer_lag_messages", "messages_out_per_s", "consumers"),
    None,
    ("lag_status", *_FC),
    "Total lag of the group and Burrow's group status.",
)
_t(
    "kafka-group-time-lag",
    "kafka",
    "consumer_group",
    "Kafka consumer group: time lag and throughput",
    ("consumer_lag_messages", "consumer_lag_seconds", "messages_out_per_s"),
    ("consumer_lag_seconds", "consumer_lag_messages", "messages_out_per_s", "consumers"),
    "consumer_lag_seconds",
    ("lag_status", *_FC),
    "Consumption rate against time lag: a stalled group has flat output and rising lag.",
)
_t(
    "kafka-group-members",
    "kafka",
    "consumer_group",
    "Kafka consumer group: members and rebalances",
    ("consumers", "consumer_lag_messages"),
    ("consumers", "consumer_lag_messages", "messages_out_per_s"),
    "consumer_lag_messages",
    ("lag_status", *_FC),
    "Member count drops line up with rebalance pauses in consumption.",
)
# --- RabbitMQ ------------------------------------------------------------------------------
_t(
    "rabbitmq-cluster-throughput",
    "rabbitmq",
    "cluster",
    "RabbitMQ cluster: message rates",
    ("messages_in_per_s",),
    ("messages_in_per_s", "messages_out_per_s", "redelivered_per_s", "queue_depth_messages", "connections"),
    None,
    _FC,
    "Publish vs deliver rates across the cluster.",
)
_t(
    "rabbitmq-node-resources",
    "rabbitmq",
    "node",
    "RabbitMQ node: memory and disk alarms",
    ("memory_used_bytes", "disk_free_bytes"),
    ("memory_used_bytes", "disk_free_bytes", "connections", "messages_in_per_s"),
    "memory_used_bytes",
    _FC,
    "Memory above the watermark or disk below the limit blocks publishers.",
)
_t(
    "rabbitmq-node-throughput",
    "rabbitmq",
    "node",
    "RabbitMQ node: message rates",
    ("messages_in_per_s",),
    ("messages_in_per_s", "messages_out_per_s", "acked_per_s", "redelivered_per_s", "connections"),
    None,
    _FC,
    "Routed, delivered and acknowledged per second on the node.",
)
_t(
    "rabbitmq-queue-backlog",
    "rabbitmq",
    "queue",
    "RabbitMQ queue: backlog",
    ("queue_depth_messages",),
    ("queue_depth_messages", "messages_unacked", "messages_in_per_s", "messages_out_per_s", "consumers"),
    None,
    _FC,
    "Ready messages piling up while publish is steady means consumers fell behind.",
)
_t(
    "rabbitmq-queue-delivery",
    "rabbitmq",
    "queue",
    "RabbitMQ queue: delivery and acks",
    ("queue_depth_messages", "messages_unacked", "acked_per_s"),
    (
        "queue_depth_messages",
        "messages_unacked",
        "acked_per_s",
        "messages_out_per_s",
        "messages_in_per_s",
        "consumers",
    ),
    "queue_depth_messages",
    _FC,
    "Unacked near prefetch × consumers with falling acks is a slow or stuck consumer.",
)
_t(
    "rabbitmq-queue-redelivery",
    "rabbitmq",
    "queue",
    "RabbitMQ queue: redeliveries",
    ("queue_depth_messages", "redelivered_per_s"),
    ("redelivered_per_s", "queue_depth_messages", "messages_unacked", "acked_per_s"),
    "queue_depth_messages",
    _FC,
    "Redeliveries from nacks: a poison message loops here.",
)
_t(
    "rabbitmq-queue-age",
    "rabbitmq",
    "queue",
    "RabbitMQ queue: message age",
    ("oldest_message_age_s", "queue_depth_messages"),
    ("oldest_message_age_s", "queue_depth_messages", "messages_out_per_s", "consumers"),
    "oldest_message_age_s",
    _FC,
    "How old the head message is: staleness a user would feel.",
)
_t(
    "rabbitmq-dlq",
    "rabbitmq",
    "queue",
    "RabbitMQ dead-letter queue",
    ("dlq_depth_messages",),
    ("dlq_depth_messages", "messages_in_per_s"),
    None,
    _FC,
    "Any growth of a DLQ is messages that failed processing.",
)
# --- SQS -----------------------------------------------------------------------------------
_t(
    "sqs-account-throughput",
    "sqs",
    "cluster",
    "SQS account/region: throughput",
    ("messages_in_per_s",),
    ("messages_in_per_s", "messages_out_per_s", "queue_depth_messages"),
    None,
    _FC,
    "Sent and received per second across the account's queues.",
)
_t(
    "sqs-queue-backlog",
    "sqs",
    "queue",
    "SQS queue: visible backlog",
    ("queue_depth_messages",),
    ("queue_depth_messages", "messages_in_per_s", "messages_out_per_s"),
    None,
    _FC,
    "Visible messages (CloudWatch per-period semantics).",
)
_t(
    "sqs-queue-age",
    "sqs",
    "queue",
    "SQS queue: age of oldest message",
    ("oldest_message_age_s", "queue_depth_messages"),
    ("oldest_message_age_s", "queue_depth_messages", "messages_in_per_s", "messages_out_per_s"),
    "oldest_message_age_s",
    _FC,
    "Age of the oldest message is the SLO most users feel.",
)
_t(
    "sqs-queue-inflight",
    "sqs",
    "queue",
    "SQS queue: in-flight and visibility",
    ("queue_depth_messages", "messages_unacked"),
    ("messages_unacked", "queue_depth_messages", "acked_per_s", "messages_out_per_s"),
    "queue_depth_messages",
    _FC,
    "In-flight (not visible) messages that return after the visibility timeout are re-processed.",
)
_t(
    "sqs-dlq",
    "sqs",
    "queue",
    "SQS dead-letter queue",
    ("dlq_depth_messages",),
    ("dlq_depth_messages", "messages_in_per_s"),
    None,
    _FC,
    "Messages redriven after maxReceiveCount receives.",
)

# --- Generic fallbacks, one per level --------------------------------------------------------
for _level in LEVELS:
    register(
        ViewTemplate(
            f"generic-{_level}",
            None,
            _level,
            f"{_level.replace('_', ' ')}: all metrics",
            (),
            (),
            None,
            ("decomposition",),
            "No specific template matched the metrics present; showing all of them.",
        )
    )
