"""Health score 0-100 per entity and per rollup level, with named components.

A score starts at 100 and loses points for six named components. Each
component turns a few metrics into a *badness* between 0 and 1; the points
lost are ``weight x badness``. Every component's penalty and whether its
inputs were observed stay in the output frame, together with the evidence
(the raw numbers), so the app and the reports can say *why* a score is low.
The full algorithm, with thresholds, is in ``docs/health.md``.

==============  ======  ===========================================================
component       weight  badness
==============  ======  ===========================================================
lag_status      25      worst Burrow status in the window: OK 0, WARN 0.4,
                        ERR/STOP/STALL/REWIND 1 (``consumer_status``)
lag_trend       15      backlog growth (``consumer_lag_messages`` or
                        ``queue_depth_messages``): (last - first) /
                        max(first, last, backlog_floor), clipped to [0, 1]
errors          15      max of redelivery ratio / 5 %, dead-letter ratio / 1 %,
                        and a growing (1) or non-empty (0.3) dead-letter queue
replication     20      offline partitions or a controller count other than 1: 1;
                        under-replicated: 0.5 + 0.5 x share of partitions
alarms          15      a RabbitMQ memory or disk alarm raised: 1
capacity        10      max of memory use above 70 % of the limit (1 at 100 %)
                        and free disk below 2 x disk_floor (1 at disk_floor)
==============  ======  ===========================================================

A component whose metrics are absent costs nothing and is reported as not
observed, so a score of 100 with few observed components means "no evidence
of trouble", not "proven healthy".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from workbench.analysis.lagstatus import consumer_status_frame
from workbench.analysis.rollup import rollup_topology
from workbench.analysis.windows import window_aggregate
from workbench.durations import polars_duration
from workbench.errors import ParameterError, SchemaError

__all__ = ["COMPONENTS", "DEFAULT_WEIGHTS", "dataset_health", "health_report", "health_scores"]

logger = logging.getLogger(__name__)

#: Component names, in the order they are reported.
COMPONENTS: tuple[str, ...] = ("lag_status", "lag_trend", "errors", "replication", "alarms", "capacity")
#: Points each component can take away (they sum to 100).
DEFAULT_WEIGHTS: dict[str, float] = {
    "lag_status": 25.0,
    "lag_trend": 15.0,
    "errors": 15.0,
    "replication": 20.0,
    "alarms": 15.0,
    "capacity": 10.0,
}
_INPUTS: dict[str, tuple[str, ...]] = {
    "lag_status": ("consumer_status",),
    "lag_trend": ("consumer_lag_messages", "queue_depth_messages"),
    "errors": ("redelivered_per_s", "dead_lettered_per_s", "dlq_depth_messages"),
    "replication": ("under_replicated_partitions", "offline_partitions", "active_controllers"),
    "alarms": ("memory_alarm", "disk_alarm"),
    "capacity": ("memory_used_bytes", "memory_limit_bytes", "disk_free_bytes"),
}
_GROUP = ("cluster", "level", "entity")
_CATEGORICAL = ("provider", "cluster", "level", "entity", "metric", "source")


def _mask_name(metric_names: Sequence[str]) -> str:
    return "_is:" + "|".join(sorted(metric_names))


def _of(metric_names: Sequence[str]) -> pl.Expr:
    # A boolean column computed once per row before grouping (see _masks), not a
    # string comparison repeated inside every group's aggregation.
    return pl.col(_mask_name(metric_names))


def _masks() -> list[pl.Expr]:
    """One boolean column per set of metric names that :func:`_features` reads."""
    sets = {_mask_name(n): n for n in _MASK_SETS}
    return [pl.col("_metric").is_in(list(names)).alias(name) for name, names in sets.items()]


def _mean(names: Sequence[str]) -> pl.Expr:
    return pl.col("value").filter(_of(names)).mean()


def _at(names: Sequence[str], which: str) -> pl.Expr:
    mask = _of(names)
    ts = pl.col("ts").filter(mask)
    return pl.col("value").filter(mask).get(ts.arg_max() if which == "last" else ts.arg_min())


_MASK_SETS: tuple[tuple[str, ...], ...] = (
    ("consumer_status",),
    _INPUTS["lag_trend"],
    ("messages_in_per_s", "published_per_s"),
    ("messages_out_per_s", "acked_per_s"),
    ("redelivered_per_s",),
    ("dead_lettered_per_s",),
    ("dlq_depth_messages",),
    ("under_replicated_partitions",),
    ("offline_partitions",),
    ("partitions",),
    ("active_controllers",),
    _INPUTS["alarms"],
    ("memory_used_bytes",),
    ("memory_limit_bytes",),
    ("disk_free_bytes",),
    *_INPUTS.values(),
)


def _features() -> list[pl.Expr]:
    v = pl.col("value")
    backlog = _INPUTS["lag_trend"]
    feats = [
        v.filter(_of(["consumer_status"])).max().alias("status_code"),
        _at(backlog, "first").alias("backlog_first"),
        _at(backlog, "last").alias("backlog_last"),
        _mean(["messages_in_per_s", "published_per_s"]).alias("_in_rate"),
        _mean(["messages_out_per_s", "acked_per_s"]).alias("_out_rate"),
        _mean(["redelivered_per_s"]).alias("_redelivered"),
        _mean(["dead_lettered_per_s"]).alias("_dead_lettered"),
        _at(["dlq_depth_messages"], "first").alias("_dlq_first"),
        _at(["dlq_depth_messages"], "last").alias("dlq_depth"),
        v.filter(_of(["under_replicated_partitions"])).max().alias("under_replicated"),
        v.filter(_of(["offline_partitions"])).max().alias("offline_partitions"),
        _at(["partitions"], "last").alias("_partitions"),
        _at(["active_controllers"], "last").alias("_controllers"),
        v.filter(_of(_INPUTS["alarms"])).max().alias("alarm"),
        _at(["memory_used_bytes"], "last").alias("_mem_used"),
        _at(["memory_limit_bytes"], "last").alias("_mem_limit"),
        v.filter(_of(["disk_free_bytes"])).min().alias("disk_free_bytes"),
    ]
    feats += [_of(names).any().alias(f"{name}_observed") for name, names in _INPUTS.items()]
    return feats


def _badness(backlog_floor: float, disk_floor: float) -> dict[str, pl.Expr]:
    status = pl.col("status_code")
    lag_status = pl.when(status >= 3).then(1.0).when(status >= 2).then(0.4).otherwise(0.0)
    first, last = pl.col("backlog_first"), pl.col("backlog_last")
    trend = ((last - first) / pl.max_horizontal(first, last, pl.lit(backlog_floor))).clip(0.0, 1.0)
    consumed = pl.max_horizontal(pl.col("_out_rate"), pl.col("_in_rate"), pl.lit(1e-9))
    inflow = pl.max_horizontal(pl.col("_in_rate"), pl.col("_out_rate"), pl.lit(1e-9))
    dlq = (
        pl.when(pl.col("dlq_depth") > pl.col("_dlq_first"))
        .then(1.0)
        .when(pl.col("dlq_depth") > 0)
        .then(0.3)
        .otherwise(0.0)
    )
    errors = pl.max_horizontal(
        (pl.col("_redelivered") / consumed / 0.05).clip(0.0, 1.0),
        (pl.col("_dead_lettered") / inflow / 0.01).clip(0.0, 1.0),
        dlq,
    )
    share = (pl.col("under_replicated") / pl.max_horizontal(pl.col("_partitions"), pl.lit(1.0))).clip(
        0.0, 1.0
    )
    replication = (
        # Only a cluster must have exactly one active controller; brokers report 0 or 1.
        pl.when(
            (pl.col("offline_partitions") > 0)
            | (
                (pl.col("level") == "cluster")
                & pl.col("_controllers").is_not_null()
                & (pl.col("_controllers") != 1)
            )
        )
        .then(1.0)
        .when(pl.col("under_replicated") > 0)
        .then(0.5 + 0.5 * share)
        .otherwise(0.0)
    )
    alarms = pl.when(pl.col("alarm") > 0).then(1.0).otherwise(0.0)
    mem = ((pl.col("memory_utilisation") - 0.7) / 0.3).clip(0.0, 1.0)
    disk = ((2 * disk_floor - pl.col("disk_free_bytes")) / disk_floor).clip(0.0, 1.0)
    capacity = pl.max_horizontal(mem, disk)
    out = {
        "lag_status": lag_status,
        "lag_trend": trend,
        "errors": errors,
        "replication": replication,
        "alarms": alarms,
        "capacity": capacity,
    }
    return {k: e.fill_null(0.0).fill_nan(0.0) for k, e in out.items()}


def _explanation(weights: Mapping[str, float]) -> pl.Expr:
    parts = [
        pl.when(pl.col(f"{c}_penalty") > 0.05).then(
            pl.format("{} -{}", pl.lit(c), pl.col(f"{c}_penalty").round(1))
        )
        for c in COMPONENTS
        if weights.get(c, 0) > 0
    ]
    text = pl.concat_str(parts, separator="; ", ignore_nulls=True)
    return pl.when(text == "").then(pl.lit("no penalties")).otherwise(text)


def health_scores(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    every: str | timedelta | None = None,
    weights: Mapping[str, float] | None = None,
    backlog_floor: float = 1000.0,
    disk_floor_bytes: float = 1 << 30,
) -> pl.DataFrame:
    """Score each (cluster, level, entity), optionally per time window.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Long frame (canonical, windowed or rollup) with ``ts, cluster, level,
        entity, metric, value``.
    every : str or timedelta, optional
        Score each window of this length separately (column ``ts`` = window
        start); None scores the whole span once.
    weights : mapping of str to float, optional
        Points per component; defaults to :data:`DEFAULT_WEIGHTS`.
    backlog_floor : float, default 1000
        Backlog size below which growth is not alarming.
    disk_floor_bytes : float, default 1 GiB
        Free disk at which the disk part of ``capacity`` is fully bad.

    Returns
    -------
    polars.DataFrame
        ``cluster, level, entity``, ``ts`` (window start, or the first
        sample of the span when ``every`` is None), ``score``, ``explanation``,
        and per component ``<name>_penalty`` and ``<name>_observed``, plus the
        evidence ``status_code, backlog_first, backlog_last, dlq_depth,
        under_replicated, offline_partitions, alarm, memory_utilisation,
        disk_free_bytes``; worst score first.

    Raises
    ------
    ParameterError
        For an unknown component in ``weights`` or a negative weight.
    SchemaError
        If a needed column is missing.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame({
    ...     "ts": [t0, t0 + timedelta(minutes=5), t0, t0 + timedelta(minutes=5)],
    ...     "cluster": "k", "level": "consumer_group", "entity": "billing/orders",
    ...     "metric": ["consumer_lag_messages"] * 2 + ["consumer_status"] * 2,
    ...     "value": [1000.0, 4000.0, 1.0, 4.0]})
    >>> out = health_scores(df)
    >>> out.select("score", "lag_status_penalty", "lag_trend_penalty").rows()
    [(63.75, 25.0, 11.25)]
    >>> out["explanation"].item()
    'lag_status -25.0; lag_trend -11.2'
    """
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = [k for k in w if k not in COMPONENTS]
    if unknown or any(x < 0 for x in w.values()):
        raise ParameterError("weights", allowed=f"non-negative points for {COMPONENTS}", received=dict(w))
    data = frame.lazy()
    names = data.collect_schema().names()
    for col in ("ts", *_GROUP, "metric", "value"):
        if col not in names:
            raise SchemaError(col, f"health needs column {col!r}; frame has {names}")
    data = data.with_columns(
        pl.col("metric").cast(pl.String).alias("_metric"),
        pl.col("level").cast(pl.String),
        pl.col("cluster").cast(pl.String),
        pl.col("entity").cast(pl.String),
    )
    group = list(_GROUP)
    if every is not None:
        window = polars_duration(every, parameter="every")
        data = data.with_columns(pl.col("ts").dt.truncate(window).alias("_window"))
        group.append("_window")
    data = data.with_columns(_masks())
    feats = data.group_by(group).agg(*_features(), pl.col("ts").min().alias("_span_start"))
    feats = feats.with_columns((pl.col("_mem_used") / pl.col("_mem_limit")).alias("memory_utilisation"))
    bad = _badness(backlog_floor, disk_floor_bytes)
    penalties = [(w.get(c, 0.0) * bad[c]).alias(f"{c}_penalty") for c in COMPONENTS]
    scored = feats.with_columns(penalties)
    total = pl.sum_horizontal([pl.col(f"{c}_penalty") for c in COMPONENTS])
    scored = scored.with_columns(
        (100.0 - total).clip(0.0, 100.0).alias("score"), _explanation(w).alias("explanation")
    )
    scored = scored.rename({"_window": "ts"}) if every is not None else scored.rename({"_span_start": "ts"})
    evidence = [
        "status_code",
        "backlog_first",
        "backlog_last",
        "dlq_depth",
        "under_replicated",
        "offline_partitions",
        "alarm",
        "memory_utilisation",
        "disk_free_bytes",
    ]
    keys = [*_GROUP, "ts"]
    columns = [
        *keys,
        "score",
        "explanation",
        *(f"{c}_penalty" for c in COMPONENTS),
        *(f"{c}_observed" for c in COMPONENTS),
        *evidence,
    ]
    return scored.select(columns).sort(["score", *keys]).collect()


def health_report(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    resolution: str | timedelta = "1m",
    every: str | timedelta | None = None,
    queue_nodes: pl.DataFrame | None = None,
    weights: Mapping[str, float] | None = None,
    status_every: str | timedelta | None = "5m",
) -> pl.DataFrame:
    """Health of every entity and every rollup level of a canonical frame.

    The frame is put on a common ``resolution`` grid
    (:func:`~workbench.analysis.windows.window_aggregate`), rolled up along
    the topology (:func:`~workbench.analysis.rollup.rollup_topology`), and
    both the entities and the rollups are scored by :func:`health_scores`.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Canonical long frame.
    resolution : str or timedelta, default "1m"
        Grid that aligns series before rolling up.
    every : str or timedelta, optional
        Score per window of this length; None scores the whole span.
    queue_nodes : polars.DataFrame, optional
        Queue -> node table for node rollups.
    weights : mapping, optional
        Component weights (see :func:`health_scores`).
    status_every : str or timedelta or None, default "5m"
        When the frame has ``committed_offset`` and ``log_end_offset`` but no
        ``consumer_status``, derive Burrow statuses at this step
        (:func:`~workbench.analysis.lagstatus.consumer_status_frame`); None
        skips it.

    Returns
    -------
    polars.DataFrame
        As :func:`health_scores`, for entities and rollups together, worst first.
    """
    data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    if data.is_empty():
        raise ParameterError("frame", allowed="a frame with at least one row", received="an empty frame")
    # Categorical keys let windows and rollups group on one packed integer.
    data = data.with_columns(
        pl.col(c).cast(pl.String).cast(pl.Categorical) for c in _CATEGORICAL if c in data.columns
    )
    if (
        status_every is not None
        and "consumer_status" not in data.get_column("metric").cast(pl.String).unique()
    ):
        status = consumer_status_frame(data, every=status_every)
        if not status.is_empty():
            status = status.with_columns(pl.col(c).cast(pl.Categorical) for c in _CATEGORICAL)
            data = pl.concat([data.select(status.columns), status], how="vertical_relaxed")
    gridded = window_aggregate(data, every=resolution)
    rolled = rollup_topology(gridded, queue_nodes=queue_nodes, percentiles=())
    keep = ["ts", "cluster", "level", "entity", "metric", "value"]
    text = [pl.col(c).cast(pl.String) for c in ("cluster", "level", "entity", "metric")]
    native = gridded.select(keep).with_columns(text)
    # A series the source reports itself (e.g. a cluster-level lag) wins over its rollup.
    series = ["cluster", "level", "entity", "metric"]
    rolled = (
        rolled.select(keep).with_columns(text).join(native.select(series).unique(), on=series, how="anti")
    )
    both = pl.concat([native, rolled], how="vertical_relaxed")
    logger.info("health over %d entity rows and %d rollup rows", gridded.height, rolled.height)
    return health_scores(both, every=every, weights=weights)


def dataset_health(
    dataset: str,
    *,
    store: Any = None,
    start: datetime | str | None = None,
    end: datetime | str | None = None,
    cluster: str | None = None,
    every: str | None = None,
) -> pl.DataFrame:
    """Health report of a stored dataset (what ``workbench health`` prints).

    Parameters
    ----------
    dataset : str
        Dataset name in the store.
    store : workbench.store.Store, optional
        The store; defaults to ``Store()`` (``WORKBENCH_STORE_DIR``).
    start, end : datetime or str, optional
        Time range to score.
    cluster : str, optional
        Only this cluster.
    every : str, optional
        Score per window of this length instead of the whole range.

    Returns
    -------
    polars.DataFrame
        As :func:`health_report`, worst first.
    """
    from workbench.store import Store

    store = store if store is not None else Store()
    frame = store.scan(dataset, start=start, end=end, cluster=cluster).collect()
    if frame.is_empty():
        raise ParameterError("dataset", allowed="a dataset with rows in the chosen range", received=dataset)
    return health_report(frame, every=every)
