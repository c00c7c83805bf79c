"""Plain-English, deterministic summaries of findings, with the numbers.

The same input always gives the same words: no randomness, no model, just templates
keyed by level, metric and cause (see :func:`workbench.analysis.rootcause.rank_causes`).

Examples
--------
>>> format_count(1_234_567, "messages")
'1.2 M messages'
>>> format_duration_s(38 * 60 + 10)
'38 min'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl

__all__ = [
    "describe_cause",
    "describe_symptom",
    "format_count",
    "format_duration_s",
    "narrate_episode",
    "narrate_episodes",
]

_SYMPTOM_ORDER = (
    "consumer_lag_messages",
    "queue_depth_messages",
    "consumer_lag_seconds",
    "oldest_message_age_s",
    "messages_unacked",
    "dlq_depth_messages",
    "consumer_status",
    "produce_latency_ms",
)
_LEVEL_WORDS = {
    "consumer_group": "consumer group",
    "broker": "broker",
    "node": "node",
    "topic": "topic",
    "partition": "partition",
    "queue": "queue",
    "cluster": "cluster",
}


def format_count(value: float | None, unit: str = "") -> str:
    """A number as people say it: ``1.2 M``, ``45.3 k``, ``812``, ``0.25``, with a unit.

    Examples
    --------
    >>> format_count(1_200_000, "messages"), format_count(45_300), format_count(0.254, "msg/s")
    ('1.2 M messages', '45.3 k', '0.25 msg/s')
    >>> format_count(None, "messages")
    'an unknown number of messages'
    """
    if value is None or not math.isfinite(value):
        return f"an unknown number of {unit}".rstrip() if unit else "unknown"
    size = abs(value)
    if size >= 1e9:
        text = f"{value / 1e9:.1f} G"
    elif size >= 1e6:
        text = f"{value / 1e6:.1f} M"
    elif size >= 1e4:
        text = f"{value / 1e3:.1f} k"
    elif size >= 100 or float(value).is_integer():
        text = f"{value:,.0f}"
    else:
        text = f"{value:.2f}"
    if unit in ("s", "seconds"):
        return format_duration_s(value)
    if unit == "ms" and size >= 1000:
        return format_duration_s(value / 1000.0)
    return f"{text} {unit}".strip()


def format_duration_s(seconds: float) -> str:
    """Seconds as ``45 s``, ``38 min``, ``2 h 5 min`` or ``3 d 4 h``.

    Examples
    --------
    >>> format_duration_s(45), format_duration_s(7500), format_duration_s(3 * 86400 + 4 * 3600)
    ('45 s', '2 h 5 min', '3 d 4 h')
    """
    total = max(0, round(seconds))
    if total < 60:
        return f"{total} s"
    minutes = round(total / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _unit(metric: str) -> str:
    from workbench.catalog import metrics

    known = metrics()
    if metric in known:
        unit = known[metric].unit
        return {"count": "", "bool": "", "code": "", "score": "", "as given": ""}.get(unit, unit)
    return ""


def _hhmm(ts: datetime) -> str:
    return ts.strftime("%H:%M UTC")


def _group_and_topic(entity: str) -> tuple[str, str | None]:
    parts = entity.split("/")
    return parts[0], (parts[1] if len(parts) > 1 else None)


def describe_symptom(row: Mapping[str, Any]) -> str:
    """One clause for an anomalous series: what happened, when, how big, how long.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t0, t1 = datetime(2026, 1, 5, 14, 5, tzinfo=timezone.utc), datetime(2026, 1, 5, 14, 43, tzinfo=timezone.utc)
    >>> describe_symptom({"level": "consumer_group", "entity": "billing/orders", "metric": "consumer_lag_messages",
    ...                   "start": t0, "end": t1, "direction": "up", "before": 10.0, "during": 1.2e6})
    'Consumer group billing fell behind on topic orders at 14:05 UTC; lag grew to 1.2 M messages (38 min)'
    """
    level, entity, metric = str(row["level"]), str(row["entity"]), str(row["metric"])
    start, end = row["start"], row["end"]
    span = format_duration_s((end - start).total_seconds()) if start and end else "ongoing"
    peak = row.get("during")
    unit = _unit(metric)
    if metric == "(no data)":
        name = entity.removeprefix("broker-") if level == "broker" else entity
        return f"{_LEVEL_WORDS.get(level, level).capitalize()} {name} stopped reporting at {_hhmm(start)} ({span})"
    if level == "consumer_group" and metric.startswith("consumer_lag"):
        group, topic = _group_and_topic(entity)
        where = f" on topic {topic}" if topic else ""
        size = format_count(peak, unit)
        return f"Consumer group {group} fell behind{where} at {_hhmm(start)}; lag grew to {size} ({span})"
    if metric in ("queue_depth_messages", "messages_unacked", "oldest_message_age_s"):
        noun = {
            "queue_depth_messages": "depth",
            "messages_unacked": "unacked messages",
            "oldest_message_age_s": "the oldest message's age",
        }[metric]
        verb = "backed up" if row.get("direction", "up") == "up" else "drained"
        return f"Queue {entity} {verb} at {_hhmm(start)}; {noun} reached {format_count(peak, unit)} ({span})"
    words = metric.replace("_per_s", " rate").replace("_", " ")
    direction = row.get("direction") or "changed"
    verb = {"up": "rose", "down": "fell"}.get(str(direction), "changed")
    before = row.get("before")
    change = (
        f" from {format_count(before, unit)} to {format_count(peak, unit)}"
        if before is not None and peak is not None
        else ""
    )
    level_word = _LEVEL_WORDS.get(level, level)
    return f"{words.capitalize()} on {level_word} {entity} {verb}{change} at {_hhmm(start)} ({span})"


def describe_cause(row: Mapping[str, Any]) -> str:
    """A clause naming the suspected cause, e.g. ``after broker 2 left the cluster``.

    Examples
    --------
    >>> describe_cause({"cause": "broker_down", "level": "broker", "entity": "broker-2", "metric": "(no data)"})
    'after broker 2 left the cluster'
    >>> describe_cause({"cause": "producer_surge", "level": "topic", "entity": "orders",
    ...                 "metric": "messages_in_per_s", "before": 120.0, "during": 480.0})
    'after producers on topic orders surged from 120 msg/s to 480 msg/s'
    """
    cause, level, entity, metric = (str(row.get(k, "")) for k in ("cause", "level", "entity", "metric"))
    unit = _unit(metric)
    before, during = row.get("before"), row.get("during")
    change = (
        f" from {format_count(before, unit)} to {format_count(during, unit)}"
        if before is not None and during is not None
        else ""
    )
    name = entity.removeprefix("broker-") if level == "broker" else entity
    level_word = _LEVEL_WORDS.get(level, level)
    if cause == "broker_down":
        return f"after {level_word} {name} left the cluster"
    if cause == "broker_failure":
        return f"after {level_word} {name} reported {metric.replace('_', ' ')}{change}"
    if cause == "producer_surge":
        return f"after producers on {level_word} {entity} surged{change}"
    if cause == "hot_partition":
        return f"after partition {entity} ran hot{change}"
    if cause == "traffic_shift":
        return f"as traffic shifted onto {level_word} {name}{change}"
    if cause == "producer_drop":
        return f"after producers on {level_word} {entity} slowed{change}"
    group = _group_and_topic(entity)[0] if level == "consumer_group" else entity
    if cause == "consumer_slowdown":
        return f"because {level_word} {group} consumed more slowly{change}"
    if cause == "consumer_crash":
        return f"after {level_word} {group} lost consumers{change}"
    if cause == "consumer_membership_change":
        return f"while {level_word} {group} changed membership{change}"
    if cause == "poison_message":
        return f"as {metric.replace('_per_s', '').replace('_', ' ')} messages on {level_word} {entity} rose{change}"
    if cause in ("memory_alarm", "disk_alarm"):
        return f"after {level_word} {name} raised a {cause.replace('_', ' ')}"
    direction = {"up": "rising", "down": "falling"}.get(str(row.get("direction")), "changing")
    return f"with the first signal on {level_word} {entity} ({metric.replace('_', ' ')} {direction}{change})"


def narrate_episode(causes: pl.DataFrame) -> str:
    """One paragraph for one episode of :func:`~workbench.analysis.rootcause.rank_causes` output.

    The main symptom (consumer lag first, then backlog, age ...) is described with its
    peak and duration, followed by the top-ranked cause when that cause is not the
    symptom itself, and the runner-up when it is close.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> t = lambda m: datetime(2026, 1, 5, 14, m, tzinfo=timezone.utc)
    >>> causes = pl.DataFrame({
    ...     "rank": [1, 2], "level": ["broker", "consumer_group"], "entity": ["broker-2", "billing/orders"],
    ...     "metric": ["(no data)", "consumer_lag_messages"], "cause": ["broker_down", "backlog_growth"],
    ...     "start": [t(3), t(5)], "end": [t(50), t(43)], "direction": ["down", "up"],
    ...     "before": [None, 15.0], "during": [None, 1.2e6], "score": [0.9, 0.4]})
    >>> narrate_episode(causes)
    'Consumer group billing fell behind on topic orders at 14:05 UTC; lag grew to 1.2 M messages (38 min) after broker 2 left the cluster.'
    """
    if causes.height == 0:
        return "No anomalies."
    ordered = causes.sort("rank")
    top = ordered.row(0, named=True)
    order = {m: i for i, m in enumerate(_SYMPTOM_ORDER)}
    level_order = {"consumer_group": 0, "queue": 0, "topic": 1, "partition": 2}
    # The headline symptom: a growing backlog, at the level operators watch, the largest first.
    related = {f"{top['level']}:{top['entity']}", *(top.get("explains") or [])}
    entity_key = pl.concat_str(pl.col("level"), pl.lit(":"), pl.col("entity"))
    owner = pl.col("entity").str.split("/").list.slice(0, 2).list.join("/")
    symptoms = (
        ordered.filter(pl.col("metric").is_in(list(_SYMPTOM_ORDER)))
        .with_columns(
            # a symptom the top cause accounts for reads better than an unrelated one
            _r=(~(entity_key.is_in(list(related)) | (owner == top["entity"]))).cast(pl.Int64),
            _o=pl.col("metric").replace_strict(order, return_dtype=pl.Int64),
            _l=pl.col("level").replace_strict(level_order, default=3, return_dtype=pl.Int64),
            _d=(pl.col("direction") != "up").cast(pl.Int64) if "direction" in ordered.columns else pl.lit(0),
            _v=pl.col("during").fill_null(0.0) if "during" in ordered.columns else pl.lit(0.0),
        )
        .sort(["_d", "_r", "_o", "_l", "_v", "start"], descending=[False, False, False, False, True, False])
    )
    if symptoms.height == 0:
        return describe_symptom(top) + "."
    symptom = symptoms.row(0, named=True)
    if top["cause"] == "backlog_growth" or (
        top["level"] == symptom["level"]
        and top["entity"] == symptom["entity"]
        and top["metric"] == symptom["metric"]
    ):
        return describe_symptom(symptom) + "; no upstream cause stood out."
    text = f"{describe_symptom(symptom)} {describe_cause(top)}"
    if ordered.height > 1:
        runner = ordered.row(1, named=True)
        close = (
            runner["score"] is not None and top["score"] is not None and runner["score"] >= 0.9 * top["score"]
        )
        # a peer's replication alarm is what a departed broker causes, not an alternative to it
        consequence = top["cause"] == "broker_down" and runner["cause"] == "broker_failure"
        if (
            close
            and not consequence
            and runner["cause"] not in ("backlog_growth", "traffic_shift", top["cause"])
        ):
            text += f" (or {describe_cause(runner).split(' ', 1)[1]})"
    return text + "."


def narrate_episodes(causes: pl.DataFrame) -> pl.DataFrame:
    """One narrative per episode: columns ``episode``, ``cluster``, ``start``, ``narrative``.

    Examples
    --------
    >>> narrate_episodes(pl.DataFrame(schema={"episode": pl.Int64, "cluster": pl.String,
    ...                                       "start": pl.Datetime("ms", "UTC")})).height
    0
    """
    rows = []
    for (episode,), part in causes.partition_by("episode", as_dict=True, maintain_order=True).items():
        rows.append(
            {
                "episode": episode,
                "cluster": part["cluster"][0] if "cluster" in part.columns else None,
                "start": part["start"].min(),
                "narrative": narrate_episode(part),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "episode": pl.Int64,
            "cluster": pl.String,
            "start": pl.Datetime("ms", "UTC"),
            "narrative": pl.String,
        },
    )
