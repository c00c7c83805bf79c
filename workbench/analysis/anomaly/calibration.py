"""Calibrating raw anomaly statistics to p-values and to scores in [0, 1].

A raw statistic (a z-score, a nearest-neighbour distance) means different things
on different series: a z of 6 is rare on a CPU gauge and routine on a spiky tweet
count. :func:`conformal_log_pvalues` turns each value into a conformal p-value, the
share of the series' own earlier values that were at least as large, so one
threshold fits every series. Values beyond everything seen get an extra tail
factor ``(previous max / value) ** tail`` so that "far beyond" ranks above
"just beyond". :func:`surprise_score` maps a log p-value to ``[0, 1)`` without
saturating in floating point (``1 - p`` would round to 1 below ``p = 1e-16``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = ["conformal_log_pvalues", "surprise_score"]

FloatArray = npt.NDArray[np.float64]

_BLOCK = 512


def conformal_log_pvalues(
    stats: FloatArray,
    history: FloatArray,
    *,
    tail: float = 2.0,
    active: npt.NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Upper-tail conformal log p-value of each value against all earlier values.

    Row ``i`` is ranked against ``history`` plus the active rows before it,
    exactly as a record-by-record loop would; the work is done in blocks with
    ``searchsorted`` on the sorted history and a small triangular comparison
    inside each block.

    Parameters
    ----------
    stats : numpy.ndarray
        Non-negative statistics in time order (larger = more unusual).
    history : numpy.ndarray
        Sorted statistics seen before ``stats[0]``.
    tail : float, default 2.0
        Exponent of the extra factor for values above every earlier value.
    active : numpy.ndarray of bool, optional
        Rows that are scored and join the history; inactive rows (e.g. warm-up)
        get log p = 0 and are not remembered. All rows by default.

    Returns
    -------
    log_p : numpy.ndarray
        Natural log of the p-value of every row (0 for inactive rows).
    history : numpy.ndarray
        Sorted history after the active rows were added.

    Examples
    --------
    >>> lp, hist = conformal_log_pvalues(np.array([1.0, 2.0, 3.0, 1.5]), np.array([]), tail=0.0)
    >>> np.round(np.exp(lp), 3).tolist(), hist.tolist()
    ([1.0, 0.5, 0.333, 0.75], [1.0, 1.5, 2.0, 3.0])
    """
    stats = np.asarray(stats, dtype=np.float64)
    mask = np.ones(stats.shape[0], dtype=bool) if active is None else np.asarray(active, dtype=bool)
    out = np.zeros(stats.shape[0], dtype=np.float64)
    idx = np.flatnonzero(mask)
    hist = np.asarray(history, dtype=np.float64)
    for b0 in range(0, idx.size, _BLOCK):
        rows = idx[b0 : b0 + _BLOCK]
        block = stats[rows]
        ge_prev = hist.size - np.searchsorted(hist, block, side="left")
        ge_within = np.tril(block[None, :] >= block[:, None], -1).sum(axis=1)
        seen = hist.size + np.arange(block.size)
        ge = ge_prev + ge_within
        log_p = np.log((ge + 1.0) / (seen + 1.0))
        prev_max = np.maximum.accumulate(np.concatenate(([hist[-1] if hist.size else 0.0], block[:-1])))
        beyond = (ge == 0) & (prev_max > 0) & (seen > 0)
        ratio = np.where(beyond, block / np.where(prev_max > 0, prev_max, 1.0), 1.0)
        out[rows] = log_p - tail * np.log(np.maximum(ratio, 1.0))
        hist = np.sort(np.concatenate((hist, block)), kind="stable")
    return out, hist


def surprise_score(log_p: FloatArray | float) -> FloatArray:
    """Map a natural-log p-value to a score in ``[0, 1)``: ``s / (1 + s)`` with ``s = -log10 p``.

    p = 1 gives 0, p = 0.1 gives 0.5, p = 1e-3 gives 0.75, p = 1e-9 gives 0.9.

    Examples
    --------
    >>> np.round(surprise_score(np.log(np.array([1.0, 0.1, 1e-3]))), 3).tolist()
    [0.0, 0.5, 0.75]
    """
    s = -np.minimum(np.asarray(log_p, dtype=np.float64), 0.0) / math.log(10.0) + 0.0  # no -0.0
    return np.asarray(s / (1.0 + s), dtype=np.float64)


def score_to_log_pvalue(score: float) -> float:
    """Inverse of :func:`surprise_score` for one score in ``[0, 1)``.

    Examples
    --------
    >>> round(math.exp(score_to_log_pvalue(0.75)), 6)
    0.001
    """
    s = score / (1.0 - score)
    return -s * math.log(10.0)
