"""Vectorised building blocks shared by the provider models.

Every array is shaped ``(entities, steps)``; sample ``t`` is the state at the *end* of step
``t``. Counts are kept integral (as float64) by flooring cumulative sums, so offsets and
counters are whole numbers and flows conserve exactly.

Examples
--------
>>> import numpy as np
>>> from workbench.sources.simulator.core import lindley
>>> lindley(np.array([[5.0, 0.0, 3.0, 0.0]]), np.array([[2.0, 2.0, 2.0, 2.0]]))
array([[3., 1., 2., 0.]])
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Block",
    "NativeBlock",
    "counts_from_rate",
    "event_coverage",
    "floor_cumsum",
    "lindley",
    "time_at_count",
]

F64 = NDArray[np.float64]


@dataclass
class Block:
    """Canonical series of one metric for several entities of one cluster and level.

    ``values`` is ``(len(entities), steps)``; NaN marks a missing sample (e.g. an exporter
    that was down), which the frame builder drops.
    """

    provider: str
    cluster: str
    level: str
    metric: str
    entities: list[str]
    values: F64


@dataclass
class NativeBlock:
    """Exporter-native series of one metric name: label sets per row and values.

    ``name`` is the sample name as Prometheus stores it (counters end in ``_total``);
    ``kind`` is the exposition type (``gauge``, ``counter`` or ``untyped``).
    """

    name: str
    kind: str
    help: str
    labels: dict[str, list[str]]
    values: F64
    exporter: str = ""
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def family(self) -> str:
        """Metric family name (``_total`` stripped for counters)."""
        if self.kind == "counter" and self.name.endswith("_total"):
            return self.name[: -len("_total")]
        return self.name


def lindley(arrivals: F64, capacity: F64, initial: F64 | float = 0.0) -> F64:
    """Backlog of a queue with given arrivals and service capacity per step.

    Solves ``b[t] = max(0, b[t-1] + a[t] - c[t])`` without a loop over time: with
    ``S = cumsum(a - c)``, ``b[t] = S[t] - min(-b0, min_{s<=t} S[s])``.

    Parameters
    ----------
    arrivals, capacity : ndarray of shape (n, steps)
        Messages arriving and the most that can leave in each step.
    initial : float or ndarray of shape (n,)
        Backlog before the first step.

    Returns
    -------
    ndarray of shape (n, steps)
        Backlog at the end of each step (never negative).
    """
    net = np.cumsum(arrivals - capacity, axis=1)
    floor = np.minimum.accumulate(net, axis=1)
    b0 = np.broadcast_to(np.asarray(initial, dtype=np.float64).reshape(-1, 1), (net.shape[0], 1))
    backlog = net - np.minimum(-b0, floor)
    np.maximum(backlog, 0.0, out=backlog)  # only rounding can push it below zero
    return backlog


def floor_cumsum(per_step: F64, start: F64 | float = 0.0) -> F64:
    """Integral cumulative count from a fractional per-step flow (``floor`` of the cumsum).

    The result is non-decreasing when ``per_step >= 0`` and differs from the exact cumsum by
    less than one message at every step, so long-run totals are exact.
    """
    base = np.asarray(start, dtype=np.float64)
    if base.ndim == 1:
        base = base.reshape(-1, 1)
    return np.floor(np.cumsum(per_step, axis=1) + 1e-9) + base


def counts_from_rate(per_step: F64) -> F64:
    """Whole messages per step from a fractional flow; sums equal ``floor_cumsum``."""
    cum = floor_cumsum(per_step)
    out = np.empty_like(cum)
    out[:, 0] = cum[:, 0]
    np.subtract(cum[:, 1:], cum[:, :-1], out=out[:, 1:])
    return out


def event_coverage(events: F64, pause_seconds: float | F64, step_seconds: float) -> F64:
    """Fraction of each step lost to pauses that start at ``events`` (counts per step).

    A pause of ``P`` seconds starting in step ``t`` covers ``t``, ``t+1``, ... until ``P`` is
    used up. Overlapping pauses saturate at 1 (the whole step).
    """
    pauses = np.broadcast_to(np.asarray(pause_seconds, dtype=np.float64).reshape(-1, 1), (events.shape[0], 1))
    out = np.zeros_like(events)
    longest = float(pauses.max()) if pauses.size else 0.0
    n_steps = int(np.ceil(longest / step_seconds)) if longest > 0 else 0
    for lag in range(n_steps):  # a handful of shifts, vectorised over entities and time
        share = np.clip(pauses - lag * step_seconds, 0.0, step_seconds) / step_seconds
        if lag == 0:
            out += events * share
        else:
            out[:, lag:] += events[:, :-lag] * share
    np.minimum(out, 1.0, out=out)
    return out


def time_at_count(cumulative: F64, query: F64, times: F64, rows: NDArray[np.intp] | None = None) -> F64:
    """When did each row's non-decreasing ``cumulative`` count reach ``query``?

    Linear interpolation between samples (kafka-lag-exporter's estimate, with the full
    history as its lookup table). Before the first sample the first step's rate is
    extrapolated. All rows are searched at once: each row is shifted by a large offset so
    the flattened array stays sorted.

    Parameters
    ----------
    cumulative : ndarray (m, steps)
        E.g. log-end offsets per partition.
    query : ndarray (n, steps)
        E.g. committed offsets per (group, partition).
    times : ndarray (steps,)
        Sample times in seconds.
    rows : ndarray (n,), optional
        Row of ``cumulative`` that each query row is looked up in (default: same row).

    Returns
    -------
    ndarray (n, steps)
        Seconds at which the count was reached.
    """
    m, steps = cumulative.shape
    if rows is None:
        rows = np.arange(m)
    low = float(cumulative.min())
    span = float(cumulative.max() - low) + float(np.abs(query).max()) + 10.0
    shifted = ((cumulative - low) + (np.arange(m) * span).reshape(-1, 1)).ravel()
    row_start = (rows * steps).reshape(-1, 1)
    q = (query - low) + (rows * span).reshape(-1, 1)
    idx = np.searchsorted(shifted, q.ravel(), side="left").reshape(query.shape)
    hi = np.clip(idx, row_start + 1, row_start + steps - 1)
    c_hi = shifted[hi]
    c_lo = shifted[hi - 1]
    local = hi - row_start
    t_hi = times[local]
    t_lo = times[local - 1]
    rising = c_hi > c_lo
    # on a plateau (no production between samples) the count was reached at the earlier sample
    frac = np.where(rising, (q - c_lo) / np.where(rising, c_hi - c_lo, 1.0), 0.0)
    result = t_lo + frac * (t_hi - t_lo)
    # at or before the first sample: extrapolate with the first step's rate
    first = shifted[row_start[:, 0]].reshape(-1, 1)
    before = q < first
    if before.any():
        second = shifted[row_start[:, 0] + 1].reshape(-1, 1)
        first_rate = np.maximum(second - first, 1e-9) / max(times[1] - times[0], 1e-9)
        result = np.where(before, times[0] - (first - q) / first_rate, result)
    return np.asarray(result, dtype=np.float64)


def group_sum(keys: NDArray[np.int64], values: F64, n_keys: int) -> F64:
    """Sum ``values`` (n, steps) into ``n_keys`` rows by a time-varying key (n, steps).

    Keys below zero are ignored (e.g. leader -1 of an offline partition). One ``bincount``
    over all samples, so the cost does not grow with the number of keys.
    """
    steps = values.shape[1]
    flat = keys.astype(np.int64) * steps + np.arange(steps, dtype=np.int64).reshape(1, -1)
    valid = keys >= 0
    out = np.bincount(flat[valid], weights=values[valid], minlength=n_keys * steps)
    return np.asarray(out[: n_keys * steps], dtype=np.float64).reshape(n_keys, steps)


def onehot(groups: NDArray[np.int64], n_groups: int) -> F64:
    """Indicator matrix (n_groups, n) so that ``onehot @ values`` sums rows by group."""
    out = np.zeros((n_groups, groups.size))
    out[groups, np.arange(groups.size)] = 1.0
    return out
