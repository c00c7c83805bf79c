"""Incremental aggregation for live data: ticks in from many threads, windows out.

:class:`IncrementalAggregator` keeps, per open tumbling window, the ticks that
fall in it, and per raw counter series the last sample seen (its *carry*).
When every writer's watermark has passed a window's end (plus the allowed
lateness), the window is closed: counters become rates against their carry
(:func:`workbench.mapping.rates.counter_to_rate`) and every series is reduced
with :func:`workbench.analysis.windows.window_aggregate`. The result of a run
equals :func:`batch_aggregate` over the same samples, whatever the thread
interleaving, as long as each writer sends its own samples in time order.

Memory is bounded: open windows (at most ``lateness / every + 2`` of them
per writer lag), one carry row per counter series, the last
``max_results`` closed windows, and at most ``max_late_rows`` late rows
(late rows beyond that are only counted).

Series columns arrive as strings or categoricals and leave as categoricals.

Thread safety: ``add`` may be called from any number of threads. Appending a
tick takes a short state lock; closing windows is serialised by a second lock
so carries are always updated in window order.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import numpy as np
import polars as pl

from workbench.analysis.windows import _fixed_us, window_aggregate
from workbench.errors import ParameterError, SchemaError
from workbench.mapping.rates import COUNTER_KINDS, counter_to_rate, pack_key_expr, series_key_spec

__all__ = ["IncrementalAggregator", "batch_aggregate"]

logger = logging.getLogger(__name__)

_SERIES = ("provider", "cluster", "level", "entity", "metric")


def _check_counters(counters: Mapping[str, tuple[str, str]]) -> None:
    for raw, spec in counters.items():
        if not (isinstance(spec, tuple) and len(spec) == 2 and spec[1] in COUNTER_KINDS):
            raise ParameterError(
                "counters",
                allowed=f"raw metric -> (rate metric, kind in {COUNTER_KINDS})",
                received={raw: spec},
            )


def _rates(raw: pl.DataFrame, counters: Mapping[str, tuple[str, str]], keys: Sequence[str]) -> pl.DataFrame:
    """Counter rows -> rate rows (metric renamed), per kind."""
    out = []
    metric = pl.col("metric").cast(pl.String)
    for kind in COUNTER_KINDS:
        names = [m for m, (_, k) in counters.items() if k == kind]
        if not names:
            continue
        part = raw.filter(metric.is_in(names))
        if part.is_empty():
            continue
        rated = counter_to_rate(part, by=keys, kind=kind)  # type: ignore[arg-type]
        rename = {m: counters[m][0] for m in names}
        out.append(
            rated.with_columns(metric.replace_strict(rename, default=metric).cast(raw.schema["metric"]))
        )
    return pl.concat(out) if out else raw.clear()


def batch_aggregate(
    frame: pl.DataFrame,
    *,
    every: str,
    counters: Mapping[str, tuple[str, str]] | None = None,
    stats: Sequence[str] = (),
) -> pl.DataFrame:
    """The batch pipeline the incremental aggregator reproduces.

    Raw counters named in ``counters`` become per-second rates (per raw
    series, resets handled) under their rate name; then every series is
    reduced over tumbling windows of ``every``.

    Parameters
    ----------
    frame : polars.DataFrame
        Long frame with ``ts``, the series columns and ``value``.
    every : str
        Window length, a fixed duration such as ``"1m"``.
    counters : mapping of str to (str, str), optional
        Raw metric -> (rate metric name, ``"counter"`` or ``"offset"``).
    stats : sequence of str
        Extra window statistics (see :func:`~workbench.analysis.windows.window_aggregate`).

    Returns
    -------
    polars.DataFrame
        One row per series and window, sorted by series then window.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> raw = pl.DataFrame({"ts": [t0 + timedelta(seconds=30 * i) for i in range(4)],
    ...     "entity": "q", "metric": "published_total", "value": [0.0, 30.0, 90.0, 120.0]})
    >>> batch_aggregate(raw, every="1m", counters={"published_total": ("published_per_s", "counter")}
    ...                 ).select("metric", "value").rows()
    [('published_per_s', 1.0), ('published_per_s', 1.5)]
    """
    counters = dict(counters or {})
    _check_counters(counters)
    keys = [c for c in _SERIES if c in frame.columns]
    is_counter = pl.col("metric").cast(pl.String).is_in(list(counters))
    gauges = frame.filter(~is_counter)
    rated = _rates(frame.filter(is_counter), counters, keys)
    both = pl.concat([gauges, rated.select(gauges.columns)])
    return window_aggregate(both, every=every, by=keys, stats=stats)


class IncrementalAggregator:
    """Thread-safe incremental window aggregator with bounded memory.

    Parameters
    ----------
    every : str, default "1m"
        Tumbling window length (a fixed duration).
    counters : mapping of str to (str, str), optional
        Raw counter metrics to turn into rates: raw name -> (rate name, kind).
    writers : iterable of str, optional
        Names of the writers (threads, collectors) whose watermarks must all
        pass a window before it closes. A writer not listed is registered on
        its first tick.
    lateness : str, default "0s"
        How long after a window's end to wait for stragglers.
    stats : sequence of str
        Extra window statistics.
    max_results : int, default 10_000
        Closed windows kept for :meth:`drain` (oldest dropped first).
    max_late_rows : int, default 10_000
        Late rows kept for inspection in :attr:`late`; the rest are counted.

    Examples
    --------
    >>> import polars as pl
    >>> from datetime import datetime, timedelta, UTC
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> agg = IncrementalAggregator("1m", counters={"c_total": ("c_per_s", "counter")})
    >>> for i in range(3):
    ...     _ = agg.add(pl.DataFrame({"ts": [t0 + timedelta(minutes=i)], "entity": "e",
    ...                               "metric": "c_total", "value": [60.0 * i]}))
    >>> agg.flush().select("ts", "value").rows()[-1][1]
    1.0
    """

    def __init__(
        self,
        every: str = "1m",
        *,
        counters: Mapping[str, tuple[str, str]] | None = None,
        writers: Iterable[str] = (),
        lateness: str = "0s",
        stats: Sequence[str] = (),
        max_results: int = 10_000,
        max_late_rows: int = 10_000,
    ) -> None:
        self.every = every
        self.counters = dict(counters or {})
        self.writers = tuple(writers)
        self.lateness = lateness
        self.stats = tuple(stats)
        self.max_results = max_results
        self.max_late_rows = max_late_rows
        every_us = _fixed_us(every)
        late_us = 0 if lateness in ("0s", "0") else _fixed_us(lateness)
        if every_us is None or every_us <= 0:
            raise ParameterError("every", allowed="a fixed positive duration such as '1m'", received=every)
        if late_us is None or late_us < 0:
            raise ParameterError("lateness", allowed="a fixed duration >= 0 such as '30s'", received=lateness)
        _check_counters(self.counters)
        self._every = timedelta(microseconds=every_us)
        self._lateness = timedelta(microseconds=late_us)
        self._state_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._pending: dict[datetime, list[pl.DataFrame]] = {}
        self._watermarks: dict[str, datetime | None] = {w: None for w in self.writers}
        self._closed_until: datetime | None = None
        self._carry: pl.DataFrame | None = None
        self._results: deque[pl.DataFrame] = deque(maxlen=max_results)
        self._keys: list[str] | None = None
        self.late: list[pl.DataFrame] = []
        self.late_rows = 0
        self.rows_in = 0
        self.windows_closed = 0

    # -- ingestion -----------------------------------------------------------------
    def _window_of(self, ts: pl.Expr) -> pl.Expr:
        return ts.dt.truncate(self._every)

    def _validate(self, tick: pl.DataFrame) -> None:
        for col in ("ts", "metric", "value"):
            if col not in tick.columns:
                raise SchemaError(col, f"a tick needs column {col!r}; it has {tick.columns}")
        keys = [c for c in _SERIES if c in tick.columns]
        if self._keys is None:
            self._keys = keys
        elif keys != self._keys:
            raise SchemaError(
                keys[0] if keys else "metric", f"tick series columns {keys} differ from {self._keys}"
            )

    def add(self, tick: pl.DataFrame, *, writer: str = "default") -> int:
        """Add one tick (a long frame of samples) from ``writer``.

        Parameters
        ----------
        tick : polars.DataFrame
            Samples with ``ts``, series columns, ``metric`` and ``value``.
        writer : str, default "default"
            Who sends it; windows close when all writers have moved past them.

        Returns
        -------
        int
            Number of windows this call closed.
        """
        if tick.is_empty():
            return 0
        self._validate(tick)
        # Categorical series columns let rates and windows work on packed integer keys.
        text = [k for k in self._keys or [] if tick.schema[k] == pl.String]
        if text:
            tick = tick.with_columns(pl.col(text).cast(pl.Categorical))
        first_window, last_window, hi = tick.select(
            self._window_of(pl.col("ts")).min().alias("a"),
            self._window_of(pl.col("ts")).max().alias("b"),
            pl.col("ts").max().alias("c"),
        ).row(0)
        hi = cast(datetime, hi)
        single = first_window == last_window
        if single:
            parts = {first_window: tick}
        else:
            keyed = tick.with_columns(self._window_of(pl.col("ts")).alias("_w"))
            parts = {k[0]: v.drop("_w") for k, v in keyed.partition_by("_w", as_dict=True).items()}
        with self._state_lock:
            self.rows_in += tick.height
            for window, part in parts.items():
                if self._closed_until is not None and window < self._closed_until:
                    self._record_late(part)
                else:
                    self._pending.setdefault(window, []).append(part)
            mark = self._watermarks.get(writer)
            self._watermarks[writer] = hi if mark is None or hi > mark else mark
        return self._close_ready()

    def _record_late(self, part: pl.DataFrame) -> None:
        self.late_rows += part.height
        kept = sum(f.height for f in self.late)
        if kept < self.max_late_rows:
            self.late.append(part.head(self.max_late_rows - kept))
        logger.warning("%d late rows for a closed window (lateness %s)", part.height, self.lateness)

    def finish_writer(self, writer: str) -> int:
        """Stop waiting for ``writer``; returns the number of windows closed."""
        with self._state_lock:
            self._watermarks.pop(writer, None)
        return self._close_ready()

    # -- closing -------------------------------------------------------------------
    def _watermark(self) -> datetime | None:
        marks = list(self._watermarks.values())
        if not marks or any(m is None for m in marks):
            return None
        return min(m for m in marks if m is not None)

    def _pop(self, *, everything: bool) -> list[tuple[datetime, list[pl.DataFrame]]]:
        with self._state_lock:
            mark = self._watermark()
            ready = sorted(
                w
                for w in self._pending
                if everything or (mark is not None and w + self._every + self._lateness <= mark)
            )
            popped = [(w, self._pending.pop(w)) for w in ready]
            if popped:
                end = popped[-1][0] + self._every
                self._closed_until = end if self._closed_until is None else max(self._closed_until, end)
            return popped

    def _close_ready(self, *, everything: bool = False) -> int:
        with self._close_lock:
            popped = self._pop(everything=everything)
            for window, frames in popped:
                self._close(window, frames)
            return len(popped)

    def _close(self, window: datetime, frames: list[pl.DataFrame]) -> None:
        keys = self._keys or []
        rows = pl.concat(frames, how="vertical_relaxed") if len(frames) > 1 else frames[0]
        is_counter = (
            rows.select(pl.col("metric").is_in(list(self.counters))).to_series() if self.counters else None
        )
        gauges = rows.filter(~is_counter) if is_counter is not None else rows
        parts = [gauges]
        if is_counter is not None:
            raw = rows.filter(is_counter)
            if not raw.is_empty():
                raw = raw.select(gauges.columns)
                with_carry = (
                    raw if self._carry is None else pl.concat([self._carry, raw], how="vertical_relaxed")
                )
                packed = _rates_packed(with_carry, self.counters, keys, carry=self._carry, raw=raw)
                if packed is not None:
                    rated, self._carry = packed
                else:
                    rated = _rates(with_carry, self.counters, keys)
                    self._carry = _last_per_series(with_carry, keys, self.counters)
                parts.append(rated.filter(pl.col("ts") >= window).select(gauges.columns))
        both = pl.concat(parts, how="vertical_relaxed") if len(parts) > 1 else parts[0]
        if both.is_empty():
            return
        result = window_aggregate(both, every=self.every, by=keys, stats=self.stats)
        self._results.append(result)
        self.windows_closed += 1

    def flush(self) -> pl.DataFrame:
        """Close every open window and return all results not yet drained."""
        self._close_ready(everything=True)
        return self.drain()

    def drain(self) -> pl.DataFrame:
        """Return the closed windows' results (series columns categorical) and forget them."""
        with self._close_lock:
            frames = list(self._results)
            self._results.clear()
        if not frames:
            return pl.DataFrame()
        out = pl.concat(frames, how="vertical_relaxed")
        return out.sort([*(self._keys or []), "ts"])

    # -- introspection -------------------------------------------------------------
    @property
    def open_windows(self) -> int:
        """Windows still waiting for data."""
        with self._state_lock:
            return len(self._pending)

    @property
    def carry_series(self) -> int:
        """Counter series whose last sample is kept."""
        return 0 if self._carry is None else self._carry.height

    def stats_snapshot(self) -> dict[str, Any]:
        """Counters of the aggregator's work, for self-monitoring."""
        return {
            "rows_in": self.rows_in,
            "windows_closed": self.windows_closed,
            "open_windows": self.open_windows,
            "carry_series": self.carry_series,
            "late_rows": self.late_rows,
        }


