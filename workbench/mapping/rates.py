"""Counters to rates, per raw series, with reset handling.

Two families of monotonic inputs are turned into per-second rates here
(``reference/exporters.md`` §9.3 rule 1):

``kind="counter"``
    A Prometheus counter (``*_total``). A decrease inside a series is a
    counter reset (process restart): the increase over that interval is the
    new value itself, exactly as PromQL ``rate()`` treats it.
``kind="offset"``
    A monotonic offset *gauge* (``kafka_topic_partition_current_offset``,
    ``kafka_consumergroup_current_offset``, kafka-lag-exporter's
    ``*_group_offset``). A negative jump there is a topic re-creation or a
    consumer-group offset reset, not a restart: the interval is **dropped**
    (its rate is null) instead of counted. Negative values (kafka_exporter's
    ``-1`` "nothing committed" sentinel) are not offsets and are removed
    before differencing; the number removed is logged.

Rates must be computed per *raw* series (the full label set) and aggregated
afterwards; :func:`counter_to_rate` takes the label columns as ``by``.

Two flavours are offered:

* :func:`counter_to_rate` -- the rate between consecutive samples
  (``increase / Δt``), one output row per input row after the first of each
  series. It is what the batch pipeline and the incremental aggregator use.
* :func:`prometheus_rate` -- PromQL ``rate(x[range])`` evaluated on a step
  grid, including Prometheus' extrapolation to the window edges
  (``promql/functions.go: extrapolatedRate``), for comparing against a real
  Prometheus server.

Both are thin ``select``/``with_columns`` shells around the expressions
:func:`increase_expr` and :func:`rate_expr`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Literal, TypeVar

import polars as pl

from workbench.errors import ParameterError, SchemaError

__all__ = [
    "COUNTER_KINDS",
    "CounterKind",
    "counter_to_rate",
    "increase_expr",
    "pack_key_expr",
    "prometheus_rate",
    "rate_expr",
    "series_key_spec",
    "series_start_expr",
    "unpack_key_exprs",
]

logger = logging.getLogger(__name__)

CounterKind = Literal["counter", "offset"]
#: The accepted values of ``kind``.
COUNTER_KINDS: tuple[str, ...] = ("counter", "offset")

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)


def _check_kind(kind: str) -> None:
    if kind not in COUNTER_KINDS:
        raise ParameterError("kind", allowed=f"one of {COUNTER_KINDS}", received=kind)


def _col(c: str | pl.Expr) -> pl.Expr:
    return pl.col(c) if isinstance(c, str) else c


def series_start_expr(by: Sequence[str]) -> pl.Expr:
    """True on the first row of each series in a frame sorted by ``by`` then time.

    Comparing each key with the previous row is much cheaper than a window
    function (``over``) and gives the same answer on sorted input.

    Parameters
    ----------
    by : sequence of str
        The label columns that identify a raw series. Empty means one series.

    Returns
    -------
    polars.Expr
        Boolean expression.

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"s": ["a", "a", "b"], "v": [1, 2, 3]})
    >>> df.select(series_start_expr(["s"]))["s"].to_list()
    [True, False, True]
    """
    if not by:
        return pl.int_range(pl.len()) == 0
    # Physical codes: comparing categoricals as integers, not strings.
    phys = [pl.col(k).to_physical() for k in by]
    changed = pl.any_horizontal([p.ne_missing(p.shift(1)) for p in phys])
    return changed.fill_null(True).alias(by[0])


KeySpec = list[tuple[str, pl.DataType, int]]


def _packable(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.Categorical, pl.Enum)) or dtype.is_integer() or dtype == pl.Boolean


def series_key_spec(frame: pl.DataFrame, keys: Sequence[str], *, spare_bits: int = 0) -> KeySpec | None:
    """Plan to pack the series columns into one 63-bit integer, if they fit.

    Categorical, Enum, Boolean and non-negative integer columns are packed by
    their physical codes; grouping or comparing one integer is several times
    cheaper than several columns. Returns None when a column is a string or
    the codes need more than ``63 - spare_bits`` bits.

    Parameters
    ----------
    frame : polars.DataFrame
        The data (the code ranges are read from it).
    keys : sequence of str
        Series columns, most significant first.
    spare_bits : int, default 0
        Bits to keep free below the key (e.g. for a window index).

    Returns
    -------
    list of (name, dtype, bits) or None

    Examples
    --------
    >>> import polars as pl
    >>> df = pl.DataFrame({"a": pl.Series(["x", "y"], dtype=pl.Categorical), "b": [0, 5]})
    >>> [(n, bits) for n, _, bits in series_key_spec(df, ["a", "b"])]
    [('a', 1), ('b', 3)]
    >>> series_key_spec(df.with_columns(pl.col("a").cast(pl.String)), ["a", "b"]) is None
    True
    """
    spec: KeySpec = []
    total = spare_bits
    schema = frame.schema  # built once: a schema lookup per key costs more than the codes' min/max
    for k in keys:
        dtype = schema[k]
        if not _packable(dtype):
            return None
        phys = frame.get_column(k).to_physical()
        if phys.null_count():
            return None
        lo, hi = phys.min(), phys.max()
        if lo is None or int(lo) < 0:  # type: ignore[arg-type]
            return None
        bits = max(int(hi).bit_length(), 1)  # type: ignore[arg-type]
        spec.append((k, dtype, bits))
        total += bits
    return spec if total <= 63 else None


def pack_key_expr(spec: KeySpec) -> pl.Expr:
    """Expression packing the columns of ``spec`` into one Int64 (see :func:`series_key_spec`)."""
    key: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for name, _, bits in spec:
        key = key * (1 << bits) + pl.col(name).to_physical().cast(pl.Int64)
    return key


def unpack_key_exprs(spec: KeySpec, column: str, *, low_bits: int = 0) -> list[pl.Expr]:
    """Expressions restoring the original columns from a packed key column."""
    out: list[pl.Expr] = []
    shift = low_bits
    for name, dtype, bits in reversed(spec):
        code = (pl.col(column) // (1 << shift)) % (1 << bits)
        if isinstance(dtype, (pl.Categorical, pl.Enum)):
            restored = code.cast(pl.UInt32).cat.to(dtype)
        else:
            restored = code.cast(dtype)
        out.append(restored.alias(name))
        shift += bits
    return out[::-1]


def increase_expr(value: str | pl.Expr = "value", *, kind: CounterKind = "counter") -> pl.Expr:
    """Increase since the previous sample of the same series, resets handled.

    Use it on a single series, or with ``.over(keys)``; the first sample of a
    series has a null increase. For ``kind="counter"`` a decrease means a
    reset and the increase is the new value; for ``kind="offset"`` a decrease
    is an offset reset and the increase is null (interval dropped).

    Parameters
    ----------
    value : str or polars.Expr
        The counter column.
    kind : {"counter", "offset"}
        How a decrease is read.

    Returns
    -------
    polars.Expr
        Float increase per interval.

    Examples
    --------
    >>> import polars as pl
    >>> s = pl.DataFrame({"v": [10.0, 15.0, 3.0, 8.0]})
    >>> s.select(increase_expr("v"))["v"].to_list()
    [None, 5.0, 3.0, 5.0]
    >>> s.select(increase_expr("v", kind="offset"))["v"].to_list()
    [None, 5.0, None, 5.0]
    """
    _check_kind(kind)
    v = _col(value).cast(pl.Float64)
    delta = v - v.shift(1)
    if kind == "counter":
        return pl.when(delta < 0).then(v).otherwise(delta)
    return pl.when(delta >= 0).then(delta)


def rate_expr(
    value: str | pl.Expr = "value",
    ts: str | pl.Expr = "ts",
    *,
    kind: CounterKind = "counter",
) -> pl.Expr:
    """Per-second rate between consecutive samples of one series.

    ``increase_expr(value) / Δt`` in seconds; null on the first sample, on a
    dropped offset reset, and where time does not advance.

    Parameters
    ----------
    value : str or polars.Expr
        The counter column.
    ts : str or polars.Expr
        The sample time (a Datetime column).
    kind : {"counter", "offset"}
        How a decrease is read (see :func:`increase_expr`).

    Returns
    -------
    polars.Expr
        Float rate per second.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> df = pl.DataFrame({
    ...     "ts": [datetime(2024, 1, 1, 0, m) for m in range(3)],
    ...     "value": [0.0, 120.0, 60.0],
    ... })
    >>> df.select(rate_expr())["value"].to_list()
    [None, 2.0, 1.0]
    """
    t = _col(ts)
    dt_s = (t - t.shift(1)).dt.total_microseconds().cast(pl.Float64) / 1e6
    inc = increase_expr(value, kind=kind)
    return pl.when(dt_s > 0).then(inc / dt_s)


def _check_columns(frame: pl.DataFrame | pl.LazyFrame, needed: Sequence[str]) -> None:
    names = frame.collect_schema().names()
    for name in needed:
        if name not in names:
            raise SchemaError(name, f"column is required; frame has {names}")


def counter_to_rate(
    frame: FrameT,
    *,
    by: Sequence[str],
    ts: str = "ts",
    value: str = "value",
    kind: CounterKind = "counter",
    out: str | None = None,
    drop_first: bool = True,
    assume_sorted: bool = False,
) -> FrameT:
    """Turn raw counter series into per-second rates, one row per interval.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Long frame with the label columns ``by``, a time column and a value.
    by : sequence of str
        Label columns identifying one raw series (the full label set).
    ts, value : str
        Names of the time and value columns.
    kind : {"counter", "offset"}
        ``"counter"``: a decrease is a reset, the increase is the new value.
        ``"offset"``: a decrease is an offset reset, the interval is dropped;
        negative values (``-1`` sentinels) are removed first.
    out : str, optional
        Name of the rate column; defaults to ``value`` (replaced in place).
    drop_first : bool, default True
        Drop the rows whose rate is null (first sample of every series and
        dropped offset resets). With False they are kept with a null rate, so
        the row count is unchanged.
    assume_sorted : bool, default False
        Skip the sort by ``(*by, ts)`` when the caller guarantees it.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        Same type as ``frame``; grouped by series (in the physical order of
        categorical keys) and sorted by time within each series. The rate stamped at a
        sample covers the interval that ends at that sample.

    Raises
    ------
    SchemaError
        If a named column is missing.
    ParameterError
        If ``kind`` is unknown.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> df = pl.DataFrame({
    ...     "ts": [datetime(2024, 1, 1, 0, m) for m in (0, 1, 2, 0, 1)],
    ...     "series": ["a", "a", "a", "b", "b"],
    ...     "value": [100.0, 160.0, 30.0, 5.0, 5.0],
    ... })
    >>> counter_to_rate(df, by=["series"]).select("series", "value").rows()
    [('a', 1.0), ('a', 0.5), ('b', 0.0)]
    """
    _check_kind(kind)
    _check_columns(frame, [*by, ts, value])
    out_name = out or value
    if kind == "offset":
        # -1 means "nothing committed" (kafka_exporter), never an offset.
        frame = frame.filter(pl.col(value) >= 0)
        if isinstance(frame, pl.DataFrame):
            logger.debug("offset rates: %d rows after removing negative sentinels", frame.height)
    start = series_start_expr(list(by))
    spec = series_key_spec(frame, by) if isinstance(frame, pl.DataFrame) and by else None
    if spec is not None and isinstance(frame, pl.DataFrame):
        # One packed integer per series: cheap sortedness check, cheap sort, cheap boundaries.
        key = pack_key_expr(spec)
        frame = frame.with_columns(key.alias("_series"))
        if not assume_sorted and not _grouped_in_time_order(frame, ts):
            frame = frame.sort(["_series", ts])
        k = pl.col("_series")
        start = k.ne_missing(k.shift(1)).fill_null(True)
    elif not assume_sorted:
        frame = frame.sort([pl.col(c).to_physical() for c in by] + [pl.col(ts)])
    rate = pl.when(start).then(None).otherwise(rate_expr(value, ts, kind=kind))
    result = frame.with_columns(rate.alias(out_name))
    if drop_first:
        result = result.filter(pl.col(out_name).is_not_null())
    if spec is not None:
        result = result.drop("_series")
    return result


def _grouped_in_time_order(frame: pl.DataFrame, ts: str) -> bool:
    k, t = pl.col("_series"), pl.col(ts)
    ok = frame.select(
        ((k > k.shift(1)) | ((k == k.shift(1)) & (t >= t.shift(1)))).fill_null(True).all()
    ).item()
    return bool(ok)


def _duration(name: str, value: str | timedelta) -> timedelta:
    td = value if isinstance(value, timedelta) else _parse_polars_duration(name, value)
    if td <= timedelta(0):
        raise ParameterError(name, allowed="a positive duration such as '5m' or '30s'", received=value)
    return td


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def _parse_polars_duration(name: str, text: str) -> timedelta:
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ParameterError(name, allowed="a duration such as '5m', '30s', '1h30m'", received=text)
    return timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))


def prometheus_rate(
    frame: FrameT,
    *,
    by: Sequence[str],
    range: str | timedelta,
    step: str | timedelta | None = None,
    ts: str = "ts",
    value: str = "value",
    kind: CounterKind = "counter",
    per_second: bool = True,
) -> FrameT:
    """PromQL ``rate(x[range])`` (or ``increase``) on a step grid, per raw series.

    For every evaluation time ``t`` on the grid (multiples of ``step``), the
    samples in ``(t - range, t]`` of each series are used; at least two are
    needed. The increase is ``last - first`` plus every reset inside the
    window (for ``kind="counter"`` the value before a drop is added back; for
    ``kind="offset"`` the dropped interval contributes nothing), then
    extrapolated towards the window edges exactly as Prometheus'
    ``extrapolatedRate`` does: by at most half an average sample interval
    when the gap to the edge exceeds 1.1 intervals, never below zero for
    counters.

    Parameters
    ----------
    frame : polars.DataFrame or polars.LazyFrame
        Long frame of raw series.
    by : sequence of str
        Label columns of one raw series.
    range : str or timedelta
        The range selector, e.g. ``"5m"``.
    step : str or timedelta, optional
        Evaluation step; defaults to ``range``.
    ts, value : str
        Time and value columns.
    kind : {"counter", "offset"}
        Reset semantics (see :func:`increase_expr`).
    per_second : bool, default True
        ``rate()`` when True, ``increase()`` when False.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        Columns ``(*by, ts, value)`` with ``ts`` the evaluation time.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime
    >>> df = pl.DataFrame({
    ...     "ts": [datetime(2024, 1, 1, 0, 0, s) for s in (15, 30, 45)]
    ...     + [datetime(2024, 1, 1, 0, 1, 0)],
    ...     "job": "x",
    ...     "value": [15.0, 30.0, 45.0, 60.0],
    ... })
    >>> prometheus_rate(df, by=["job"], range="1m").filter(
    ...     pl.col("ts") == datetime(2024, 1, 1, 0, 1)
    ... )["value"].to_list()
    [1.0]
    """
    _check_kind(kind)
    _check_columns(frame, [*by, ts, value])
    rng = _duration("range", range)
    stp = _duration("step", step) if step is not None else rng
    range_s = rng.total_seconds()
    v = pl.col(value).cast(pl.Float64)
    if kind == "offset":
        frame = frame.filter(pl.col(value) >= 0)
    frame = frame.sort([*by, ts])
    start = series_start_expr(list(by))
    prev = v.shift(1)
    drop = pl.when(~start & (v < prev))
    # Cumulative correction so that corrected[last] - corrected[first] is the
    # window's increase with resets handled (Prometheus' counterCorrection).
    correction = drop.then(prev if kind == "counter" else prev - v).otherwise(0.0).cum_sum()
    if by:
        correction = correction.over(list(by))
    prepared = frame.with_columns(
        (v + correction).alias("_corrected"),
        v.alias("_raw"),
    )
    windows = prepared.group_by_dynamic(
        ts,
        every=stp,
        period=rng,
        offset=-rng,
        closed="right",
        label="right",
        group_by=list(by) or None,
        start_by="window",
    ).agg(
        pl.len().alias("_n"),
        pl.col(ts).first().alias("_t0"),
        pl.col(ts).last().alias("_t1"),
        pl.col("_corrected").first().alias("_c0"),
        pl.col("_corrected").last().alias("_c1"),
        pl.col("_raw").first().alias("_v0"),
    )

    def secs(e: pl.Expr) -> pl.Expr:
        return e.dt.total_microseconds().cast(pl.Float64) / 1e6

    window_start = pl.col(ts) - pl.lit(rng)
    sampled = secs(pl.col("_t1") - pl.col("_t0"))
    avg = sampled / (pl.col("_n") - 1)
    to_start = secs(pl.col("_t0") - window_start)
    to_end = secs(pl.col(ts) - pl.col("_t1"))
    increase = pl.col("_c1") - pl.col("_c0")
    # A counter cannot extrapolate below zero: cap the start gap at the
    # moment the counter would have been zero.
    to_zero = sampled * (pl.col("_v0") / increase)
    to_start = (
        pl.when((increase > 0) & (pl.col("_v0") >= 0) & (to_zero < to_start))
        .then(to_zero)
        .otherwise(to_start)
    )
    threshold = avg * 1.1
    extend_start = pl.when(to_start < threshold).then(to_start).otherwise(avg / 2)
    extend_end = pl.when(to_end < threshold).then(to_end).otherwise(avg / 2)
    factor = (sampled + extend_start + extend_end) / sampled
    result_value = increase * factor
    if per_second:
        result_value = result_value / range_s
    return windows.filter(pl.col("_n") >= 2).with_columns(result_value.alias(value)).select([*by, ts, value])
