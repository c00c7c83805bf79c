"""Declarative scenario specs for the fleet simulator, validated with pydantic.

A scenario is a YAML file: a fleet (Kafka clusters, RabbitMQ clusters, SQS accounts), the
load on each topic or queue, and a list of incidents. Every number the simulator uses lives
here, so a scenario learned from real data (the fidelity room) is just another file.

Durations are strings with units (``"90s"``, ``"15m"``, ``"2d6h"``) or ISO 8601
(``"PT15M"``). Incident times are offsets from the start of the simulation.

Examples
--------
>>> from workbench.sources.simulator.spec import ScenarioSpec, parse_duration
>>> parse_duration("1d2h30m").total_seconds()
95400.0
>>> spec = ScenarioSpec.model_validate({
...     "name": "tiny",
...     "sqs": [{"account_id": "123456789012", "region": "eu-west-1",
...              "queues": [{"name": "orders", "load": {"base_rate": 5}}]}],
... })
>>> spec.sqs[0].cluster_name
'aws-123456789012-eu-west-1'
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from workbench.durations import parse_duration as _parse_duration
from workbench.errors import ConfigError, ParameterError

__all__ = [
    "AutoscaleSpec",
    "Duration",
    "IncidentSpec",
    "KafkaClusterSpec",
    "KafkaGroupSpec",
    "KafkaTopicSpec",
    "LoadSpec",
    "RabbitClusterSpec",
    "RabbitQueueSpec",
    "ScenarioSpec",
    "SqsAccountSpec",
    "SqsQueueSpec",
    "format_duration",
    "parse_duration",
    "rabbit_entity",
    "scenario_from_yaml",
    "scenario_to_yaml",
]


def parse_duration(value: str | float | dt.timedelta, *, parameter: str = "duration") -> dt.timedelta:
    """Parse ``"90s"``, ``"15m"``, ``"2d6h"``, ISO ``"PT1H"`` or a timedelta (see :mod:`workbench.durations`).

    Examples
    --------
    >>> parse_duration("1h30m")
    datetime.timedelta(seconds=5400)
    >>> parse_duration(45)
    datetime.timedelta(seconds=45)
    """
    return _parse_duration(value, parameter=parameter)


def format_duration(value: dt.timedelta) -> str:
    """Write a timedelta in the compact form :func:`parse_duration` reads.

    Examples
    --------
    >>> import datetime as dt
    >>> format_duration(dt.timedelta(days=1, minutes=5))
    '1d5m'
    """
    seconds = value.total_seconds()
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{int(count)}{unit}")
    if seconds:
        parts.append(f"{seconds:g}s")
    return "".join(parts)


def _to_timedelta(value: Any) -> dt.timedelta:
    try:
        return parse_duration(value)
    except ParameterError as err:
        raise ValueError(str(err)) from err


#: A non-negative duration field: ``"15m"``, ``"2d6h"``, ``"PT1H"`` or seconds.
Duration = Annotated[dt.timedelta, BeforeValidator(_to_timedelta)]


def rabbit_entity(vhost: str, queue: str) -> str:
    """Canonical entity of a RabbitMQ queue: ``queue`` on vhost ``/``, else ``vhost/queue``.

    Examples
    --------
    >>> rabbit_entity("/", "orders"), rabbit_entity("billing", "invoices")
    ('orders', 'billing/invoices')
    """
    return queue if vhost == "/" else f"{vhost}/{queue}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoadSpec(_Model):
    """Producer load on one topic or queue, in messages per second.

    rate(t) = base_rate x season(t) x trend(t) x holiday(t) x bursts(t) x noise(t).

    Attributes
    ----------
    base_rate : float
        Mean rate at the seasonal mean, messages/s.
    daily_amplitude : float
        Relative amplitude of the daily cosine (0 = flat), peaking at ``peak_hour`` local time.
    peak_hour : float
        Local hour of the daily peak.
    weekend_factor : float
        Multiplier on Saturdays and Sundays (local time).
    business_hours : tuple of int or None
        ``[start, end)`` local hours of business days, boosted by ``business_boost``.
    business_boost : float
        Extra relative load in business hours (smoothed edges).
    timezone : str
        IANA time zone of the producers (DST is honoured).
    profile : list of float or None
        Optional learned seasonal profile: 24 hour-of-day or 168 hour-of-week multipliers
        (linearly interpolated). Replaces the cosine, weekend and business-hours terms.
    holidays : list of date
        Local dates on which the load is multiplied by ``holiday_factor``.
    trend_per_day : float
        Relative linear growth per day (0.01 = +1 %/day).
    noise : float
        Spread of the multiplicative noise (log scale), so its spread grows with the level.
    noise_autocorrelation : float
        AR(1) coefficient of the noise per minute (0 = white).
    noise_distribution : {"normal", "laplace", "student_t"}
        Shape of the noise innovations.
    bursts_per_day : float
        Mean number of bursts per day (Poisson).
    burst_magnitude : float
        Peak multiplier of a burst.
    burst_duration : Duration
        Decay time constant of a burst.
    message_bytes : float
        Mean payload size.
    learned_series : dict or None
        Optional series model learned from real data by ``workbench.fidelity``
        (``SimulationLearner``; the fields of ``workbench.fidelity.series_model.SeriesModel``:
        weekly/daily profile, level, trend, copula-AR noise, burst templates). When set, the
        rate of this load *is* that learned series and the parametric season, trend, noise
        and burst fields above are only a readable summary of it. Added by the fidelity room.
    """

    base_rate: float = Field(ge=0)
    daily_amplitude: float = Field(0.3, ge=0, le=1)
    peak_hour: float = Field(14.0, ge=0, lt=24)
    weekend_factor: float = Field(0.7, ge=0)
    business_hours: tuple[int, int] | None = None
    business_boost: float = Field(0.0, ge=0)
    timezone: str = "UTC"
    profile: list[float] | None = None
    holidays: list[dt.date] = []
    holiday_factor: float = Field(0.4, ge=0)
    trend_per_day: float = 0.0
    noise: float = Field(0.05, ge=0, le=2)
    noise_autocorrelation: float = Field(0.8, ge=0, lt=1)
    noise_distribution: Literal["normal", "laplace", "student_t"] = "normal"
    noise_df: float = Field(4.0, gt=2)
    bursts_per_day: float = Field(0.0, ge=0)
    burst_magnitude: float = Field(2.0, ge=1)
    burst_duration: Duration = dt.timedelta(minutes=10)
    message_bytes: float = Field(1024.0, gt=0)
    learned_series: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _check(self) -> LoadSpec:
        if self.learned_series is not None:
            from workbench.fidelity.series_model import SeriesModel

            try:
                SeriesModel.from_dict(self.learned_series)
            except TypeError as err:
                raise ValueError(f"learned_series is not a SeriesModel: {err}") from err
        if self.profile is not None and len(self.profile) not in (24, 168):
            raise ValueError(f"profile must have 24 or 168 values, got {len(self.profile)}")
        if self.profile is not None and min(self.profile) < 0:
            raise ValueError("profile values must be >= 0")
        if self.business_hours is not None:
            start, end = self.business_hours
            if not 0 <= start < end <= 24:
                raise ValueError(f"business_hours must be 0 <= start < end <= 24, got {self.business_hours}")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(self.timezone)
        except Exception as err:  # ZoneInfoNotFoundError, ValueError for odd keys
            raise ValueError(f"unknown timezone {self.timezone!r}") from err
        return self


class AutoscaleSpec(_Model):
    """Consumers that follow the load (HPA/KEDA style) after a delay.

    members = clip(ceil(rate / (capacity x target_utilisation)), min, max), applied ``delay``
    after the load changes.
    """

    min_members: int = Field(1, ge=0)
    max_members: int = Field(10, ge=1)
    target_utilisation: float = Field(0.7, gt=0, le=1)
    delay: Duration = dt.timedelta(minutes=5)


class KafkaTopicSpec(_Model):
    """A Kafka topic: partitions, replication and the producers' load and key skew.

    ``key_skew`` is the Zipf exponent of the partition weights (0 = uniform keys).
    """

    name: str = Field(min_length=1)
    partitions: int = Field(6, ge=1, le=4096)
    replication_factor: int = Field(3, ge=1)
    load: LoadSpec
    key_skew: float = Field(0.0, ge=0)
    retention: Duration = dt.timedelta(days=7)


class KafkaGroupSpec(_Model):
    """A consumer group: members, per-member processing capacity, commit interval."""

    name: str = Field(min_length=1)
    topics: list[str] = Field(min_length=1)
    members: int = Field(3, ge=0)
    capacity_per_member: float = Field(gt=0, description="messages/s one member can process")
    commit_interval: Duration = dt.timedelta(seconds=5)
    rebalance_pause: Duration = dt.timedelta(seconds=30)
    autoscale: AutoscaleSpec | None = None


class KafkaClusterSpec(_Model):
    """A Kafka cluster: brokers, topics, consumer groups."""

    name: str = "kafka-prod-1"
    brokers: int = Field(3, ge=1, le=64)
    topics: list[KafkaTopicSpec] = Field(min_length=1)
    consumer_groups: list[KafkaGroupSpec] = []
    heap_bytes: float = Field(4 * 2**30, gt=0)
    produce_latency_ms: float = Field(3.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> KafkaClusterSpec:
        names = [t.name for t in self.topics]
        _unique("topic", names, self.name)
        _unique("consumer group", [g.name for g in self.consumer_groups], self.name)
        for topic in self.topics:
            if topic.replication_factor > self.brokers:
                raise ValueError(
                    f"topic {topic.name!r}: replication_factor {topic.replication_factor} "
                    f"exceeds brokers {self.brokers}"
                )
        for group in self.consumer_groups:
            for topic_name in group.topics:
                if topic_name not in names:
                    raise ValueError(
                        f"consumer group {group.name!r} reads unknown topic {topic_name!r}; topics: {names}"
                    )
        return self


class RabbitQueueSpec(_Model):
    """A RabbitMQ queue: type, home node, consumers with prefetch, outcome ratios, DLX.

    Each delivery ends in an ack, a nack with requeue (redelivered later) or a reject without
    requeue (dead-lettered to ``dead_letter_queue`` when set, else dropped).
    """

    name: str = Field(min_length=1)
    vhost: str = "/"
    type: Literal["classic", "quorum"] = "classic"
    node: int = Field(0, ge=0)
    load: LoadSpec
    consumers: int = Field(2, ge=0)
    capacity_per_consumer: float = Field(50.0, gt=0)
    prefetch: int = Field(10, ge=1)
    processing_time: Duration = dt.timedelta(milliseconds=50)
    nack_ratio: float = Field(0.0, ge=0, lt=1)
    reject_ratio: float = Field(0.0, ge=0, lt=1)
    dead_letter_queue: str | None = None

    @property
    def entity(self) -> str:
        """Canonical entity (see :func:`rabbit_entity`)."""
        return rabbit_entity(self.vhost, self.name)


class RabbitClusterSpec(_Model):
    """A RabbitMQ cluster: nodes, memory and disk watermarks, queues."""

    name: str = "rabbit-prod-1"
    nodes: int = Field(3, ge=1, le=32)
    memory_limit_bytes: float = Field(3.2e9, gt=0)
    base_memory_bytes: float = Field(6e8, gt=0)
    ram_bytes_per_message: float = Field(1500.0, ge=0)
    disk_free_bytes: float = Field(5e10, gt=0)
    disk_free_limit_bytes: float = Field(5e7, gt=0)
    queues: list[RabbitQueueSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> RabbitClusterSpec:
        entities = [q.entity for q in self.queues]
        _unique("queue", entities, self.name)
        by_entity = {q.entity: q for q in self.queues}
        for queue in self.queues:
            if queue.node >= self.nodes:
                raise ValueError(f"queue {queue.entity!r}: node {queue.node} >= nodes {self.nodes}")
            if queue.dead_letter_queue is not None:
                target = rabbit_entity(queue.vhost, queue.dead_letter_queue)
                if target not in by_entity:
                    raise ValueError(f"queue {queue.entity!r}: unknown dead_letter_queue {target!r}")
                if by_entity[target].dead_letter_queue is not None:
                    raise ValueError(f"dead-letter queue {target!r} may not dead-letter further")
        return self


class SqsQueueSpec(_Model):
    """An SQS queue: pollers, visibility timeout, processing time, redrive policy."""

    name: str = Field(min_length=1)
    load: LoadSpec
    consumers: int = Field(2, ge=0, description="concurrent pollers")
    capacity_per_consumer: float = Field(20.0, gt=0)
    visibility_timeout: Duration = dt.timedelta(seconds=30)
    processing_time: Duration = dt.timedelta(seconds=2)
    processing_time_spread: float = Field(0.5, ge=0, description="log-normal sigma")
    failure_ratio: float = Field(0.0, ge=0, lt=1)
    max_receive_count: int | None = Field(None, ge=1, le=20)
    dead_letter_queue: str | None = None
    receive_wait: Duration = dt.timedelta(seconds=20)

    @model_validator(mode="after")
    def _check(self) -> SqsQueueSpec:
        if (self.max_receive_count is None) != (self.dead_letter_queue is None):
            raise ValueError(
                f"queue {self.name!r}: max_receive_count and dead_letter_queue go together (redrive policy)"
            )
        return self


class SqsAccountSpec(_Model):
    """SQS queues in one AWS account and region (one canonical cluster)."""

    account_id: str = Field("123456789012", pattern=r"^\d{12}$")
    region: str = "eu-west-1"
    period: Duration = dt.timedelta(seconds=60)
    queues: list[SqsQueueSpec] = Field(min_length=1)

    @property
    def cluster_name(self) -> str:
        """Canonical cluster name ``aws-<account>-<region>``."""
        return f"aws-{self.account_id}-{self.region}"

    @model_validator(mode="after")
    def _check(self) -> SqsAccountSpec:
        names = [q.name for q in self.queues]
        _unique("queue", names, self.cluster_name)
        for queue in self.queues:
            if queue.dead_letter_queue is not None:
                if queue.dead_letter_queue not in names:
                    raise ValueError(
                        f"queue {queue.name!r}: unknown dead_letter_queue {queue.dead_letter_queue!r}"
                    )
                dlq = next(q for q in self.queues if q.name == queue.dead_letter_queue)
                if dlq.dead_letter_queue is not None:
                    raise ValueError(f"dead-letter queue {dlq.name!r} may not redrive further")
        return self


IncidentKind = Literal[
    "slow_consumer",
    "consumer_crash",
    "rebalance_storm",
    "broker_failure",
    "hot_partition",
    "poison_message",
    "visibility_timeout_short",
    "memory_alarm",
    "disk_alarm",
    "rolling_restart",
    "load_spike",
]

#: What each incident kind needs as ``target`` (in the words of an error message).
INCIDENT_TARGETS: dict[str, str] = {
    "slow_consumer": "a Kafka consumer group, a RabbitMQ queue entity or an SQS queue",
    "consumer_crash": "a Kafka consumer group, a RabbitMQ queue entity or an SQS queue",
    "rebalance_storm": "a Kafka consumer group",
    "broker_failure": "a Kafka broker id, e.g. '2'",
    "hot_partition": "a Kafka partition 'topic/partition'",
    "poison_message": "a RabbitMQ queue entity or an SQS queue",
    "visibility_timeout_short": "an SQS queue",
    "memory_alarm": "a RabbitMQ node index, e.g. '0'",
    "disk_alarm": "a RabbitMQ node index, e.g. '0'",
    "rolling_restart": "empty: every broker/node of the cluster, one after another",
    "load_spike": "a Kafka topic, a RabbitMQ queue entity or an SQS queue",
}


#: Magnitude an incident gets when its spec leaves it out.
DEFAULT_MAGNITUDE: dict[str, float] = {
    "slow_consumer": 0.3,
    "consumer_crash": 1.0,
    "rebalance_storm": 30.0,
    "broker_failure": 1.0,
    "hot_partition": 0.6,
    "poison_message": 0.3,
    "visibility_timeout_short": 2.0,
    "memory_alarm": 1.2,
    "disk_alarm": 2.0,
    "rolling_restart": 3.0,
    "load_spike": 3.0,
}


class IncidentSpec(_Model):
    """One injected incident: what, where, when, how strong.

    Attributes
    ----------
    kind : str
        One of the keys of ``INCIDENT_TARGETS``.
    cluster : str
        Cluster name (Kafka/RabbitMQ cluster, or ``aws-<account>-<region>``).
    target : str
        Entity the incident hits (see ``INCIDENT_TARGETS``).
    start : Duration
        Offset from the start of the simulation.
    duration : Duration
        How long the cause lasts (effects such as lag may outlast it).
    severity : {"info", "warning", "critical"}
    magnitude : float
        Kind-specific strength: capacity factor for ``slow_consumer`` (0.3 = 30 % of normal),
        fraction of members lost for ``consumer_crash`` (1 = all), rebalances per hour for
        ``rebalance_storm``, traffic share of the hot partition, poison/failure ratio,
        processing-time multiple of the visibility timeout, memory/disk overshoot factor,
        minutes per node for ``rolling_restart``, load multiplier for ``load_spike``.
        Left out, it takes the kind's entry in ``DEFAULT_MAGNITUDE``.
    description : str
    """

    kind: IncidentKind
    cluster: str
    target: str = ""
    start: Duration
    duration: Duration
    severity: Literal["info", "warning", "critical"] = "warning"
    magnitude: float = Field(1.0, ge=0)
    description: str = ""

    @model_validator(mode="before")
    @classmethod
    def _default_magnitude(cls, data: Any) -> Any:
        # a kind-specific default: 1.0 would mean "no effect" for a slow consumer or a spike
        if isinstance(data, dict) and data.get("magnitude") is None and data.get("kind") in DEFAULT_MAGNITUDE:
            data = {**data, "magnitude": DEFAULT_MAGNITUDE[data["kind"]]}
        return data


class ScenarioSpec(_Model):
    """A named scenario: fleet, load, incidents, and default length and step.

    Attributes
    ----------
    name : str
    description : str
    days : float
        Default length (``simulate(..., days=None)`` uses it).
    step : Duration
        Default sample interval.
    start : datetime or None
        Default start (UTC). None means 2026-01-05T00:00Z, a Monday, so runs are reproducible.
    kafka, rabbitmq, sqs : lists of cluster specs
    incidents : list of IncidentSpec
    """

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    days: float = Field(7.0, gt=0, le=400)
    step: Duration = dt.timedelta(minutes=1)
    start: dt.datetime | None = None
    kafka: list[KafkaClusterSpec] = []
    rabbitmq: list[RabbitClusterSpec] = []
    sqs: list[SqsAccountSpec] = []
    incidents: list[IncidentSpec] = []

    @model_validator(mode="after")
    def _check(self) -> ScenarioSpec:
        if not (self.kafka or self.rabbitmq or self.sqs):
            raise ValueError("a scenario needs at least one Kafka, RabbitMQ or SQS cluster")
        clusters = (
            [c.name for c in self.kafka]
            + [c.name for c in self.rabbitmq]
            + [a.cluster_name for a in self.sqs]
        )
        _unique("cluster", clusters, self.name)
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start must carry a time zone, e.g. 2026-01-05T00:00:00Z")
        for incident in self.incidents:
            if incident.cluster not in clusters:
                raise ValueError(
                    f"incident {incident.kind!r}: unknown cluster {incident.cluster!r}; clusters: {clusters}"
                )
        return self


def _unique(what: str, names: list[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} {name!r} in {where!r}")
        seen.add(name)


def scenario_from_yaml(text: str, *, origin: str = "<text>") -> ScenarioSpec:
    """Parse and validate a scenario from YAML text.

    Raises
    ------
    ConfigError
        If the YAML is malformed or the spec is invalid; the message names the field.

    Examples
    --------
    >>> spec = scenario_from_yaml('''
    ... name: one-queue
    ... sqs: [{queues: [{name: jobs, load: {base_rate: 2}}]}]
    ... ''')
    >>> spec.sqs[0].queues[0].name
    'jobs'
    """
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{origin}: not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: a scenario must be a mapping, got {type(raw).__name__}")
    try:
        return ScenarioSpec.model_validate(raw)
    except ValidationError as err:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors()[:5]
        )
        raise ConfigError(f"{origin}: invalid scenario: {details}") from err


def scenario_to_yaml(spec: ScenarioSpec) -> str:
    """Write a scenario as YAML that :func:`scenario_from_yaml` reads back to an equal spec.

    Examples
    --------
    >>> spec = scenario_from_yaml("name: x\\nsqs: [{queues: [{name: q, load: {base_rate: 1}}]}]")
    >>> scenario_from_yaml(scenario_to_yaml(spec)) == spec
    True
    """
    data = spec.model_dump(mode="python", exclude_defaults=True)
    # magnitudes are written out: a left-out one would read back as the kind's default
    for incident, written in zip(spec.incidents, data.get("incidents", []), strict=True):
        written["magnitude"] = incident.magnitude
    return yaml.safe_dump(_yaml_ready(data), sort_keys=False, allow_unicode=True)


def _yaml_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _yaml_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_yaml_ready(v) for v in value]
    if isinstance(value, dt.timedelta):
        return format_duration(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def load_yaml_file(path: Path) -> ScenarioSpec:
    """Read and validate a scenario file.

    Raises
    ------
    ConfigError
        If the file cannot be read or is invalid.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read scenario file {path}: {err}") from err
    return scenario_from_yaml(text, origin=str(path))