def _rates_packed(
    frame: pl.DataFrame,
    counters: Mapping[str, tuple[str, str]],
    keys: Sequence[str],
    *,
    carry: pl.DataFrame | None = None,
    raw: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """Rates of both kinds and the new carries, on a packed series key.

    Same semantics as :func:`workbench.mapping.rates.counter_to_rate` per kind
    (offset sentinels dropped, counter resets read as restarts, offset resets
    dropped); None when the series columns cannot be packed. ``frame`` is the
    carry rows followed by the window's rows; when the window holds at most
    one sample per series (the usual live case) the rates come from a join
    with the carries instead of a sort.
    """
    offsets = [m for m, (_, k) in counters.items() if k == "offset"]
    is_offset = pl.col("metric").is_in(offsets)
    spec = series_key_spec(frame, keys) if keys and not frame.is_empty() else None
    if spec is None:
        return None
    dtype = frame.schema["metric"]
    names = pl.DataFrame(
        {"metric": list(counters), "_rate_metric": [r for r, _ in counters.values()]},
        schema={"metric": pl.String, "_rate_metric": pl.String},
    ).with_columns(pl.col("metric").cast(dtype), pl.col("_rate_metric").cast(dtype))
    if carry is not None and raw is not None:
        fresh = raw.filter(~(is_offset & (pl.col("value") < 0))).with_columns(pack_key_expr(spec).alias("_k"))
        if fresh.get_column("_k").n_unique() == fresh.height:
            return _rates_joined(fresh, carry, spec, is_offset, names)
    return _rates_sorted(frame, spec, is_offset, names)


def _rates_joined(
    fresh: pl.DataFrame, carry: pl.DataFrame, spec: Any, is_offset: pl.Expr, names: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    fast = _rates_matched(fresh, carry, spec, is_offset, names)
    if fast is not None:
        return fast
    prev = carry.select(
        pack_key_expr(spec).alias("_k"), pl.col("value").alias("_pv"), pl.col("ts").alias("_pt")
    )
    v, pv = pl.col("value"), pl.col("_pv")
    delta = v - pv
    increase = pl.when(delta >= 0).then(delta).when(is_offset).then(None).otherwise(v)
    seconds = (pl.col("ts") - pl.col("_pt")).dt.total_microseconds().cast(pl.Float64) / 1e6
    rate = pl.when(pv.is_null() | (seconds <= 0)).then(None).otherwise(increase / seconds)
    joined = fresh.lazy().join(prev.lazy(), on="_k", how="left", maintain_order="left")
    rated = (
        joined.with_columns(rate.alias("value"))
        .filter(pl.col("value").is_not_null())
        .join(names.lazy(), on="metric", how="left", maintain_order="left")
        .with_columns(pl.col("_rate_metric").alias("metric"))
        .select(carry.columns)
    )
    kept = (
        carry.lazy()
        .with_columns(pack_key_expr(spec).alias("_k"))
        .join(fresh.lazy().select("_k"), on="_k", how="anti")
    )
    new_carry = pl.concat([kept.drop("_k"), fresh.lazy().drop("_k")])
    rated_df, carry_df = pl.collect_all([rated, new_carry])
    return rated_df, carry_df


def _rates_matched(
    fresh: pl.DataFrame, carry: pl.DataFrame, spec: Any, is_offset: pl.Expr, names: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """:func:`_rates_joined` by a sorted-key lookup in NumPy (no query plans: a live tick is small).

    The same rows, values and order as the join; None (use the join) when a
    value is null, a carried key repeats, the time columns differ in type, or
    a metric has no rate name.
    """
    prev_key = carry.select(pack_key_expr(spec).alias("_k")).to_series()
    if (
        fresh.get_column("value").null_count()
        or carry.get_column("value").null_count()
        or carry.schema["ts"] != fresh.schema["ts"]
        or fresh.get_column("ts").null_count()
        or carry.get_column("ts").null_count()
    ):
        return None
    pk = prev_key.to_numpy()
    order = np.argsort(pk, kind="stable")
    spk = pk[order]
    if len(spk) > 1 and not bool((spk[1:] != spk[:-1]).all()):
        return None
    fk = fresh.get_column("_k").to_numpy()
    pos = np.searchsorted(spk, fk)
    matched = pos < len(spk)
    pos = np.where(matched, pos, 0)
    matched &= spk[pos] == fk if len(spk) else np.zeros(len(fk), dtype=bool)
    src = order[pos]
    v = fresh.get_column("value").to_numpy()
    pv = carry.get_column("value").to_numpy()[src]
    ft = fresh.get_column("ts").to_physical().to_numpy()
    pt = carry.get_column("ts").to_physical().to_numpy()[src]
    off = fresh.select(is_offset.fill_null(False)).to_series().to_numpy()
    ts_dtype = fresh.schema["ts"]
    unit = ts_dtype.time_unit if isinstance(ts_dtype, pl.Datetime) else None
    if unit not in ("ms", "us", "ns"):
        return None
    # Exactly the join's arithmetic: whole microseconds, as Float64, / 1e6.
    micros = (ft - pt) * (1_000 if unit == "ms" else 1) // (1_000 if unit == "ns" else 1)
    seconds = micros.astype(np.float64) / 1e6
    with np.errstate(invalid="ignore"):
        delta = v - pv
        grew = delta >= 0
    increase = np.where(grew, delta, v)
    keep = matched & (seconds > 0) & (grew | ~off)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = increase / seconds
    rows = fresh.filter(pl.Series(keep))
    codes = rows.get_column("metric").to_physical().to_numpy().astype(np.int64)
    name_codes = names.get_column("metric").to_physical().to_numpy().astype(np.int64)
    lookup = np.full(int(max(codes.max(initial=0), name_codes.max(initial=0))) + 1, -1, dtype=np.int64)
    lookup[name_codes] = np.arange(len(name_codes))
    index = lookup[codes]
    if (index < 0).any():
        return None
    rated = rows.with_columns(
        pl.Series("value", rate[keep]),
        names.get_column("_rate_metric").gather(pl.Series(index, dtype=pl.UInt32)).alias("metric"),
    ).select(carry.columns)
    superseded = np.zeros(len(pk), dtype=bool)
    superseded[src[matched]] = True
    kept = carry.filter(pl.Series(~superseded))
    new_carry = pl.concat([kept, fresh.drop("_k")])
    return rated, new_carry


def _rates_sorted(
    frame: pl.DataFrame, spec: Any, is_offset: pl.Expr, names: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    # One lazy plan, collected once for both outputs (the sorted base is shared).
    work = (
        frame.lazy()
        .filter(~(is_offset & (pl.col("value") < 0)))
        .with_columns(pack_key_expr(spec).alias("_k"))
        .sort("_k", "ts")
    )
    k, v, t = pl.col("_k"), pl.col("value"), pl.col("ts")
    delta = v - v.shift(1)
    increase = pl.when(delta >= 0).then(delta).when(is_offset).then(None).otherwise(v)
    seconds = (t - t.shift(1)).dt.total_microseconds().cast(pl.Float64) / 1e6
    rate = (
        pl.when((k != k.shift(1)).fill_null(True) | (seconds <= 0)).then(None).otherwise(increase / seconds)
    )
    # Rename raw counter -> rate metric through a tiny table (no per-row string work).
    rated = (
        work.with_columns(rate.alias("value"))
        .filter(pl.col("value").is_not_null())
        .join(names.lazy(), on="metric", how="left", maintain_order="left")
        .with_columns(pl.col("_rate_metric").alias("metric"))
        .drop("_k", "_rate_metric")
    )
    carry = work.filter((k != k.shift(-1)).fill_null(True)).drop("_k")
    rated_df, carry_df = pl.collect_all([rated, carry])
    return rated_df, carry_df


def _last_per_series(
    frame: pl.DataFrame, keys: Sequence[str], counters: Mapping[str, tuple[str, str]]
) -> pl.DataFrame:
    """Newest usable sample of each counter series (offset sentinels excluded)."""
    offsets = [m for m, (_, k) in counters.items() if k == "offset"]
    usable = frame.filter(~(pl.col("metric").cast(pl.String).is_in(offsets) & (pl.col("value") < 0)))
    if not keys:
        return usable.sort("ts").tail(1)
    return usable.sort("ts").group_by(list(keys)).last().select(frame.columns)
