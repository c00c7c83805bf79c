"""Tumbling, hopping and sliding time windows over long metric frames.

A window reduces each series (``provider, cluster, level, entity, metric``)
over time. The value a window reports depends on what the metric *is*
(``workbench.catalog``):

* rates (kind ``counter`` or ``per_period``, stored as per-second rates) -> the
  **mean** rate over the window (which is total increase / window time when
  samples are evenly spaced);
* gauges and derived levels -> the **last** value in the window;
* status codes and alarms (``consumer_status``, ``memory_alarm``,
  ``disk_alarm``) -> the **max** (worst) in the window.

Extra statistics can be asked for as extra columns: ``n``, ``min``, ``max``,
``mean``, ``sum``, ``first``, ``last``, ``p50``, ``p95``, ``p99``.

* :func:`window_aggregate` -- tumbling windows (``period`` = ``every``) via a
  truncated-time group-by, or hopping windows (``period`` > ``every``) via
  ``group_by_dynamic``; windows are labelled by their start and are
  left-closed ``[start, start + period)``.
* :func:`sliding_window` -- a trailing window ending at every sample
  (``rolling_*_by``), the same row count as the input.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import TypeVar, cast

import numpy as np
import polars as pl

from workbench.catalog import metrics
from workbench.errors import ParameterError, SchemaError
from workbench.mapping.rates import pack_key_expr, series_key_spec, unpack_key_exprs

__all__ = [
    "SEGMENT_STATS",
    "STATS",
    "TIME_AGGREGATES",
    "segment_stats",
    "sliding_window",
    "time_aggregate_table",
    "window_aggregate",
]

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

#: Statistics :func:`window_aggregate` can add as columns.
STATS: tuple[str, ...] = ("n", "min", "max", "mean", "sum", "first", "last", "p50", "p95", "p99")
#: Per-metric overrides of the primary time aggregate (worst value wins).
TIME_AGGREGATES: dict[str, str] = {"consumer_status": "max", "memory_alarm": "max", "disk_alarm": "max"}
_SERIES = ("provider", "cluster", "level", "entity", "metric")
_DURATION = re.compile(r"^(\d+(ms|us|ns|s|m|h|d|w))+$")


def _primary(kind: str, name: str) -> str:
    if name in TIME_AGGREGATES:
        return TIME_AGGREGATES[name]
    return "mean" if kind in ("counter", "per_period") else "last"


def time_aggregate_table() -> pl.DataFrame:
    """Return the primary time aggregate of every catalogue metric.

    Returns
    -------
    polars.DataFrame
        Columns ``metric`` and ``time_aggregate`` (``mean``, ``last`` or ``max``).

    Examples
    --------
    >>> t = time_aggregate_table()
    >>> dict(t.filter(t["metric"].is_in(["messages_in_per_s", "queue_depth_messages"])).iter_rows())
    {'messages_in_per_s': 'mean', 'queue_depth_messages': 'last'}
    """
    cat = metrics()
    return pl.DataFrame(
        {"metric": list(cat), "time_aggregate": [_primary(m.kind, n) for n, m in cat.items()]}
    )


def _check_duration(name: str, value: str | timedelta) -> None:
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ParameterError(name, allowed="a positive duration", received=value)
        return
    if not isinstance(value, str) or not _DURATION.match(value) or not re.search(r"[1-9]", value):
        raise ParameterError(
            name, allowed="a positive Polars duration such as '1m', '5m', '1h'", received=value
        )


def _stat_expr(stat: str, value: pl.Expr) -> pl.Expr:
    if stat == "n":
        return value.count().alias("n")
    if stat in ("first", "last"):
        return _by_time(value, stat).alias(stat)
    if stat in ("min", "max", "mean", "sum"):
        return cast(pl.Expr, getattr(value, stat)()).alias(stat)
    if stat in ("p50", "p95", "p99"):
        return value.quantile(int(stat[1:]) / 100, interpolation="linear").alias(stat)
    raise ParameterError("stats", allowed=f"names from {STATS}", received=stat)


def _series_keys(frame: pl.DataFrame | pl.LazyFrame, by: Sequence[str] | None) -> list[str]:
    names = frame.collect_schema().names()
    for col in ("ts", "value"):
        if col not in names:
            raise SchemaError(col, f"a windowed frame needs column {col!r}; it has {names}")
    keys = list(by) if by is not None else [c for c in _SERIES if c in names]
    missing = [k for k in keys if k not in names]
    if missing:
        raise SchemaError(missing[0], f"group column missing; frame has {names}")
    return keys


def _candidates(aggregate: str | None, sorted_in_time: bool) -> list[pl.Expr]:
    v = pl.col("value")
    last = v.last() if sorted_in_time else _by_time(v, "last")
    first = v.first() if sorted_in_time else _by_time(v, "first")
    table = {"mean": v.mean(), "last": last, "max": v.max(), "min": v.min(), "sum": v.sum(), "first": first}
    names = [aggregate] if aggregate is not None else ["mean", "last", "max"]
    return [table[n].alias(f"_agg_{n}") for n in names]


def _choice_table(metric_values: pl.Series) -> pl.DataFrame:
    """Primary aggregate of each distinct metric value (looked up once, joined to every row)."""
    table = time_aggregate_table()
    lookup = dict(zip(table["metric"].to_list(), table["time_aggregate"].to_list(), strict=True))
    distinct = metric_values.unique()
    names = distinct.cast(pl.String).to_list()
    return pl.DataFrame({"metric": distinct, "_choice": [lookup.get(n, "last") for n in names]})


def _choose_primary(out: FrameT, aggregate: str | None) -> FrameT:
    if aggregate is not None:
        return out.rename({f"_agg_{aggregate}": "value"})
    if isinstance(out, pl.DataFrame):
        choices = _choice_table(out.get_column("metric"))
        out = out.join(choices, on="metric", how="left", maintain_order="left")
        choice = pl.col("_choice")
    else:
        table = time_aggregate_table()
        lookup = dict(zip(table["metric"].to_list(), table["time_aggregate"].to_list(), strict=True))
        choice = (
            pl.col("metric").cast(pl.String).replace_strict(lookup, default="last", return_dtype=pl.String)
        )
    value = (
        pl.when(choice == "mean")
        .then(pl.col("_agg_mean"))
        .when(choice == "max")
        .then(pl.col("_agg_max"))
        .otherwise(pl.col("_agg_last"))
    )
    drop = ["_agg_mean", "_agg_last", "_agg_max", *(["_choice"] if isinstance(out, pl.DataFrame) else [])]
    return out.with_columns(value.alias("value")).drop(drop)


#: Statistics :func:`segment_stats` computes with NumPy segment reductions.
SEGMENT_STATS: frozenset[str] = frozenset({"n", "sum", "min", "max", "mean", "first", "last"})


def segment_stats(
    keys: pl.Series,
    values: pl.Series,
    stats: Sequence[str],
    *,
    names: Sequence[str] | None = None,
    time: pl.Series | None = None,
) -> pl.DataFrame | None:
    """Per-key statistics of a float column grouped on an integer key, by segment reductions.

    The rows are put in key order (a stable argsort of the key alone, not of
    the whole frame), then every group is one contiguous segment reduced with
    ``numpy.ufunc.reduceat``: several times cheaper than a group-by, which
    hashes or runs single-threaded over the whole frame. ``first``/``last``
    are positional: with ``time`` given they are only computed when every
    group is in time order. Returns None, so the caller uses its Polars
    group-by, when ``values`` is not Float64 or holds a null or NaN (Polars'
    aggregates skip those; these reductions would not), or when ``first`` /
    ``last`` are asked for and a group is out of time order.

    Parameters
    ----------
    keys : polars.Series
        Integer group key (e.g. a packed series/window key).
    values : polars.Series
        Float64 values, aligned with ``keys``.
    stats : sequence of str
        Names from :data:`SEGMENT_STATS`.
    names : sequence of str, optional
        Output column names (default: the stat names).
    time : polars.Series, optional
        Sample times aligned with ``keys``, to check the time order that
        ``first``/``last`` rely on.

    Returns
    -------
    polars.DataFrame or None
        The key column (sorted, one row per key) and one column per stat
        (``n`` as UInt32, the others Float64), or None (see above).

    Examples
    --------
    >>> import polars as pl
    >>> out = segment_stats(pl.Series("k", [2, 1, 2]), pl.Series("v", [1.0, 5.0, 3.0]), ["sum", "n", "last"])
    >>> out.rows()
    [(1, 5.0, 1, 5.0), (2, 4.0, 2, 3.0)]
    """
    if any(s not in SEGMENT_STATS for s in stats):
        raise ParameterError("stats", allowed=f"names from {sorted(SEGMENT_STATS)}", received=list(stats))
    if values.dtype != pl.Float64 or not keys.dtype.is_integer() or values.null_count() or keys.null_count():
        return None
    if time is not None and time.null_count():
        return None
    v = values.to_numpy()
    if np.isnan(v).any():
        return None
    k = keys.to_numpy()
    t = time.to_physical().to_numpy() if time is not None and ("first" in stats or "last" in stats) else None
    run_order = None  # set when groups are contiguous runs but the runs are out of key order
    if len(k) > 1 and not bool((k[1:] >= k[:-1]).all()):
        starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
        # Worth checking only when runs are several rows long (else it is a sort of every key).
        few_runs = len(starts) <= len(k) // 2
        order = pl.Series(k[starts]).arg_sort().to_numpy() if few_runs else None
        ordered_keys = k[starts][order] if order is not None else None
        if (
            order is not None
            and ordered_keys is not None
            and bool((ordered_keys[1:] > ordered_keys[:-1]).all())
        ):
            # Every key is one contiguous run (series stored one after another, time-sorted):
            # reduce the runs where they are and put only the results in key order.
            run_order = order
        else:
            # Polars' multithreaded stable sort of the narrow (key, value[, time]) frame.
            narrow = {
                "k": keys,
                "v": values,
                **({"t": time.to_physical()} if t is not None and time is not None else {}),
            }
            by_key = pl.DataFrame(narrow).sort("k", maintain_order=True)
            k, v = by_key.get_column("k").to_numpy(), by_key.get_column("v").to_numpy()
            t = by_key.get_column("t").to_numpy() if t is not None else None
    if t is not None and len(t) > 1 and not bool(((k[1:] != k[:-1]) | (t[1:] >= t[:-1])).all()):
        return None
    if len(k) == 0:
        starts = np.zeros(0, dtype=np.int64)
    else:
        starts = np.flatnonzero(np.concatenate(([True], k[1:] != k[:-1])))
    ends = np.append(starts[1:], len(k))

    def ordered(reduced: np.ndarray) -> np.ndarray:
        return reduced if run_order is None else reduced[run_order]

    columns: dict[str, pl.Series] = {keys.name: pl.Series(keys.name, ordered(k[starts]), dtype=keys.dtype)}
    total = None
    for stat, name in zip(stats, names or stats, strict=True):
        if stat == "n":
            col = pl.Series(name, ordered(ends - starts), dtype=pl.UInt32)
        elif stat in ("sum", "mean"):
            if total is None:
                total = np.add.reduceat(v, starts) if len(starts) else np.zeros(0)
            col = pl.Series(name, ordered(total if stat == "sum" else total / (ends - starts)))
        elif stat in ("min", "max"):
            ufunc = np.minimum if stat == "min" else np.maximum
            col = pl.Series(name, ordered(ufunc.reduceat(v, starts) if len(starts) else np.zeros(0)))
        else:
            col = pl.Series(name, ordered(v[starts] if stat == "first" else v[ends - 1]))
        columns[name] = col
    return pl.DataFrame(columns)


def group_by_packed_key(
    frame: pl.DataFrame, key: str, aggs: list[pl.Expr], *, time_aware: bool = True
) -> tuple[pl.DataFrame, bool]:
    """Group on one integer column through Polars' sorted fast path.

    The frame is stably sorted on ``key`` when it is not already in key order
    (sorting one integer column and grouping sorted runs is much cheaper than
    hashing). Returns the grouped frame (in key order) and whether rows were
    in time order inside every group, so ``first``/``last`` could be taken
    positionally.
    """
    k, t = pl.col(key), pl.col("ts")
    in_key_order = frame.select((k >= k.shift(1)).fill_null(True).all()).item()
    if not in_key_order:
        frame = frame.sort(key, maintain_order=time_aware)
    in_time_order = True
    if time_aware:
        in_time_order = bool(
            frame.select(((k != k.shift(1)) | (t >= t.shift(1))).fill_null(True).all()).item()
        )
    frame = frame.with_columns(k.set_sorted())
    return frame.group_by(key, maintain_order=True).agg(aggs), in_time_order


def window_aggregate(
    frame: FrameT,
    *,
    every: str | timedelta,
    period: str | timedelta | None = None,
    offset: str | timedelta | None = None,
    by: Sequence[str] | None = None,
    stats: Sequence[str] = (),
    aggregate: str | None = None,
) -> FrameT:
    """Reduce each series over tumbling or hopping windows.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Long frame with ``ts``, ``value`` and series columns.
    every : str or timedelta
        Window step, e.g. ``"1m"``.
    period : str or timedelta, optional
        Window length; defaults to ``every`` (tumbling). Longer than
        ``every`` gives overlapping (hopping/sliding) windows.
    offset : str or timedelta, optional
        Shift of the window grid (e.g. ``"30s"``).
    by : sequence of str, optional
        Series columns; defaults to the canonical series keys present.
    stats : sequence of str
        Extra statistic columns, names from :data:`STATS`.
    aggregate : str, optional
        Use this aggregate for every metric instead of the per-kind choice.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        ``ts`` (window start), the series columns, ``value`` and the extra
        stats, grouped by series in time order (eager frames whose windows
        each hold one sample of a series keep their input row order). A ``source`` column, if present,
        keeps the first source of the window.

    Raises
    ------
    ParameterError
        For a bad duration, stat or aggregate.
    SchemaError
        If a required column is missing.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame({
    ...     "ts": [t0 + timedelta(minutes=m) for m in range(10)] * 2,
    ...     "entity": ["q"] * 20,
    ...     "metric": ["messages_in_per_s"] * 10 + ["queue_depth_messages"] * 10,
    ...     "value": [float(m) for m in range(10)] * 2,
    ... })
    >>> out = window_aggregate(df, every="5m", stats=["max"])
    >>> out.select("metric", "value", "max").rows()
    [('messages_in_per_s', 2.0, 4.0), ('messages_in_per_s', 7.0, 9.0), ('queue_depth_messages', 4.0, 4.0), ('queue_depth_messages', 9.0, 9.0)]
    """
    _check_duration("every", every)
    if period is not None:
        _check_duration("period", period)
    if offset is not None and not isinstance(offset, timedelta):
        _check_duration("offset", offset.lstrip("-"))
    for s in stats:
        if s not in STATS:
            raise ParameterError("stats", allowed=f"names from {STATS}", received=s)
    if aggregate is not None and aggregate not in ("mean", "last", "max", "min", "sum", "first"):
        raise ParameterError("aggregate", allowed="mean, last, max, min, sum or first", received=aggregate)
    keys: list[str] = _series_keys(frame, by)
    if aggregate is None and "metric" not in keys:
        raise SchemaError("metric", "needed to choose each metric's aggregate (or pass aggregate=...)")
    names = frame.collect_schema().names()
    extra = [_stat_expr(s, pl.col("value")) for s in stats]
    if "source" in names and "source" not in keys:
        extra.append(pl.col("source").first())
    tumbling = period is None or period == every
    if tumbling and isinstance(frame, pl.DataFrame):
        fast = _tumbling_packed(frame, keys, every, offset, aggregate, extra, stats)
        if fast is not None:
            out_fast, done = fast
            if not done:
                out_fast = _choose_primary(out_fast, aggregate)
            first: list[str] = ["ts", *keys]
            return out_fast.select(*first, "value", pl.exclude([*first, "value"]))
    aggs = _candidates(aggregate, sorted_in_time=False) + extra
    if tumbling:
        ts = pl.col("ts")
        start = (
            ts.dt.truncate(every) if offset is None else (ts - _td(offset)).dt.truncate(every) + _td(offset)
        )
        out = frame.group_by([*keys, start.alias("_window")]).agg(aggs).rename({"_window": "ts"})
    else:
        out = (
            frame.sort([*keys, "ts"])
            .group_by_dynamic(
                "ts",
                every=every,
                period=period,
                offset=offset,
                group_by=keys,
                closed="left",
                label="left",
                start_by="window",
            )
            .agg(aggs)
        )
    out = _choose_primary(out, aggregate)
    first2: list[str] = ["ts", *keys]
    return out.sort([*keys, "ts"]).select(*first2, "value", pl.exclude([*first2, "value"]))


_FIXED_US = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6, "d": 86400e6}


def _fixed_us(value: str | timedelta) -> int | None:
    """Microseconds of an epoch-aligned fixed duration, else None (weeks, months...)."""
    if isinstance(value, timedelta):
        return int(value / timedelta(microseconds=1))
    sign = -1 if value.startswith("-") else 1
    text = value.lstrip("-")
    parts = re.findall(r"(\d+)(ns|us|ms|mo|s|m|h|d|w|q|y|i)", text)
    if not parts or "".join(n + u for n, u in parts) != text or any(u not in _FIXED_US for _, u in parts):
        return None
    return sign * int(sum(int(n) * _FIXED_US[u] for n, u in parts))


def _tumbling_packed(
    frame: pl.DataFrame,
    keys: list[str],
    every: str | timedelta,
    offset: str | timedelta | None,
    aggregate: str | None,
    extra: list[pl.Expr],
    stats: Sequence[str],
) -> tuple[pl.DataFrame, bool] | None:
    """Tumbling windows grouped on one packed (series, window) integer.

    Returns None when the keys cannot be packed or ``every`` is not a fixed,
    epoch-aligned duration; the caller then uses the general path. The flag
    says whether ``value`` is final: when no window holds more than one
    sample of a series (data already at window resolution) every aggregate
    is the sample itself and no grouping is needed.
    """
    every_us = _fixed_us(every)
    offset_us = 0 if offset is None else _fixed_us(offset)
    ts_dtype = frame.schema["ts"]
    if every_us is None or offset_us is None or not isinstance(ts_dtype, pl.Datetime) or frame.is_empty():
        return None
    w = ((pl.col("ts").dt.epoch("us") - offset_us) // every_us).alias("_w")
    lo, hi = frame.select(w.min().alias("lo"), w.max().alias("hi")).row(0)
    if lo is None:
        return None
    window_bits = max(int(hi - lo).bit_length(), 1)
    spec = series_key_spec(frame, keys, spare_bits=window_bits)
    if spec is None:
        return None
    packed = pack_key_expr(spec) * (1 << window_bits) + (w - lo)
    work = frame.with_columns(packed.alias("_k"))
    k, t = pl.col("_k"), pl.col("ts")
    in_key_order = work.select((k >= k.shift(1)).fill_null(True).all()).item()
    if in_key_order:
        one_per_window = bool(work.select((k > k.shift(1)).fill_null(True).all()).item())
    else:
        # Two adjacent rows in one window already rule it out; only then is a hash pass needed.
        adjacent = bool(work.select((k == k.shift(1)).any()).item())
        one_per_window = not adjacent and _distinct_keys(work.get_column("_k"), window_bits)
    segments = None
    candidates = [aggregate] if aggregate is not None else ["mean", "last", "max"]
    plain = not ("source" in work.columns and "source" not in keys) and len(set(stats)) == len(stats)
    if not one_per_window and plain:
        # Segment reductions on (key, value) alone instead of sorting and grouping the frame.
        segments = segment_stats(
            work.get_column("_k"),
            work.get_column("value"),
            [*candidates, *stats],
            names=[*(f"_agg_{c}" for c in candidates), *stats],
            time=work.get_column("ts"),
        )
    if not one_per_window and segments is None and not in_key_order:
        work = work.sort("_k", maintain_order=True)
    start_us = ((k % (1 << window_bits)) + lo) * every_us + offset_us
    tu = ts_dtype.time_unit or "us"
    start = pl.from_epoch(start_us, time_unit="us").cast(pl.Datetime(tu))
    if ts_dtype.time_zone is not None:
        start = start.dt.replace_time_zone(ts_dtype.time_zone)
    if one_per_window:  # rows keep their input order
        v = pl.col("value")
        per_row = {s: (v.is_not_null().cast(pl.UInt32) if s == "n" else v).alias(s) for s in stats}
        source = [pl.col("source")] if "source" in work.columns and "source" not in keys else []
        return work.select(start.alias("ts"), *keys, v, *per_row.values(), *source), True
    if segments is not None:
        out = segments
    else:
        in_order = bool(work.select(((k != k.shift(1)) | (t >= t.shift(1))).fill_null(True).all()).item())
        work = work.with_columns(k.set_sorted())
        out = work.group_by("_k", maintain_order=True).agg(
            _candidates(aggregate, sorted_in_time=in_order) + extra
        )
    out = out.with_columns(start.alias("ts"), *unpack_key_exprs(spec, "_k", low_bits=window_bits))
    return out.drop("_k"), False


def _distinct_keys(key: pl.Series, window_bits: int) -> bool:
    """Whether no (series, window) key repeats.

    When each series is one contiguous run with its windows increasing (the
    layout of rates and of stored series), that follows from the runs alone:
    a pass over the rows and a sort of one key per series. Otherwise a hash
    pass over every key decides.
    """
    k = key.to_numpy()
    if len(k) < 2:
        return True
    series = k >> window_bits
    new_run = series[1:] != series[:-1]
    if bool((new_run | (k[1:] > k[:-1])).all()):
        run_series = np.sort(series[np.flatnonzero(np.concatenate(([True], new_run)))])
        if bool((run_series[1:] > run_series[:-1]).all()):
            return True
    return bool(key.n_unique() == len(k))


def _td(value: str | timedelta) -> pl.Expr:
    if isinstance(value, timedelta):
        return pl.lit(value)
    sign = -1 if value.startswith("-") else 1
    text = value.lstrip("-")
    units = {"ns": 1e-3, "us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6, "d": 86400e6, "w": 604800e6}
    micro = sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ns|us|ms|s|m|h|d|w)", text))
    return pl.lit(timedelta(microseconds=sign * micro))


def _by_time(value: pl.Expr, which: str) -> pl.Expr:
    # The value at the earliest/latest timestamp: correct on unsorted input,
    # and cheaper than sorting each group.
    ts = pl.col("ts")
    picked: pl.Expr = value.get(ts.arg_max() if which == "last" else ts.arg_min())
    return picked


def sliding_window(
    frame: FrameT,
    *,
    period: str | timedelta,
    by: Sequence[str] | None = None,
    stats: Sequence[str] = ("mean",),
) -> FrameT:
    """Trailing window ``(t - period, t]`` ending at every sample of each series.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Long frame with ``ts``, ``value`` and series columns.
    period : str or timedelta
        Window length, e.g. ``"15m"``.
    by : sequence of str, optional
        Series columns; defaults to the canonical series keys present.
    stats : sequence of str, default ("mean",)
        Any of ``mean``, ``sum``, ``min``, ``max``, ``n``, ``p50``, ``p95``,
        ``p99``; each becomes a column named after the stat.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The input rows (sorted by series then time) with one column per stat.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> df = pl.DataFrame({"ts": [t0 + timedelta(minutes=m) for m in range(4)],
    ...                    "entity": "q", "value": [1.0, 2.0, 3.0, 4.0]})
    >>> sliding_window(df, period="2m", stats=["mean", "n"])["mean"].to_list()
    [1.0, 1.5, 2.5, 3.5]
    """
    _check_duration("period", period)
    names = frame.collect_schema().names()
    keys: list[str] = list(by) if by is not None else [c for c in _SERIES if c in names]
    for col in ("ts", "value", *keys):
        if col not in names:
            raise SchemaError(col, f"sliding_window needs column {col!r}; frame has {names}")
    v = pl.col("value")
    exprs: list[pl.Expr] = []
    for s in stats:
        if s in ("mean", "sum", "min", "max"):
            e = getattr(v, f"rolling_{s}_by")("ts", window_size=period)
        elif s == "n":
            e = v.is_not_null().cast(pl.UInt32).rolling_sum_by("ts", window_size=period)
        elif s in ("p50", "p95", "p99"):
            e = v.rolling_quantile_by("ts", window_size=period, quantile=int(s[1:]) / 100)
        else:
            raise ParameterError("stats", allowed="mean, sum, min, max, n, p50, p95, p99", received=s)
        exprs.append((e.over(keys) if keys else e).alias(s))
    return frame.sort([*keys, "ts"]).with_columns(exprs)
