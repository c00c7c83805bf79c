"""Rollups along the queue topology, with the right aggregate per metric.

Children are rolled up to parents at the same timestamp (usually after
:func:`workbench.analysis.windows.window_aggregate` has put every series on
the same window grid):

=================  ==============================================  =================
target             children                                        parent entity
=================  ==============================================  =================
``topic``          Kafka partitions ``topic/p``                    ``topic``
``consumer_group`` group partitions ``group/topic/p``              ``group/topic``
``vhost``          RabbitMQ queues ``vhost/queue`` (``/`` if none)  ``vhost``
``node``           RabbitMQ queues, via a queue -> node table      ``node``
``cluster``        the finest level each metric is reported at     cluster name
=================  ==============================================  =================

Every output row carries ``sum``, ``max``, ``min``, ``mean`` and ``n`` of the
children (so lags get both their sum and their max) and, on request, the
``p50``/``p95``/``p99`` across children. ``value`` is the catalogue's
aggregate for the metric (``workbench.catalog``: sum of rates and depths, max
of ages and status codes, min of free disk and in-sync replicas).

Rollup frames have the canonical columns except that ``level`` is a string
(it may be ``vhost``), plus those statistic columns.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import polars as pl

from workbench.analysis.windows import group_by_packed_key, segment_stats
from workbench.catalog import metrics
from workbench.errors import ParameterError, SchemaError
from workbench.mapping.rates import pack_key_expr, series_key_spec, unpack_key_exprs

__all__ = ["FINEST_FIRST", "ROLLUP_TARGETS", "rollup", "rollup_topology", "topology_edges"]

logger = logging.getLogger(__name__)

ROLLUP_TARGETS: tuple[str, ...] = ("topic", "consumer_group", "vhost", "node", "cluster")
#: Levels from finest to coarsest: a cluster rollup uses the first one a metric has.
FINEST_FIRST: tuple[str, ...] = ("partition", "queue", "consumer_group", "topic", "node", "broker")
_NEEDED = ("ts", "provider", "cluster", "level", "entity", "metric", "value")
_PERCENTILES = {0.5: "p50", 0.95: "p95", 0.99: "p99"}
#: Run independent target rollups two at a time (more speed, about twice the transient memory).
_PARALLEL_TARGETS = False


def _parents(entities: pl.Series, to: str) -> pl.Series:
    """Parent entity (or null) for each distinct child entity name."""
    e = entities.cast(pl.String)
    slashes = e.str.count_matches("/")
    frame = pl.DataFrame({"e": e, "s": slashes})
    expr: pl.Expr
    if to == "topic":
        expr = pl.when(pl.col("s") == 1).then(pl.col("e").str.replace(r"/[^/]*$", ""))
    elif to == "consumer_group":
        expr = pl.when(pl.col("s") >= 2).then(pl.col("e").str.replace(r"/[^/]*$", ""))
    else:  # vhost: the default vhost "/" is left out of queue ids
        expr = pl.when(pl.col("s") >= 1).then(pl.col("e").str.replace(r"/[^/]*$", "")).otherwise(pl.lit("/"))
    return frame.select(expr.alias("parent"))["parent"]


def _attach_parent(frame: pl.DataFrame, to: str, child_level: str) -> pl.DataFrame:
    is_child = pl.col("level") == child_level
    if to == "vhost":
        is_child = is_child & (pl.col("provider") == "rabbitmq")
    # Copy only the columns a rollup reads (not window stats or sources) when filtering.
    mask = frame.select(is_child.fill_null(False)).to_series()
    children = frame.select("ts", "provider", "cluster", "entity", "metric", "value").filter(mask)
    distinct = children.get_column("entity").unique()
    parents = _parents(distinct, to)
    dtype = children.schema["entity"]
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        # Look the parent up by the child's physical code: a gather, not a join.
        codes = distinct.to_physical().cast(pl.Int64)
        size = int(cast(int, codes.max() or 0)) + 1
        table = pl.Series("parent", [None] * size, dtype=pl.String).scatter(codes, parents)
        parent = table.cast(pl.Categorical).gather(children.get_column("entity").to_physical())
        children = children.with_columns(parent.alias("parent"))
    else:
        lookup = pl.DataFrame({"entity": distinct, "parent": parents})
        children = children.join(lookup, on="entity", how="left")
    if not children.get_column("parent").null_count():
        return children
    return children.filter(pl.col("parent").is_not_null())


def _finest_levels(frame: pl.DataFrame) -> dict[str, list[str]]:
    """For each level, the metrics whose finest reported level it is."""
    seen = frame.group_by("level").agg(pl.col("metric").unique())
    by_level = {str(lv): {str(m) for m in ms} for lv, ms in seen.iter_rows()}
    chosen: dict[str, list[str]] = {}
    taken: set[str] = set()
    for level in FINEST_FIRST:
        fresh = sorted(by_level.get(level, set()) - taken)
        if fresh:
            chosen[level] = fresh
            taken |= set(fresh)
    return chosen


def _cluster_children(
    frame: pl.DataFrame, skip_levels: Sequence[str] = (), finest: dict[str, list[str]] | None = None
) -> pl.DataFrame:
    finest = _finest_levels(frame) if finest is None else finest
    chosen = {lv: ms for lv, ms in finest.items() if lv not in skip_levels}
    if not chosen:
        return frame.clear().with_columns(pl.col("cluster").alias("parent"))
    condition = pl.any_horizontal(
        [(pl.col("level") == lv) & pl.col("metric").is_in(ms) for lv, ms in chosen.items()]
    )
    return frame.filter(condition).with_columns(pl.col("cluster").alias("parent"))


def _aggregate(children: pl.DataFrame, percentiles: Sequence[float]) -> pl.DataFrame:
    v = pl.col("value")
    aggs = [
        v.sum().alias("sum"),
        v.max().alias("max"),
        v.min().alias("min"),
        v.mean().alias("mean"),
        v.count().alias("n"),
        *(
            v.quantile(q, interpolation="linear").alias(_PERCENTILES.get(q, f"p{q * 100:g}"))
            for q in percentiles
        ),
    ]
    keys = ["provider", "cluster", "parent", "metric"]
    work = children.with_columns(
        (pl.col("ts").dt.epoch("ms") - pl.col("ts").dt.epoch("ms").min()).alias("_t")
    )
    spec = series_key_spec(work, [*keys, "_t"]) if not work.is_empty() else None
    ts_dtype = children.schema["ts"]
    if spec is None:
        return children.group_by(["ts", *keys]).agg(aggs).sort(["cluster", "parent", "metric", "ts"])
    t0 = children.get_column("ts").min()
    # Only the packed key and the value are grouped (sorting them, not every column).
    work = work.select(pack_key_expr(spec).alias("_k"), "value")
    grouped = None
    if not percentiles:
        grouped = segment_stats(
            work.get_column("_k"), work.get_column("value"), ["sum", "max", "min", "mean", "n"]
        )
    if grouped is None:
        grouped, _ = group_by_packed_key(work, "_k", aggs, time_aware=False)
    out = grouped.with_columns(unpack_key_exprs(spec, "_k"))
    return out.with_columns(
        (pl.lit(t0, dtype=ts_dtype) + pl.duration(milliseconds=pl.col("_t"))).alias("ts")
    ).drop("_k", "_t")


def _primary(out: pl.DataFrame) -> pl.Expr:
    # The choice is made once per distinct metric name (few), then applied by membership
    # tests on the metric column, not by a per-row cast and string lookup.
    lookup = {name: m.aggregate for name, m in metrics().items()}
    present = out.get_column("metric").unique().cast(pl.String).drop_nulls().to_list()
    chosen = {name: lookup.get(name, "sum") for name in present}

    def having(*aggregates: str) -> pl.Expr:
        return pl.col("metric").is_in([n for n, a in chosen.items() if a in aggregates])

    return (
        pl.when(having("max"))
        .then(pl.col("max"))
        .when(having("min"))
        .then(pl.col("min"))
        .when(having("mean", "last"))
        .then(pl.col("mean"))
        .otherwise(pl.col("sum"))
    )


def rollup(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    to: str,
    queue_nodes: pl.DataFrame | None = None,
    percentiles: Sequence[float] = (0.5, 0.95, 0.99),
) -> pl.DataFrame:
    """Roll children up to one topology level.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Canonical (or windowed) long frame; String or Categorical columns.
    to : {"topic", "consumer_group", "vhost", "node", "cluster"}
        Target level.
    queue_nodes : polars.DataFrame, optional
        For ``to="node"``: columns ``cluster``, ``entity`` (queue id) and
        ``node`` naming the node that hosts each queue.
    percentiles : sequence of float, default (0.5, 0.95, 0.99)
        Percentiles across children to add as ``p50``-style columns.

    Returns
    -------
    polars.DataFrame
        ``ts, provider, cluster, level, entity, metric, value, source`` and
        ``sum, max, min, mean, n`` plus the percentile columns, grouped by
        cluster, entity and metric and in time order within each.

    Raises
    ------
    ParameterError
        For an unknown target or a missing ``queue_nodes`` table.
    SchemaError
        If a canonical column is missing.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> parts = pl.DataFrame({"ts": t, "provider": "kafka", "cluster": "c", "level": "partition",
    ...     "entity": ["orders/0", "orders/1", "billing/orders/0", "billing/orders/1"],
    ...     "metric": ["messages_in_per_s"] * 2 + ["consumer_lag_messages"] * 2,
    ...     "value": [10.0, 30.0, 5.0, 70.0]})
    >>> rollup(parts, to="topic", percentiles=()).select("entity", "value", "max").rows()
    [('orders', 40.0, 30.0)]
    >>> rollup(parts, to="consumer_group", percentiles=()).select("entity", "value", "max").rows()
    [('billing/orders', 75.0, 70.0)]
    """
    if to not in ROLLUP_TARGETS:
        raise ParameterError("to", allowed=f"one of {ROLLUP_TARGETS}", received=to)
    data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    for col in _NEEDED:
        if col not in data.columns:
            raise SchemaError(col, f"rollup needs canonical column {col!r}; frame has {data.columns}")
    if to == "cluster":
        children = _cluster_children(data)
        source = "rollup:cluster"
    elif to == "node":
        if queue_nodes is None:
            raise ParameterError("queue_nodes", allowed="a frame with cluster, entity, node", received=None)
        queues = data.filter(pl.col("level") == "queue")
        table = queue_nodes.select(
            pl.col("cluster").cast(queues.schema["cluster"]),
            pl.col("entity").cast(queues.schema["entity"]),
            pl.col("node").cast(pl.String).alias("parent"),
        )
        children = queues.join(table, on=["cluster", "entity"], how="inner")
        source = "rollup:queue->node"
    else:
        child_level = "queue" if to == "vhost" else "partition"
        children = _attach_parent(data, to, child_level)
        source = f"rollup:{child_level}->{to}"
    out = _aggregate(children, percentiles)
    stats = [
        "sum",
        "max",
        "min",
        "mean",
        "n",
        *(c for c in out.columns if c.startswith("p") and c[1:2].isdigit()),
    ]
    return out.with_columns(
        _primary(out).alias("value"),
        pl.lit(to).alias("level"),
        pl.col("parent").cast(pl.String).alias("entity"),
        pl.lit(source).alias("source"),
    ).select("ts", "provider", "cluster", "level", "entity", "metric", "value", "source", *stats)


def rollup_topology(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    queue_nodes: pl.DataFrame | None = None,
    percentiles: Sequence[float] = (0.5, 0.95, 0.99),
) -> pl.DataFrame:
    """Every rollup the frame supports, concatenated.

    Topic, consumer-group and vhost rollups are made when their children are
    present, node rollups when ``queue_nodes`` is given, and a cluster rollup
    always.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Canonical (or windowed) long frame.
    queue_nodes : polars.DataFrame, optional
        Queue -> node table (see :func:`rollup`).
    percentiles : sequence of float, default (0.5, 0.95, 0.99)
        Percentiles across children.

    Returns
    -------
    polars.DataFrame
        The rollup frames stacked (columns as in :func:`rollup`).

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, UTC
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> q = pl.DataFrame({"ts": t, "provider": "rabbitmq", "cluster": "r", "level": "queue",
    ...     "entity": ["a", "shop/b", "shop/c"], "metric": "queue_depth_messages", "value": [1.0, 2.0, 3.0]})
    >>> rollup_topology(q, percentiles=()).select("level", "entity", "value").rows()
    [('vhost', '/', 1.0), ('vhost', 'shop', 5.0), ('cluster', 'r', 6.0)]
    """
    data = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    levels = set(data.get_column("level").unique().cast(pl.String).to_list())  # distinct first, then cast
    targets = []
    if "partition" in levels:
        targets += ["topic", "consumer_group"]
    if "queue" in levels:
        targets.append("vhost")
        if queue_nodes is not None:
            targets.append("node")
    targets.append("cluster")
    if not percentiles and "partition" in levels:
        # Without percentiles the cluster rollup of partition metrics composes exactly from the
        # topic and group rollups (sum of sums, max of maxes, ...): far fewer rows to group.
        parts = _in_threads(data, targets[:-1], queue_nodes, ())
        parts.append(_cluster_composed(data, parts[0], parts[1]))
    else:
        parts = _in_threads(data, targets, queue_nodes, percentiles)
    parts = [p for p in parts if not p.is_empty()]
    if not parts:
        return rollup(data, to="cluster", percentiles=percentiles)
    return pl.concat(parts, how="vertical_relaxed")


def _in_threads(
    data: pl.DataFrame, targets: Sequence[str], queue_nodes: pl.DataFrame | None, percentiles: Sequence[float]
) -> list[pl.DataFrame]:
    """The rollups to ``targets``, two at a time (in target order).

    They are independent; Polars and NumPy release the GIL, and much of a
    rollup (segment reductions, sorted group-bys) runs on one core, so two
    threads keep both cores of a small machine busy -- at about twice the
    transient memory, so it is off (:data:`_PARALLEL_TARGETS`) unless the
    caller has memory to spare; the benchmark pipeline instead runs its
    independent 1- and 5-minute branches side by side.
    """
    if len(targets) < 2 or not _PARALLEL_TARGETS:
        return [rollup(data, to=t, queue_nodes=queue_nodes, percentiles=percentiles) for t in targets]
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(rollup, data, to=t, queue_nodes=queue_nodes, percentiles=percentiles) for t in targets
        ]
        return [f.result() for f in futures]


def _cluster_composed(data: pl.DataFrame, topics: pl.DataFrame, groups: pl.DataFrame) -> pl.DataFrame:
    """Cluster rollup: partition metrics from their topic/group rollups, the rest directly."""
    finest = _finest_levels(data)
    partition_metrics = finest.get("partition", [])
    partials = pl.concat([topics, groups], how="vertical_relaxed").filter(
        pl.col("metric").is_in(partition_metrics)
    )
    composed = (
        partials.group_by("provider", "cluster", "metric", "ts")
        .agg(
            pl.col("sum").sum().alias("sum"),
            pl.col("max").max().alias("max"),
            pl.col("min").min().alias("min"),
            pl.col("n").sum().alias("n"),
        )
        .with_columns((pl.col("sum") / pl.col("n")).alias("mean"))
    )
    composed = composed.with_columns(
        _primary(composed).alias("value"),
        pl.lit("cluster").alias("level"),
        pl.col("cluster").cast(pl.String).alias("entity"),
        pl.lit("rollup:cluster").alias("source"),
    ).select(
        "ts",
        "provider",
        "cluster",
        "level",
        "entity",
        "metric",
        "value",
        "source",
        "sum",
        "max",
        "min",
        "mean",
        "n",
    )
    rest_children = _cluster_children(data, skip_levels=("partition",), finest=finest)
    if rest_children.is_empty():
        return composed.sort("cluster", "metric", "ts")
    rest = _aggregate(rest_children, ())
    rest = rest.with_columns(
        _primary(rest).alias("value"),
        pl.lit("cluster").alias("level"),
        pl.col("parent").cast(pl.String).alias("entity"),
        pl.lit("rollup:cluster").alias("source"),
    ).select(composed.columns)
    return pl.concat([composed, rest], how="vertical_relaxed").sort("cluster", "metric", "ts")


def topology_edges(entities: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Parent -> child edges between the entities of a dataset, from their canonical ids.

    Edges: cluster -> topic / broker / node / queue; topic -> partition
    (``orders`` -> ``orders/3``); topic -> consumer group reading it
    (``orders`` -> ``billing/orders``); consumer group -> its group partitions
    (``billing/orders`` -> ``billing/orders/3``). Only edges whose parent is
    itself an entity of the dataset are returned.

    Parameters
    ----------
    entities : polars.DataFrame or polars.LazyFrame
        ``provider, cluster, level, entity`` (e.g. the app's entity index).

    Returns
    -------
    polars.DataFrame
        ``provider, cluster, parent_level, parent, child_level, child``.

    Examples
    --------
    >>> import polars as pl
    >>> idx = pl.DataFrame({"provider": "kafka", "cluster": "k",
    ...     "level": ["cluster", "topic", "partition", "consumer_group", "partition"],
    ...     "entity": ["k", "orders", "orders/0", "billing/orders", "billing/orders/0"]})
    >>> topology_edges(idx).select("parent", "child").rows()
    [('billing/orders', 'billing/orders/0'), ('k', 'orders'), ('orders', 'billing/orders'), ('orders', 'orders/0')]
    """
    idx = (
        entities.lazy()
        .select(*(pl.col(c).cast(pl.String) for c in ("provider", "cluster", "level", "entity")))
        .unique()
        .collect()
    )
    e, level = pl.col("entity"), pl.col("level")
    slashes = e.str.count_matches("/")
    strip_last = e.str.replace(r"/[^/]*$", "")
    parent = (
        pl.when((level == "partition") & (slashes == 1))
        .then(pl.struct(pl.lit("topic").alias("pl"), strip_last.alias("p")))
        .when((level == "partition") & (slashes >= 2))
        .then(pl.struct(pl.lit("consumer_group").alias("pl"), strip_last.alias("p")))
        .when(level == "consumer_group")
        .then(pl.struct(pl.lit("topic").alias("pl"), e.str.extract(r"([^/]+)$").alias("p")))
        .when(level.is_in(["topic", "broker", "node", "queue"]))
        .then(pl.struct(pl.lit("cluster").alias("pl"), pl.col("cluster").alias("p")))
    )
    edges = (
        idx.with_columns(parent.alias("_parent"))
        .filter(pl.col("_parent").is_not_null())
        .select(
            "provider",
            "cluster",
            pl.col("_parent").struct.field("pl").alias("parent_level"),
            pl.col("_parent").struct.field("p").alias("parent"),
            pl.col("level").alias("child_level"),
            pl.col("entity").alias("child"),
        )
    )
    known = idx.select(
        "provider", "cluster", pl.col("level").alias("parent_level"), pl.col("entity").alias("parent")
    )
    return edges.join(known, on=["provider", "cluster", "parent_level", "parent"], how="semi").sort(
        "provider", "cluster", "parent", "child"
    )
