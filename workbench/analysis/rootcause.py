"""Root-cause suggestions: rank candidate causes of concurrent anomalies.

Anomalies (rows of a findings frame) of one cluster that start close together form
an *episode*. Every anomalous series in an episode is a candidate cause, and so is any
broker or node that fell silent (stopped reporting) at the episode's start. Each
candidate is scored on four pieces of evidence:

* **precedence**: how early it started within the episode;
* **explanation**: the share of the episode's other anomalous entities that lie
  downstream of it in the topology (a broker or node before the topics, queues and
  partitions it serves, and before its peers if it went silent; a topic before its
  partitions, a partition before the consumer groups reading it) and started no earlier;
* **role**: driver metrics (producer rate, consumer rate, consumer count, replication,
  resource alarms, silence) rank above symptoms (lag, backlog, message age);
* **depth**: upstream levels rank above downstream ones.

Brokers, nodes and clusters count as upstream only through their own failures
(:data:`INFRA_METRICS`: silence, alarms, replication); their traffic and memory series
are sums of what happens below them and get neither explanation nor depth credit.

With the canonical frame at hand, each candidate also gets a direction and size
(value before vs during), which separates a producer surge (publish rate up) from a
consumer slowdown (consume rate or consumers down), and a plain-words evidence line.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import polars as pl

from workbench.errors import ParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "CAUSE_SCHEMA",
    "DRIVER_METRICS",
    "INFRA_METRICS",
    "SYMPTOM_METRICS",
    "assign_episodes",
    "classify_cause",
    "group_of",
    "rank_causes",
    "topic_of",
]

#: Symptoms: they say *that* messages pile up, not *why*.
SYMPTOM_METRICS = frozenset(
    {
        "consumer_lag_messages",
        "consumer_lag_seconds",
        "consumer_status",
        "queue_depth_messages",
        "messages_unacked",
        "messages_delayed",
        "oldest_message_age_s",
        "dlq_depth_messages",
        "produce_latency_ms",
        "health_score",
    }
)
#: Drivers: metrics that move first when something upstream changes.
DRIVER_METRICS = frozenset(
    {
        "messages_in_per_s",
        "published_per_s",
        "bytes_in_per_s",
        "messages_out_per_s",
        "acked_per_s",
        "consumers",
        "under_replicated_partitions",
        "offline_partitions",
        "in_sync_replicas",
        "active_controllers",
        "leader_elections_per_s",
        "partitions",
        "redelivered_per_s",
        "dead_lettered_per_s",
        "memory_alarm",
        "disk_alarm",
        "memory_used_bytes",
        "disk_free_bytes",
        "connections",
        "empty_receives_per_s",
        "(no data)",
        "(backlog without a driver)",
    }
)
#: The failures of a broker, node or cluster itself (everything else there is an aggregate).
INFRA_METRICS = frozenset(
    {
        "(no data)",
        "memory_alarm",
        "disk_alarm",
        "disk_free_bytes",
        "under_replicated_partitions",
        "offline_partitions",
        "active_controllers",
        "leader_elections_per_s",
        "in_sync_replicas",
        "partitions",
    }
)
_DEPTH = {"broker": 0, "node": 0, "cluster": 1, "topic": 2, "queue": 2, "partition": 3, "consumer_group": 4}
_WEIGHTS = {"explain": 0.35, "precedence": 0.25, "role": 0.2, "depth": 0.15, "score": 0.05}
SILENT_METRIC = "(no data)"
#: Metric name of an inferred consumer-side candidate (a backlog without a driver).
INFERRED_METRIC = "(backlog without a driver)"

CAUSE_SCHEMA: dict[str, pl.DataType] = {
    "episode": pl.Int64(),
    "rank": pl.Int64(),
    "cluster": pl.String(),
    "level": pl.String(),
    "entity": pl.String(),
    "metric": pl.String(),
    "cause": pl.String(),
    "start": pl.Datetime("ms", "UTC"),
    "end": pl.Datetime("ms", "UTC"),
    "direction": pl.String(),
    "before": pl.Float64(),
    "during": pl.Float64(),
    "explains": pl.List(pl.String()),
    "score": pl.Float64(),
    "evidence": pl.String(),
}


def topic_of(level: pl.Expr, entity: pl.Expr) -> pl.Expr:
    """Expression: the topic (or queue) an entity belongs to; null for brokers, nodes, clusters.

    ``orders`` (topic/queue) -> ``orders``; ``orders/3`` and ``billing/orders/3``
    (partition, plain or a group's) -> ``orders``;
    ``billing/orders`` and ``billing/orders/3`` (consumer group) -> ``orders``.

    Examples
    --------
    >>> df = pl.DataFrame({"level": ["partition", "consumer_group", "broker"],
    ...                    "entity": ["orders/3", "billing/orders", "broker-1"]})
    >>> df.select(topic_of(pl.col("level"), pl.col("entity"))).to_series().to_list()
    ['orders', 'orders', None]
    """
    parts = entity.str.split("/")
    return (
        pl.when(level.is_in(["topic", "queue"]))
        .then(entity)
        .when((level == "partition") & (parts.list.len() >= 3))
        .then(parts.list.get(1, null_on_oob=True))
        .when(level == "partition")
        .then(parts.list.first())
        .when(level == "consumer_group")
        .then(parts.list.get(1, null_on_oob=True))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def group_of(level: pl.Expr, entity: pl.Expr) -> pl.Expr:
    """Expression: the consumer group (``group/topic``) an entity belongs to, else null.

    ``billing/orders`` (consumer group) and ``billing/orders/3`` (the group's partition)
    -> ``billing/orders``; topics, plain partitions, queues, brokers -> null.

    Examples
    --------
    >>> df = pl.DataFrame({"level": ["partition", "partition", "consumer_group"],
    ...                    "entity": ["billing/orders/3", "orders/3", "billing/orders"]})
    >>> df.select(group_of(pl.col("level"), pl.col("entity"))).to_series().to_list()
    ['billing/orders', None, 'billing/orders']
    """
    parts = entity.str.split("/")
    return (
        pl.when(level == "consumer_group")
        .then(entity)
        .when((level == "partition") & (parts.list.len() >= 3))
        .then(parts.list.slice(0, 2).list.join("/"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def assign_episodes(anomalies: pl.DataFrame, *, gap: timedelta = timedelta(minutes=10)) -> pl.DataFrame:
    """Add an ``episode`` id: anomalies of a cluster that start within ``gap`` of the previous one.

    Episodes chain on start times, not on overlap: detectors often keep an alarm open
    for hours, and overlap would glue unrelated alarms into one day-long episode.
    Ids are unique across clusters.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = lambda m: datetime(2026, 1, 5, 0, m, tzinfo=timezone.utc)
    >>> df = pl.DataFrame({"cluster": ["c", "c", "c"], "start": [t(0), t(5), t(50)],
    ...                    "end": [t(59), t(12), t(55)]})
    >>> assign_episodes(df)["episode"].to_list()
    [0, 0, 1]
    """
    if anomalies.height == 0:
        return anomalies.with_columns(episode=pl.lit(0, dtype=pl.Int64)).clear()
    ordered = anomalies.sort("cluster", "start")
    previous = pl.col("start").shift(1).over("cluster")
    new_episode = (previous.is_null() | (pl.col("start") > previous + gap)).cast(pl.Int64)
    return (
        ordered.with_columns(_new=new_episode).with_columns(episode=pl.col("_new").cum_sum() - 1).drop("_new")
    )


def classify_cause(level: pl.Expr, metric: pl.Expr, direction: pl.Expr) -> pl.Expr:
    """Expression: a cause label from where, what and which way.

    Examples
    --------
    >>> df = pl.DataFrame({"level": ["topic", "consumer_group", "broker"],
    ...                    "metric": ["messages_in_per_s", "messages_out_per_s", "(no data)"],
    ...                    "direction": ["up", "down", "down"]})
    >>> df.select(classify_cause(pl.col("level"), pl.col("metric"), pl.col("direction"))).to_series().to_list()
    ['producer_surge', 'consumer_slowdown', 'broker_down']
    """
    rates_in = metric.is_in(["messages_in_per_s", "published_per_s", "bytes_in_per_s"])
    rates_out = metric.is_in(["messages_out_per_s", "acked_per_s"])
    replication = metric.is_in(
        [
            "under_replicated_partitions",
            "offline_partitions",
            "in_sync_replicas",
            "active_controllers",
            "leader_elections_per_s",
            "partitions",
        ]
    )
    return (
        pl.when(metric == SILENT_METRIC)
        .then(pl.lit("broker_down"))
        .when(metric == INFERRED_METRIC)
        .then(pl.lit("consumer_slowdown"))
        .when(metric.is_in(["memory_alarm", "memory_used_bytes"]) & (direction == "up"))
        .then(pl.lit("memory_alarm"))
        .when(
            (metric == "disk_alarm") & (direction == "up")
            | (metric == "disk_free_bytes") & (direction == "down")
        )
        .then(pl.lit("disk_alarm"))
        .when(replication)
        .then(pl.lit("broker_failure"))
        .when(rates_in & (direction == "up") & (level == "partition"))
        .then(pl.lit("hot_partition"))
        .when(rates_in & (direction == "up") & level.is_in(["broker", "node"]))
        .then(pl.lit("traffic_shift"))
        .when(rates_in & (direction == "up"))
        .then(pl.lit("producer_surge"))
        .when(rates_in & (direction == "down"))
        .then(pl.lit("producer_drop"))
        .when((metric == "consumers") & (direction == "down"))
        .then(pl.lit("consumer_crash"))
        .when(rates_out & (direction == "down"))
        .then(pl.lit("consumer_slowdown"))
        .when(metric.is_in(["redelivered_per_s", "dead_lettered_per_s"]) & (direction == "up"))
        .then(pl.lit("poison_message"))
        .when(metric == "consumers")
        .then(pl.lit("consumer_membership_change"))
        .when(metric.is_in(list(SYMPTOM_METRICS)))
        .then(pl.lit("backlog_growth"))
        .otherwise(pl.concat_str(metric, pl.lit("_"), direction.fill_null("change")))
    )


def _silent_candidates(
    frame: pl.DataFrame, episodes: pl.DataFrame, *, gap: timedelta, min_gap_steps: int = 3
) -> pl.DataFrame:
    """Brokers/nodes whose samples stop around an episode's start (a member that left)."""
    nodes = frame.lazy().filter(pl.col("level").cast(pl.String).is_in(["broker", "node"]))
    cluster_ts = (
        frame.lazy()
        .group_by("cluster")
        .agg(step=pl.col("ts").unique().sort().diff().median(), last=pl.col("ts").max())
    )
    seen = nodes.group_by("cluster", "level", "entity", "ts").len().select("cluster", "level", "entity", "ts")
    gaps = (
        seen.sort("cluster", "level", "entity", "ts")
        .with_columns(next_ts=pl.col("ts").shift(-1).over("cluster", "level", "entity"))
        .join(cluster_ts, on="cluster")
        .with_columns(next_ts=pl.col("next_ts").fill_null(pl.col("last") + pl.col("step")))
        .filter(pl.col("next_ts") - pl.col("ts") > pl.col("step") * min_gap_steps)
        .select(
            "cluster",
            pl.col("level").cast(pl.String),
            "entity",
            silent_from=pl.col("ts") + pl.col("step"),
            silent_to=pl.col("next_ts"),
        )
    )
    bounds = (
        episodes.lazy()
        .group_by("episode", "cluster")
        .agg(first=pl.col("start").min(), last=pl.col("start").max())
    )
    return (
        gaps.join(bounds, on="cluster")
        .filter(pl.col("silent_from").is_between(pl.col("first") - gap, pl.col("last") + gap))
        .select(
            "episode",
            "cluster",
            "level",
            "entity",
            metric=pl.lit(SILENT_METRIC),
            start=pl.col("silent_from"),
            end=pl.col("silent_to"),
            score=pl.lit(1.0),
            direction=pl.lit("down"),
        )
        .collect()
    )


def _inferred_candidates(candidates: pl.DataFrame) -> pl.DataFrame:
    """A consumer-side suspect for backlogs that no driver on the same entity accounts for.

    Lag of a group's partitions, or a queue's backlog, with no producer surge or
    consumer anomaly of its own still points at the consumers: when they slow down
    only a little, their rate stays within its normal range while the backlog grows.
    """
    lag_like = pl.col("metric").is_in(["consumer_lag_messages", "consumer_lag_seconds"])
    backlog_like = pl.col("metric").is_in(
        ["queue_depth_messages", "oldest_message_age_s", "messages_unacked"]
    )
    owner = (
        pl.when(lag_like)
        .then(group_of(pl.col("level"), pl.col("entity")))
        .when(backlog_like & (pl.col("level") == "queue"))
        .then(pl.col("entity"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    symptoms = candidates.with_columns(owner=owner).filter(pl.col("owner").is_not_null())
    if symptoms.height == 0:
        return candidates.clear()
    owner_level = (
        pl.when(pl.col("level") == "queue").then(pl.lit("queue")).otherwise(pl.lit("consumer_group"))
    )
    inferred = symptoms.group_by("episode", "cluster", "owner").agg(
        level=owner_level.first(),
        start=pl.col("start").min(),
        end=pl.col("end").max(),
        score=pl.col("score").max(),
    )
    drivers = candidates.filter(pl.col("metric").is_in(list(DRIVER_METRICS))).select(
        "episode", "cluster", owner="entity"
    )
    return (
        inferred.join(drivers, on=["episode", "cluster", "owner"], how="anti")
        .select(
            "episode",
            "cluster",
            "level",
            entity="owner",
            metric=pl.lit(INFERRED_METRIC),
            start="start",
            end="end",
            score=pl.col("score") * 0.5,
            direction=pl.lit("down"),
        )
        .with_columns(before=pl.lit(None, dtype=pl.Float64), during=pl.lit(None, dtype=pl.Float64))
    )


def _before_during(candidates: pl.DataFrame, frame: pl.DataFrame, lookback: timedelta) -> pl.DataFrame:
    """Median before ``start`` (over ``lookback``) and the extreme value during the anomaly."""
    keys = ["cluster", "level", "entity", "metric"]
    values = frame.lazy().select(
        "ts", "cluster", pl.col("level").cast(pl.String), "entity", "metric", "value"
    )
    window = candidates.lazy().select("cid", *keys, "start", "end")
    ts, value = pl.col("ts"), pl.col("value")
    before_mask = (ts < pl.col("start")) & (ts >= pl.col("start") - lookback)
    # the onset, not the whole alarm: a crashed consumer's catch-up later must not read as "up"
    during_mask = (ts >= pl.col("start")) & (
        ts <= pl.min_horizontal(pl.col("end"), pl.col("start") + lookback / 2)
    )
    stats = (
        values.join(window, on=keys)
        .filter(before_mask | during_mask)
        .group_by("cid")
        .agg(
            before=value.filter(before_mask).median(),
            high=value.filter(during_mask).max(),
            low=value.filter(during_mask).min(),
        )
        .with_columns(
            direction=pl.when(
                (pl.col("high") - pl.col("before")).clip(lower_bound=0)
                >= (pl.col("before") - pl.col("low")).clip(lower_bound=0)
            )
            .then(pl.lit("up"))
            .otherwise(pl.lit("down")),
        )
        .with_columns(
            during=pl.when(pl.col("direction") == "up").then(pl.col("high")).otherwise(pl.col("low"))
        )
        .select("cid", "before", "during", "direction")
        .collect()
    )
    return stats


def rank_causes(
    anomalies: pl.DataFrame,
    frame: pl.DataFrame | None = None,
    *,
    gap: timedelta = timedelta(minutes=10),
    lookback: timedelta = timedelta(hours=1),
    tolerance: timedelta = timedelta(minutes=2),
) -> pl.DataFrame:
    """Rank candidate causes of concurrent anomalies, best first per episode.

    Parameters
    ----------
    anomalies : polars.DataFrame
        Anomaly findings: ``start``, ``end``, ``cluster``, ``level``, ``entity``,
        ``metric`` and (optionally) ``score`` in [0, 1].
    frame : polars.DataFrame, optional
        The canonical frame the anomalies came from; adds direction, size and silent
        brokers/nodes as candidates.
    gap : timedelta
        An anomaly starting within this of the previous one joins its episode.
    lookback : timedelta
        Baseline window before a candidate's start.
    tolerance : timedelta
        A candidate explains an entity whose anomaly started up to this much earlier
        (sampling jitter).

    Returns
    -------
    polars.DataFrame
        :data:`CAUSE_SCHEMA`: one row per candidate, ``rank`` 1 = most likely cause of
        its episode, with the entities it ``explains`` and an ``evidence`` sentence.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = lambda m: datetime(2026, 1, 5, 14, m, tzinfo=timezone.utc)
    >>> anomalies = pl.DataFrame({
    ...     "start": [t(5), t(2)], "end": [t(40), t(30)], "cluster": ["k", "k"],
    ...     "level": ["consumer_group", "topic"], "entity": ["billing/orders", "orders"],
    ...     "metric": ["consumer_lag_messages", "messages_in_per_s"], "score": [0.9, 0.8]})
    >>> ranked = rank_causes(anomalies)
    >>> ranked.select("rank", "entity", "metric").row(0)
    (1, 'orders', 'messages_in_per_s')
    """
    needed = {"start", "end", "cluster", "level", "entity", "metric"}
    missing = needed - set(anomalies.columns)
    if missing:
        raise ParameterError(
            "anomalies",
            allowed=f"a findings frame with columns {sorted(needed)}",
            received=sorted(anomalies.columns),
        )
    if anomalies.height == 0:
        return pl.DataFrame(schema=CAUSE_SCHEMA)
    base = anomalies.select(
        pl.col("start", "end").cast(pl.Datetime("ms", "UTC")),
        "cluster",
        pl.col("level").cast(pl.String),
        "entity",
        "metric",
        score=pl.col("score").cast(pl.Float64) if "score" in anomalies.columns else pl.lit(0.5),
    )
    with_episodes = assign_episodes(base, gap=gap)
    candidates = with_episodes.group_by("episode", "cluster", "level", "entity", "metric").agg(
        pl.col("start").min(), pl.col("end").max(), pl.col("score").max()
    )
    if frame is not None and frame.height:
        candidates = candidates.with_row_index("cid")
        stats = _before_during(candidates, frame, lookback)
        candidates = candidates.join(stats, on="cid", how="left").drop("cid")
        silent = _silent_candidates(frame, with_episodes, gap=gap)
        candidates = pl.concat(
            [
                candidates,
                silent.with_columns(
                    before=pl.lit(None, dtype=pl.Float64), during=pl.lit(None, dtype=pl.Float64)
                ),
            ],
            how="diagonal_relaxed",
        ).unique(["episode", "cluster", "level", "entity", "metric"], keep="first")
    else:
        candidates = candidates.with_columns(
            before=pl.lit(None, dtype=pl.Float64),
            during=pl.lit(None, dtype=pl.Float64),
            direction=pl.lit("up"),
        )
    candidates = pl.concat([candidates, _inferred_candidates(candidates)], how="diagonal_relaxed")
    candidates = candidates.with_columns(
        topic=topic_of(pl.col("level"), pl.col("entity")),
        group=group_of(pl.col("level"), pl.col("entity")),
        # a group's own partitions sit below the group
        depth=pl.when(
            group_of(pl.col("level"), pl.col("entity")).is_not_null() & (pl.col("level") == "partition")
        )
        .then(pl.lit(5, dtype=pl.Int64))
        .otherwise(pl.col("level").replace_strict(_DEPTH, default=4, return_dtype=pl.Int64)),
    )
    # Pair every candidate with every other anomalous entity of its episode.
    others = candidates.select(
        "episode",
        o_level="level",
        o_entity="entity",
        o_metric="metric",
        o_start="start",
        o_topic="topic",
        o_group="group",
        o_depth="depth",
    )
    pairs = candidates.select(
        "episode", "level", "entity", "metric", "start", "topic", "group", "depth"
    ).join(others, on="episode")
    same_entity = (pl.col("level") == pl.col("o_level")) & (pl.col("entity") == pl.col("o_entity"))
    # Brokers, nodes and clusters are upstream only through their own failures (silence,
    # alarms, replication); their traffic, memory and connection series merely add up
    # what the queues and groups below them do, so they explain nothing.
    infra = pl.col("metric").is_in(list(INFRA_METRICS))
    is_node = pl.col("level").is_in(["broker", "node"]) & infra
    # Brokers and nodes explain everything they serve; a peer broker only if this one went silent.
    # Only drivers explain: a topic's summed lag is the groups' lag, not their cause.
    driver = pl.col("metric").is_in(list(DRIVER_METRICS))
    plain = pl.col("group").is_null()  # topics, queues and plain partitions (not a group's own)
    downstream = (
        (
            is_node
            & ~same_entity
            & (~pl.col("o_level").is_in(["broker", "node"]) | (pl.col("metric") == SILENT_METRIC))
        )
        | ((pl.col("level") == "cluster") & infra & ~pl.col("o_level").is_in(["broker", "node", "cluster"]))
        | (
            driver
            & plain
            & pl.col("level").is_in(["topic", "queue", "partition"])
            & (pl.col("o_topic") == pl.col("topic"))
            & (pl.col("o_depth") > pl.col("depth"))
        )
        | (driver & (pl.col("level") == "consumer_group") & (pl.col("o_group") == pl.col("entity")))
    ) & ~same_entity
    explained = (
        pairs.filter(downstream & (pl.col("o_start") >= pl.col("start") - tolerance))
        .with_columns(o_key=pl.concat_str("o_level", pl.lit(":"), "o_entity"))
        .group_by("episode", "level", "entity", "metric")
        .agg(explains=pl.col("o_key").unique().sort())
    )
    entity_count = candidates.group_by("episode").agg(
        n_entities=pl.struct("level", "entity").n_unique(),
        first=pl.col("start").min(),
        last=pl.col("start").max(),
    )
    aggregate = pl.col("level").is_in(["broker", "node", "cluster"])
    infra_metric = pl.col("metric").is_in(list(INFRA_METRICS))
    ranked = (
        candidates.join(explained, on=["episode", "level", "entity", "metric"], how="left")
        .join(entity_count, on="episode")
        .with_columns(explains=pl.col("explains").fill_null(pl.lit([], dtype=pl.List(pl.String))))
        .with_columns(
            explain=pl.col("explains").list.len() / pl.max_horizontal(pl.col("n_entities") - 1, pl.lit(1)),
            precedence=1.0
            - (pl.col("start") - pl.col("first")).dt.total_seconds()
            / pl.max_horizontal((pl.col("last") - pl.col("first")).dt.total_seconds(), pl.lit(60.0)),
            role=pl.when(pl.col("metric").is_in(list(DRIVER_METRICS)) & (~aggregate | infra_metric))
            .then(1.0)
            .otherwise(0.0),
            depth_score=pl.when(aggregate & ~infra_metric).then(0.0).otherwise(1.0 - pl.col("depth") / 4.0),
        )
        .with_columns(
            score=_WEIGHTS["explain"] * pl.col("explain")
            + _WEIGHTS["precedence"] * pl.col("precedence")
            + _WEIGHTS["role"] * pl.col("role")
            + _WEIGHTS["depth"] * pl.col("depth_score")
            + _WEIGHTS["score"] * pl.col("score").fill_null(0.5)
        )
        .with_columns(cause=classify_cause(pl.col("level"), pl.col("metric"), pl.col("direction")))
        .sort(["episode", "score", "start"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("episode"))
    )
    ranked = ranked.with_columns(evidence=_evidence_expr())
    return ranked.select(list(CAUSE_SCHEMA)).cast(CAUSE_SCHEMA)  # type: ignore[arg-type]


def _fmt(value: pl.Expr) -> pl.Expr:
    return (
        pl.when(value.abs() >= 1e6)
        .then(pl.concat_str((value / 1e6).round(1).cast(pl.String), pl.lit(" M")))
        .when(value.abs() >= 1e4)
        .then(pl.concat_str((value / 1e3).round(1).cast(pl.String), pl.lit(" k")))
        .otherwise(value.round(2).cast(pl.String))
    )


def _evidence_expr() -> pl.Expr:
    change = (
        pl.when(pl.col("before").is_not_null() & pl.col("during").is_not_null())
        .then(
            pl.concat_str(
                pl.lit(" went "),
                pl.col("direction"),
                pl.lit(" from "),
                _fmt(pl.col("before")),
                pl.lit(" to "),
                _fmt(pl.col("during")),
            )
        )
        .when(pl.col("metric") == SILENT_METRIC)
        .then(pl.lit(" stopped reporting"))
        .when(pl.col("metric") == INFERRED_METRIC)
        .then(pl.lit(" fell behind with no producer surge or other driver in sight"))
        .otherwise(pl.lit(" was anomalous"))
    )
    lead = (pl.col("start") - pl.col("first")).dt.total_minutes()
    return pl.concat_str(
        pl.col("level").str.replace("_", " "),
        pl.lit(" "),
        pl.col("entity"),
        pl.lit(" "),
        pl.when(pl.col("metric").is_in([SILENT_METRIC, INFERRED_METRIC]))
        .then(pl.lit(""))
        .otherwise(pl.col("metric")),
        change,
        pl.lit(" at "),
        pl.col("start").dt.strftime("%H:%M UTC"),
        pl.when(lead == 0)
        .then(pl.lit(" (first in the episode)"))
        .otherwise(
            pl.concat_str(pl.lit(" ("), lead.cast(pl.String), pl.lit(" min after the first anomaly)"))
        ),
        pl.lit("; explains "),
        pl.col("explains").list.len().cast(pl.String),
        pl.lit(" of "),
        (pl.col("n_entities") - 1).clip(lower_bound=0).cast(pl.String),
        pl.lit(" other anomalous entities"),
    ).str.replace_all("  ", " ")
