"""Consumer lag status with Burrow's rules, and lag in seconds by interpolation.

Burrow (``reference/exporters.md`` §5, linkedin/Burrow ``core/internal/evaluator``)
judges each partition of a consumer group from a short window of its offset
commits. The rules, in evaluation order (§5.3):

0. completeness gate: a window less complete than ``minimum_complete``, or an
   empty one, is OK;
1. current lag ``L <= allowed_lag``: OK, nothing else is checked;
2. STOP: ``now - last_commit > last_commit - first_commit`` (strictly), unless
   some recent broker log-end offset is ``<= last committed offset`` (the
   consumer was caught up within the broker-offset window);
3. REWIND: a commit lower than the one before it whose pre-rewind offset is
   never reached again later in the window (with ``rewind_recovery=False``
   any decrease is a REWIND, as before Burrow PR #716);
4. zero-lag escape: some commit's stored lag ``<= allowed_lag``: OK;
5. STALL: every commit has the same offset;
6. WARN: the stored lag never decreases between commits that have one;
7. otherwise OK.

The group status is the worst partition status with STOP/STALL/REWIND
reported as ERR (§5.4). Status codes follow Burrow's
``StatusConstant``: 0 NOTFOUND, 1 OK, 2 WARN, 3 ERR, 4 STOP, 5 STALL, 6 REWIND.

:func:`lag_seconds` reproduces seglo/kafka-lag-exporter's time-lag estimate
(§6.2): a per-partition lookup table of (log-end offset, time) points, flat
stretches compressed, at most ``table_size`` points; a committed offset is
located between the newest pair of points that brackets it (or extrapolated
along the whole table when it is older than the oldest point) and the time
the log end was there is interpolated linearly.

Everything is computed with Polars expressions over many partitions at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

import polars as pl

from workbench.errors import ParameterError, SchemaError

__all__ = [
    "GROUP_STATUSES",
    "STATUS_CODES",
    "STATUS_DTYPE",
    "commit_windows",
    "consumer_status_frame",
    "evaluate_partitions",
    "group_status",
    "lag_seconds",
    "lag_status_timeline",
    "status_over_time",
]

logger = logging.getLogger(__name__)

#: Burrow's StatusConstant values.
STATUS_CODES: dict[str, int] = {
    "NOTFOUND": 0,
    "OK": 1,
    "WARN": 2,
    "ERR": 3,
    "STOP": 4,
    "STALL": 5,
    "REWIND": 6,
}
STATUS_DTYPE = pl.Enum(list(STATUS_CODES))
#: A group is only ever one of these.
GROUP_STATUSES: tuple[str, ...] = ("NOTFOUND", "OK", "WARN", "ERR")

_CODE_TO_STATUS = pl.DataFrame(
    {"status_code": list(STATUS_CODES.values()), "status": list(STATUS_CODES)},
    schema={"status_code": pl.Int8, "status": STATUS_DTYPE},
)


def _need(frame: pl.DataFrame | pl.LazyFrame, columns: Sequence[str], what: str) -> None:
    names = frame.collect_schema().names()
    for c in columns:
        if c not in names:
            raise SchemaError(c, f"{what} needs column {c!r}; it has {names}")


def _ms(expr: pl.Expr) -> pl.Expr:
    return expr.dt.epoch("ms").cast(pl.Float64)


def evaluate_partitions(
    commits: pl.DataFrame | pl.LazyFrame,
    current: pl.DataFrame | pl.LazyFrame,
    *,
    keys: Sequence[str],
    allowed_lag: float = 0.0,
    intervals: int | None = None,
    minimum_complete: float = 0.0,
    rewind_recovery: bool = True,
) -> pl.DataFrame:
    """Burrow partition status for many commit windows at once.

    Parameters
    ----------
    commits : polars.DataFrame or polars.LazyFrame
        One row per stored commit: ``keys``, ``commit_ts`` (Datetime),
        ``offset``, ``lag`` (lag at commit time, may be null) and optionally
        ``order`` (commit ordering; defaults to ``commit_ts``).
    current : polars.DataFrame or polars.LazyFrame
        One row per window: ``keys``, ``current_lag``, ``now`` (Datetime) and
        optionally ``broker_offsets`` (list of recent log-end offsets).
    keys : sequence of str
        Columns identifying one window (e.g. cluster, group, topic, partition,
        and an evaluation time when evaluating a history).
    allowed_lag : float, default 0
        Burrow's ``allowed-lag``.
    intervals : int, optional
        Ring size; only the newest ``intervals`` commits are used and
        ``complete = stored / intervals``. None uses every commit given and
        reports ``complete = 1``.
    minimum_complete : float, default 0
        Burrow's ``minimum-complete`` gate.
    rewind_recovery : bool, default True
        Treat a rewind as recovered when a later commit reaches the
        pre-rewind offset (Burrow PR #716). False flags any decrease.

    Returns
    -------
    polars.DataFrame
        ``keys`` plus ``status`` (Enum), ``status_code``, ``complete``,
        ``current_lag``, ``start_offset``, ``end_offset``, ``commits`` and the
        raw rule flags ``lag_always_not_zero``, ``rewind``,
        ``rewind_recovered``, ``stopped``, ``stalled``, ``lag_not_decreasing``,
        ``recent_lag_zero`` (so a status can be explained). Windows without
        commits are OK with ``commits = 0``.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, UTC
    >>> t = [datetime(2024, 1, 1, 0, m, tzinfo=UTC) for m in range(5)]
    >>> commits = pl.DataFrame({"p": 0, "commit_ts": t, "offset": [10.0] * 5,
    ...                         "lag": [5.0, 6.0, 7.0, 8.0, 9.0]})
    >>> current = pl.DataFrame({"p": [0], "current_lag": [9.0],
    ...                         "now": [datetime(2024, 1, 1, 0, 5, tzinfo=UTC)]})
    >>> evaluate_partitions(commits, current, keys=["p"])["status"].to_list()
    ['STALL']
    """
    if allowed_lag < 0:
        raise ParameterError("allowed_lag", allowed="a number >= 0", received=allowed_lag)
    if intervals is not None and intervals < 1:
        raise ParameterError("intervals", allowed="a positive integer or None", received=intervals)
    keys = list(keys)
    _need(commits, [*keys, "commit_ts", "offset", "lag"], "commits")
    _need(current, [*keys, "current_lag", "now"], "current")
    commits = commits.lazy()
    current = current.lazy()
    has_order = "order" in commits.collect_schema().names()
    order = ["order"] if has_order else ["commit_ts"]
    window = commits.sort([*keys, *order])
    if intervals is not None:
        window = window.group_by(keys, maintain_order=True).tail(intervals)

    off = pl.col("offset").cast(pl.Float64)
    lag = pl.col("lag").cast(pl.Float64)
    dec = (off < off.shift(1)).fill_null(False)
    seen_dec = dec.cum_sum() > 0
    after_first_dec = seen_dec.shift(1).fill_null(False)
    lag_known = lag.drop_nulls()
    stats = window.group_by(keys).agg(
        pl.len().alias("commits"),
        _ms(pl.col("commit_ts").first()).alias("_t_first"),
        _ms(pl.col("commit_ts").last()).alias("_t_last"),
        off.first().alias("start_offset"),
        off.last().alias("end_offset"),
        dec.any().alias("rewind"),
        (off.filter(after_first_dec).max() >= off.filter(~seen_dec).max())
        .fill_null(False)
        .alias("rewind_recovered"),
        (off.min() == off.max()).alias("stalled"),
        (lag_known == 0).any().not_().alias("lag_always_not_zero"),
        (lag_known <= allowed_lag).any().alias("_some_lag_allowed"),
        (lag_known.diff() < 0).any().not_().alias("lag_not_decreasing"),
    )
    cur_names = current.collect_schema().names()
    broker = pl.col("broker_offsets") if "broker_offsets" in cur_names else pl.lit(None, pl.List(pl.Float64))
    joined = current.select(
        *keys,
        pl.col("current_lag").cast(pl.Float64).clip(lower_bound=0.0).alias("current_lag"),
        _ms(pl.col("now")).alias("_now"),
        broker.cast(pl.List(pl.Float64)).alias("_broker"),
    ).join(stats, on=keys, how="left", nulls_equal=True)

    n = pl.col("commits").fill_null(0)
    complete = (
        (n.cast(pl.Float64) / intervals).clip(upper_bound=1.0) if intervals is not None else pl.lit(1.0)
    )
    stopped = (pl.col("_now") - pl.col("_t_last")) > (pl.col("_t_last") - pl.col("_t_first"))
    recent_zero = (pl.col("_broker").list.min() <= pl.col("end_offset")).fill_null(False)
    rewind_bad = pl.col("rewind") & (~pl.col("rewind_recovered") if rewind_recovery else pl.lit(True))
    code = (
        pl.when((n == 0) | (complete < minimum_complete))
        .then(STATUS_CODES["OK"])
        .when(pl.col("current_lag") <= allowed_lag)
        .then(STATUS_CODES["OK"])
        .when(stopped & ~recent_zero)
        .then(STATUS_CODES["STOP"])
        .when(rewind_bad)
        .then(STATUS_CODES["REWIND"])
        .when(pl.col("_some_lag_allowed").fill_null(False))
        .then(STATUS_CODES["OK"])
        .when(pl.col("stalled"))
        .then(STATUS_CODES["STALL"])
        .when(pl.col("lag_not_decreasing"))
        .then(STATUS_CODES["WARN"])
        .otherwise(STATUS_CODES["OK"])
        .cast(pl.Int8)
    )
    out = joined.with_columns(
        complete.alias("complete"),
        n.alias("commits"),
        stopped.fill_null(False).alias("stopped"),
        recent_zero.alias("recent_lag_zero"),
        code.alias("status_code"),
    ).join(_CODE_TO_STATUS.lazy(), on="status_code", how="left")
    return out.select(
        *keys,
        "status",
        "status_code",
        "complete",
        "current_lag",
        "start_offset",
        "end_offset",
        "commits",
        "lag_always_not_zero",
        "rewind",
        "rewind_recovered",
        "stopped",
        "stalled",
        "lag_not_decreasing",
        "recent_lag_zero",
    ).collect()


def group_status(partitions: pl.DataFrame, *, group_keys: Sequence[str]) -> pl.DataFrame:
    """Roll partition statuses up to consumer-group statuses (Burrow §5.4).

    Parameters
    ----------
    partitions : polars.DataFrame
        Output of :func:`evaluate_partitions`.
    group_keys : sequence of str
        Columns identifying one group (and evaluation time, if any).

    Returns
    -------
    polars.DataFrame
        ``group_keys`` plus ``status`` (OK/WARN/ERR), ``status_code``,
        ``complete`` (fraction of partitions whose window is full),
        ``total_lag``, ``max_lag``, ``partition_count`` and ``worst_partition``
        (the partition status that decided the group).

    Examples
    --------
    >>> import polars as pl
    >>> parts = pl.DataFrame({"g": ["a", "a"], "status_code": [1, 5], "complete": [1.0, 0.5],
    ...                       "current_lag": [0.0, 40.0]})
    >>> group_status(parts, group_keys=["g"]).select("status", "total_lag").rows()
    [('ERR', 40.0)]
    """
    group_keys = list(group_keys)
    _need(partitions, [*group_keys, "status_code", "complete", "current_lag"], "partitions")
    err = STATUS_CODES["ERR"]
    grouped = partitions.group_by(group_keys, maintain_order=True).agg(
        pl.col("status_code").max().alias("_worst"),
        (pl.col("complete") >= 1.0).mean().alias("complete"),
        pl.col("current_lag").sum().alias("total_lag"),
        pl.col("current_lag").max().alias("max_lag"),
        pl.len().alias("partition_count"),
    )
    codes = _CODE_TO_STATUS.rename({"status": "worst_partition", "status_code": "_worst"})
    return (
        grouped.with_columns(pl.col("_worst").cast(pl.Int8))
        .join(codes, on="_worst", how="left")
        .with_columns(pl.min_horizontal(pl.col("_worst"), pl.lit(err)).cast(pl.Int8).alias("status_code"))
        .join(_CODE_TO_STATUS, on="status_code", how="left")
        .select(
            *group_keys,
            "status",
            "status_code",
            "complete",
            "total_lag",
            "max_lag",
            "partition_count",
            "worst_partition",
        )
    )


def _offsets(frame: pl.DataFrame | pl.LazyFrame, keys: Sequence[str], what: str) -> pl.LazyFrame:
    _need(frame, [*keys, "ts", "offset"], what)
    # kafka_exporter's -1 means "nothing committed": not an offset.
    return (
        frame.lazy()
        .select(*keys, "ts", pl.col("offset").cast(pl.Float64))
        .filter(pl.col("offset") >= 0)
        .sort([*keys, "ts"])
    )


def commit_windows(
    committed: pl.DataFrame | pl.LazyFrame,
    log_end: pl.DataFrame | pl.LazyFrame,
    *,
    keys: Sequence[str],
    partition_keys: Sequence[str],
    every: str | timedelta,
    intervals: int = 10,
    commit_mode: str = "changes",
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Build Burrow commit windows at every ``every`` from scraped offset histories.

    Parameters
    ----------
    committed : polars.DataFrame or polars.LazyFrame
        Committed offsets: ``keys``, ``ts``, ``offset`` (``-1`` rows ignored).
    log_end : polars.DataFrame or polars.LazyFrame
        Log-end offsets: ``partition_keys``, ``ts``, ``offset``.
    keys : sequence of str
        Columns of one group partition (e.g. cluster, group, topic, partition).
    partition_keys : sequence of str
        The subset of ``keys`` naming the topic partition.
    every : str or timedelta
        Evaluation step, e.g. ``"5m"``.
    intervals : int, default 10
        Burrow's ring size: commits per window, and recent broker offsets used
        for the STOP exception.
    commit_mode : {"changes", "samples"}
        Scrapes cannot see a commit that repeats the offset. ``"changes"``
        (default) reads a run of equal scraped offsets as one commit at the
        run's first timestamp, so a consumer that stopped shows as STOP;
        ``"samples"`` reads every scrape as a commit, so the same consumer
        shows as STALL.

    Returns
    -------
    tuple of polars.LazyFrame
        ``(commits, current)`` in the layout :func:`evaluate_partitions` takes,
        keyed by ``keys`` plus ``eval_ts``.
    """
    if commit_mode not in ("changes", "samples"):
        raise ParameterError("commit_mode", allowed="'changes' or 'samples'", received=commit_mode)
    if intervals < 1:
        raise ParameterError("intervals", allowed="a positive integer", received=intervals)
    keys, pkeys = list(keys), list(partition_keys)
    if not set(pkeys) <= set(keys):
        raise ParameterError("partition_keys", allowed=f"a subset of keys {keys}", received=pkeys)
    commits = _offsets(committed, keys, "committed")
    if commit_mode == "changes":
        commits = commits.filter(pl.col("offset").ne_missing(pl.col("offset").shift(1)).over(keys))
    ends = _offsets(log_end, pkeys, "log_end").with_columns(
        pl.col("offset").rolling_min(intervals, min_samples=1).over(pkeys).alias("_recent_min")
    )
    commits = (
        commits.join_asof(
            ends.select(*pkeys, "ts", pl.col("offset").alias("_end")),
            on="ts",
            by=pkeys,
            check_sortedness=False,
        )
        .with_columns(
            (pl.col("_end") - pl.col("offset")).clip(lower_bound=0.0).alias("lag"),
            pl.int_range(pl.len()).over(keys).alias("_i"),
        )
        .drop("_end")
    )
    ts_dtype = commits.collect_schema()["ts"]
    lo, hi = (
        pl.concat([commits.select("ts"), ends.select("ts")])
        .select(pl.col("ts").min().dt.truncate(every).alias("lo"), pl.col("ts").max().alias("hi"))
        .collect()
        .row(0)
    )
    times = [] if lo is None else pl.datetime_range(lo, hi, every, closed="both", eager=True).to_list()
    grid = pl.LazyFrame({"eval_ts": times}, schema={"eval_ts": ts_dtype})
    pairs = (
        commits.select(keys)
        .unique()
        .join(grid, how="cross")
        .sort([*keys, "eval_ts"])
        .join_asof(
            commits.select(
                *keys,
                pl.col("ts").alias("eval_ts"),
                pl.col("_i").alias("_last"),
                pl.col("offset").alias("_committed"),
            ),
            on="eval_ts",
            by=keys,
            check_sortedness=False,
        )
        .filter(pl.col("_last").is_not_null())
        .join_asof(
            ends.select(*pkeys, pl.col("ts").alias("eval_ts"), pl.col("offset").alias("_end"), "_recent_min"),
            on="eval_ts",
            by=pkeys,
            check_sortedness=False,
        )
    )
    current = pairs.select(
        *keys,
        "eval_ts",
        (pl.col("_end") - pl.col("_committed")).clip(lower_bound=0.0).fill_null(0.0).alias("current_lag"),
        pl.col("eval_ts").alias("now"),
        pl.concat_list(pl.col("_recent_min")).alias("broker_offsets"),
    )
    window = (
        pairs.select(
            *keys,
            "eval_ts",
            pl.int_ranges((pl.col("_last") - intervals + 1).clip(lower_bound=0), pl.col("_last") + 1).alias(
                "_i"
            ),
        )
        .explode("_i")
        .join(commits, on=[*keys, "_i"])
        .select(
            *keys, "eval_ts", pl.col("ts").alias("commit_ts"), "offset", "lag", pl.col("_i").alias("order")
        )
    )
    return window, current


def status_over_time(
    committed: pl.DataFrame | pl.LazyFrame,
    log_end: pl.DataFrame | pl.LazyFrame,
    *,
    keys: Sequence[str],
    partition_keys: Sequence[str],
    group_keys: Sequence[str],
    every: str | timedelta = "5m",
    intervals: int = 10,
    allowed_lag: float = 0.0,
    commit_mode: str = "changes",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Partition and group statuses at every ``every`` over an offset history.

    Parameters
    ----------
    committed, log_end : polars.DataFrame or polars.LazyFrame
        See :func:`commit_windows`.
    keys, partition_keys : sequence of str
        See :func:`commit_windows`.
    group_keys : sequence of str
        The subset of ``keys`` naming one group (status rolls up over the rest).
    every : str or timedelta, default "5m"
        Evaluation step.
    intervals : int, default 10
        Commits per window (Burrow ``intervals``).
    allowed_lag : float, default 0
        Burrow ``allowed-lag``.
    commit_mode : {"changes", "samples"}
        See :func:`commit_windows`.

    Returns
    -------
    tuple of polars.DataFrame
        ``(partitions, groups)``, both with an ``eval_ts`` column.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in range(30)]
    >>> end = pl.DataFrame({"p": 0, "ts": t, "offset": [100.0 * m for m in range(30)]})
    >>> com = pl.DataFrame({"g": "g", "p": 0, "ts": t,
    ...                     "offset": [min(100.0 * m, 1000.0) for m in range(30)]})
    >>> parts, groups = status_over_time(com, end, keys=["g", "p"], partition_keys=["p"],
    ...                                  group_keys=["g"], every="10m")
    >>> groups.select("eval_ts", "status").rows()[-1][1]
    'ERR'
    """
    window, current = commit_windows(
        committed,
        log_end,
        keys=keys,
        partition_keys=partition_keys,
        every=every,
        intervals=intervals,
        commit_mode=commit_mode,
    )
    wkeys = [*keys, "eval_ts"]
    parts = evaluate_partitions(window, current, keys=wkeys, intervals=intervals, allowed_lag=allowed_lag)
    parts = parts.sort(wkeys)
    groups = group_status(parts, group_keys=[*group_keys, "eval_ts"]).sort([*group_keys, "eval_ts"])
    return parts, groups


def lag_seconds(
    log_end: pl.DataFrame | pl.LazyFrame,
    committed: pl.DataFrame | pl.LazyFrame,
    *,
    keys: Sequence[str],
    partition_keys: Sequence[str],
    table_size: int = 60,
) -> pl.DataFrame:
    """Time lag of committed offsets, by kafka-lag-exporter's interpolation (§6.2).

    Parameters
    ----------
    log_end : polars.DataFrame or polars.LazyFrame
        Log-end offset polls: ``partition_keys``, ``ts``, ``offset``.
    committed : polars.DataFrame or polars.LazyFrame
        Committed offsets to look up: ``keys``, ``ts`` (the poll time T),
        ``offset`` (C). ``-1`` rows are ignored.
    keys : sequence of str
        Columns of one group partition.
    partition_keys : sequence of str
        The subset of ``keys`` naming the topic partition.
    table_size : int, default 60
        Points kept per partition (the exporter's in-memory default).

    Returns
    -------
    polars.DataFrame
        ``keys``, ``ts``, ``offset`` and ``lag_seconds``: 0 when C is at (or
        past) the newest log-end point, null (the exporter's NaN) with fewer
        than two table points, otherwise ``(T - t(C))`` in seconds, where
        ``t(C)`` interpolates the newest bracketing pair of points, or
        extrapolates along the oldest and newest points when C is older than
        the table.

    Notes
    -----
    Points are refused when their time does not advance or their offset is
    lower than the last accepted one; a point whose offset equals the two
    before it replaces the last instead of being appended. The table at T is
    the compressed history up to T; its size is counted on that compressed
    history, so a flat run still open at T counts its first and newest point.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=30 * i) for i in range(5)]
    >>> end = pl.DataFrame({"p": 0, "ts": t, "offset": [0.0, 300.0, 600.0, 900.0, 1200.0]})
    >>> com = pl.DataFrame({"g": "x", "p": 0, "ts": [t[4]], "offset": [450.0]})
    >>> lag_seconds(end, com, keys=["g", "p"], partition_keys=["p"])["lag_seconds"].to_list()
    [75.0]
    """
    if table_size < 2:
        raise ParameterError("table_size", allowed="an integer >= 2", received=table_size)
    keys, pkeys = list(keys), list(partition_keys)
    ends = _offsets(log_end, pkeys, "log_end")
    # Refuse points that do not advance in time or go below the last accepted offset.
    prev_max = pl.col("offset").cum_max().shift(1).over(pkeys)
    ends = ends.filter(
        (pl.col("offset") >= prev_max).fill_null(True)
        & pl.col("ts").ne_missing(pl.col("ts").shift(1)).over(pkeys)
    )
    off, prev, nxt = pl.col("offset"), pl.col("offset").shift(1), pl.col("offset").shift(-1)
    kept = ends.filter(~((off == prev) & (off == nxt)).over(pkeys).fill_null(False)).with_columns(
        pl.int_range(pl.len()).over(pkeys).alias("_k")
    )
    look = _offsets(committed, keys, "committed").with_columns(pl.col("ts").alias("_T"))
    look = look.join_asof(
        ends.select(*pkeys, "ts", pl.col("offset").alias("_new_off"), pl.col("ts").alias("_new_t")),
        on="ts",
        by=pkeys,
        check_sortedness=False,
    ).join_asof(
        kept.select(*pkeys, "ts", pl.col("_k").alias("_j"), pl.col("ts").alias("_j_t")),
        on="ts",
        by=pkeys,
        check_sortedness=False,
    )
    extra = (pl.col("_new_t") > pl.col("_j_t")).cast(pl.Int64)
    look = look.with_columns(
        (pl.col("_j") + 1 + extra).alias("_count"),
        (pl.col("_j") + 1 + extra - table_size).clip(lower_bound=0).alias("_start"),
    ).sort([*pkeys, "offset"])
    look = look.join_asof(
        kept.select(*pkeys, pl.col("offset").alias("_kc_off"), pl.col("_k").alias("_kc")),
        left_on="offset",
        right_on="_kc_off",
        by=pkeys,
        check_sortedness=False,
    )
    point = kept.select(*pkeys, "_k", pl.col("offset").alias("_off"), pl.col("ts").alias("_t"))
    extrapolate = pl.col("_kc").is_null() | (pl.col("_kc") < pl.col("_start"))
    look = look.with_columns(
        pl.when(extrapolate).then(pl.col("_start")).otherwise(pl.col("_kc")).alias("_lk"),
        pl.when(extrapolate | (pl.col("_kc") + 1 > pl.col("_j")))
        .then(None)
        .otherwise(pl.col("_kc") + 1)
        .alias("_rk"),
    )
    look = look.join(
        point.rename({"_k": "_lk", "_off": "_l_off", "_t": "_l_t"}), on=[*pkeys, "_lk"], how="left"
    ).join(point.rename({"_k": "_rk", "_off": "_r_off", "_t": "_r_t"}), on=[*pkeys, "_rk"], how="left")
    r_off = pl.coalesce("_r_off", "_new_off")
    r_t = _ms(pl.coalesce("_r_t", "_new_t"))
    l_t = _ms(pl.col("_l_t"))
    slope_den = r_off - pl.col("_l_off")
    t_c = r_t - (r_off - pl.col("offset")) * (r_t - l_t) / slope_den
    lag = (
        pl.when(pl.col("offset") >= pl.col("_new_off"))
        .then(0.0)
        .when(pl.col("_count").fill_null(0) < 2)
        .then(None)
        .when(slope_den <= 0)
        .then(None)
        .otherwise((_ms(pl.col("_T")) - t_c) / 1000.0)
    )
    return (
        look.with_columns(lag.alias("lag_seconds"))
        .select(*keys, "ts", "offset", "lag_seconds")
        .sort([*keys, "ts"])
        .collect()
    )


def consumer_status_frame(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    every: str | timedelta = "5m",
    intervals: int = 10,
    allowed_lag: float = 0.0,
    commit_mode: str = "changes",
) -> pl.DataFrame:
    """Burrow statuses as canonical ``consumer_status`` rows, from a canonical frame.

    Reads ``committed_offset`` (partition level, entity ``group/topic/p``) and
    ``log_end_offset`` (partition level, entity ``topic/p``) and evaluates
    :func:`status_over_time` every ``every``.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Canonical long frame.
    every : str or timedelta, default "5m"
        Evaluation step.
    intervals : int, default 10
        Commits per window (Burrow ``intervals``).
    allowed_lag : float, default 0
        Burrow ``allowed-lag``.
    commit_mode : {"changes", "samples"}
        See :func:`commit_windows`.

    Returns
    -------
    polars.DataFrame
        Canonical columns; ``metric = "consumer_status"``, value the status
        code; partition rows (entity ``group/topic/p``) and consumer-group rows
        (entity ``group/topic``, the Burrow group status of that topic's
        partitions). Empty when the offsets are not in the frame.
    """
    data = frame.lazy()
    offsets = (
        data.filter(pl.col("metric").cast(pl.String).is_in(["committed_offset", "log_end_offset"]))
        .with_columns(pl.col("metric", "entity", "cluster").cast(pl.String))
        .collect()
    )
    empty = pl.DataFrame(
        schema={
            "ts": pl.Datetime("ms", "UTC"),
            "provider": pl.String,
            "cluster": pl.String,
            "level": pl.String,
            "entity": pl.String,
            "metric": pl.String,
            "value": pl.Float64,
            "source": pl.String,
        }
    )
    committed = offsets.filter(pl.col("metric") == "committed_offset")
    log_end = offsets.filter(pl.col("metric") == "log_end_offset")
    if committed.is_empty() or log_end.is_empty():
        return empty
    e = pl.col("entity")
    committed = committed.select(
        pl.col("provider").cast(pl.String),
        "cluster",
        e.str.replace(r"/[^/]+/[^/]+$", "").alias("group"),
        e.str.extract(r"([^/]+)/[^/]+$").alias("topic"),
        e.str.extract(r"([^/]+)$").alias("partition"),
        "ts",
        pl.col("value").alias("offset"),
    )
    log_end = log_end.select(
        pl.col("provider").cast(pl.String),
        "cluster",
        e.str.extract(r"^(.*)/[^/]+$").alias("topic"),
        e.str.extract(r"([^/]+)$").alias("partition"),
        "ts",
        pl.col("value").alias("offset"),
    )
    pkeys = ["provider", "cluster", "topic", "partition"]
    keys = ["provider", "cluster", "group", "topic", "partition"]
    parts, groups = status_over_time(
        committed,
        log_end,
        keys=keys,
        partition_keys=pkeys,
        group_keys=["provider", "cluster", "group", "topic"],
        every=every,
        intervals=intervals,
        allowed_lag=allowed_lag,
        commit_mode=commit_mode,
    )
    source = pl.lit("derived:burrow")
    part_rows = parts.select(
        pl.col("eval_ts").alias("ts"),
        "provider",
        "cluster",
        pl.lit("partition").alias("level"),
        pl.concat_str("group", "topic", "partition", separator="/").alias("entity"),
        pl.lit("consumer_status").alias("metric"),
        pl.col("status_code").cast(pl.Float64).alias("value"),
        source.alias("source"),
    )
    group_rows = groups.select(
        pl.col("eval_ts").alias("ts"),
        "provider",
        "cluster",
        pl.lit("consumer_group").alias("level"),
        pl.concat_str("group", "topic", separator="/").alias("entity"),
        pl.lit("consumer_status").alias("metric"),
        pl.col("status_code").cast(pl.Float64).alias("value"),
        source.alias("source"),
    )
    out = pl.concat([part_rows, group_rows])
    return out.with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def lag_status_timeline(frame: pl.DataFrame | pl.LazyFrame, *, every: str | timedelta = "5m") -> pl.DataFrame:
    """Burrow status over time of every consumer group and group partition in a frame.

    Uses stored ``consumer_status`` rows when the frame has them (e.g. from
    Burrow's exporter), otherwise derives them with
    :func:`consumer_status_frame`.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Canonical long frame (typically one cluster of a dataset).
    every : str or timedelta, default "5m"
        Evaluation step when statuses are derived.

    Returns
    -------
    polars.DataFrame
        ``ts, level, entity, status`` (status names) and ``status_code``,
        sorted by entity and time.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t = [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in range(40)]
    >>> rows = pl.DataFrame({"ts": t * 2, "provider": "kafka", "cluster": "k", "level": "partition",
    ...     "entity": ["orders/0"] * 40 + ["billing/orders/0"] * 40,
    ...     "metric": ["log_end_offset"] * 40 + ["committed_offset"] * 40,
    ...     "value": [100.0 * m for m in range(40)] + [min(100.0 * m, 800.0) for m in range(40)],
    ...     "source": "x"})
    >>> out = lag_status_timeline(rows)
    >>> out.filter(pl.col("level") == "consumer_group")["status"].to_list()[-1]
    'ERR'
    """
    data = frame.lazy()
    stored = (
        data.filter(pl.col("metric").cast(pl.String) == "consumer_status")
        .select("ts", pl.col("level").cast(pl.String), pl.col("entity").cast(pl.String), "value")
        .collect()
    )
    if stored.is_empty():
        stored = consumer_status_frame(data, every=every).select("ts", "level", "entity", "value")
    codes = stored.with_columns(pl.col("value").round(0).cast(pl.Int8).alias("status_code"))
    return (
        codes.join(_CODE_TO_STATUS, on="status_code", how="left")
        .select("ts", "level", "entity", pl.col("status").cast(pl.String), "status_code")
        .sort("entity", "ts")
    )
