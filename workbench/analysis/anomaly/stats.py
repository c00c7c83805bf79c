"""Raw streaming statistics: each row's value uses only that row and earlier rows.

Every function takes the whole history ``x`` of one series and a ``start`` row,
and returns the statistic for rows ``start .. len(x) - 1``. Calling it once on a
full series (batch) or repeatedly with one new row appended (streaming) gives the
same numbers, because every row only looks backwards.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["multiscale_zscores", "nearest_window_distance", "rolling_zscore"]

FloatArray = npt.NDArray[np.float64]

_KNN_BLOCK = 512


def _prefix(values: FloatArray) -> FloatArray:
    return np.concatenate(([0.0], np.cumsum(values)))


def _rolling_mean(x: FloatArray, width: int) -> FloatArray:
    """Mean of the last ``width`` rows (fewer at the start of the series)."""
    csum = _prefix(x)
    idx = np.arange(x.shape[0])
    lo = np.maximum(idx - width + 1, 0)
    return (csum[idx + 1] - csum[lo]) / (idx + 1 - lo)


def multiscale_zscores(
    x: FloatArray, start: int, scales: tuple[int, ...], floor: float, min_count: int
) -> list[FloatArray]:
    """Absolute z-score of the mean of the last ``m`` rows, for every scale ``m``.

    The reference mean and standard deviation are those of the same ``m``-row
    means over all earlier, non-overlapping history (rows up to ``i - m``), so
    autocorrelation is accounted for. The deviation is floored at
    ``floor / sqrt(m)`` so that flat series do not divide by zero.

    Parameters
    ----------
    x : numpy.ndarray
        The series so far.
    start : int
        First row to return.
    scales : tuple of int
        Window lengths ``m``.
    floor : float
        Smallest standard deviation of a single row.
    min_count : int
        Rows with fewer reference values get 0.

    Returns
    -------
    list of numpy.ndarray
        One array of length ``len(x) - start`` per scale.

    Examples
    --------
    >>> x = np.r_[np.zeros(20), 5.0]
    >>> float(multiscale_zscores(x, 20, (1,), 1.0, 5)[0][0])
    5.0
    """
    out = []
    idx = np.arange(start, x.shape[0])
    for m in scales:
        means = _rolling_mean(x, m)
        c1, c2 = _prefix(means), _prefix(means * means)
        hi = np.maximum(idx - m + 1, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = c1[hi] / hi
            var = c2[hi] / hi - mu * mu
        sd = np.maximum(np.sqrt(np.maximum(var, 0.0)), floor / np.sqrt(m))
        z = np.abs(means[start:] - mu) / sd
        out.append(np.where(hi >= min_count, z, 0.0))
    return out


def rolling_zscore(x: FloatArray, start: int, window: int, floor: float, min_count: int) -> FloatArray:
    """Absolute z-score of each row against the mean and deviation of the previous ``window`` rows.

    Examples
    --------
    >>> x = np.r_[np.tile([0.0, 1.0], 10), 10.0]
    >>> round(float(rolling_zscore(x, 20, 10, 1e-6, 5)[0]), 1)
    19.0
    """
    c1, c2 = _prefix(x), _prefix(x * x)
    idx = np.arange(start, x.shape[0])
    lo = np.maximum(idx - window, 0)
    cnt = idx - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = (c1[idx] - c1[lo]) / cnt
        var = (c2[idx] - c2[lo]) / cnt - mu * mu
    sd = np.maximum(np.sqrt(np.maximum(var, 0.0)), floor)
    z = np.abs(x[start:] - mu) / sd
    return np.where(cnt >= min_count, z, 0.0)


def _band_penalty(b0: int, b1: int, lo: int, hi: int, width: int, history: int) -> FloatArray:
    """0 where stretch ``col`` is a candidate for row ``row`` (``row - width - history <= col <= row - width``), inf elsewhere."""
    rows = np.arange(b0, b1)[:, None]
    cols = np.arange(lo, hi)[None, :]
    valid = (cols <= rows - width) & (cols >= rows - width - history)
    return np.where(valid, 0.0, np.inf)


def nearest_window_distance(x: FloatArray, start: int, width: int, history: int) -> FloatArray:
    """Distance from the last ``width`` rows to the closest earlier stretch of ``width`` rows.

    This is the KNN-CAD idea with k = 1: a shape never seen before is far from
    every earlier stretch. Candidates are stretches ending ``width .. width +
    history`` rows back (they do not overlap the current one).

    Parameters
    ----------
    x : numpy.ndarray
        The series so far.
    start : int
        First row to return.
    width : int
        Rows per stretch.
    history : int
        How many earlier stretches to search.

    Returns
    -------
    numpy.ndarray
        Euclidean distance per row (``inf``-free: 0 when no candidate exists yet).

    Examples
    --------
    >>> x = np.r_[np.tile([0.0, 1.0, 0.0, -1.0], 10), 3.0]
    >>> d = nearest_window_distance(x, 36, 4, 100)
    >>> d[:4].tolist(), round(float(d[-1]), 3)
    ([0.0, 0.0, 0.0, 0.0], 2.449)
    """
    n = x.shape[0]
    # Shift by the first value (distances are shift-invariant) to limit cancellation in |a|^2 + |b|^2 - 2ab.
    origin = x[0] if n else 0.0
    padded = np.concatenate((np.zeros(width - 1), x - origin))
    windows = sliding_window_view(padded, width)  # row i = stretch ending at row i
    norms = np.einsum("ij,ij->i", windows, windows)
    out = np.zeros(n - start, dtype=np.float64)
    interior_penalty: FloatArray | None = None
    for b0 in range(start, n, _KNN_BLOCK):
        b1 = min(b0 + _KNN_BLOCK, n)
        lo_nominal = b0 - width - history
        lo, hi = max(0, lo_nominal), b1 - width + 1
        if hi <= lo:
            continue
        # |a - b|^2 = |a|^2 + (|b|^2 - 2ab); the row constant |a|^2 is added after the min.
        partial = norms[None, lo:hi] - 2.0 * (windows[b0:b1] @ windows[lo:hi].T)
        if lo == lo_nominal and b1 - b0 == _KNN_BLOCK:
            if interior_penalty is None:  # the valid band has the same shape in every full block
                interior_penalty = _band_penalty(b0, b1, lo, hi, width, history)
            partial += interior_penalty
        else:
            partial += _band_penalty(b0, b1, lo, hi, width, history)
        best = partial.min(axis=1) + norms[b0:b1]
        out[b0 - start : b1 - start] = np.sqrt(np.maximum(np.where(np.isfinite(best), best, 0.0), 0.0))
    return out


def pattern_novelty(x: FloatArray, start: int, low: float, high: float, bins: int, order: int) -> FloatArray:
    """Share of the last ``1 .. order`` value patterns never seen before (CAD-like context novelty).

    Values are quantised into ``bins`` equal bins over ``[low, high]`` (the range
    seen during warm-up) plus three overflow bins on either side; row ``i`` looks
    at the ``k``-grams of bins ending at ``i`` for ``k = 1 .. order`` and returns
    the fraction whose exact sequence never occurred earlier in the series.

    Parameters
    ----------
    x : numpy.ndarray
        The series so far.
    start : int
        First row to return.
    low, high : float
        Quantisation range.
    bins : int
        Bins across the range.
    order : int
        Longest pattern.

    Returns
    -------
    numpy.ndarray
        Values in ``[0, 1]`` for rows ``start ..``.

    Examples
    --------
    >>> x = np.r_[np.tile([0.0, 1.0], 20), 5.0]
    >>> pattern_novelty(x, 38, 0.0, 1.0, bins=4, order=2).tolist()
    [0.0, 0.0, 1.0]
    """
    n = x.shape[0]
    step = (high - low) / bins if high > low else 1.0
    n_bins = bins + 6
    symbols = np.clip(np.floor((x - low) / step), -3, bins + 2).astype(np.int64) + 3
    codes = symbols.copy()
    rows = np.arange(n)
    novel = np.zeros(n - start, dtype=np.float64)
    for k in range(1, order + 1):
        if k > 1:
            codes = codes * n_bins + np.concatenate((np.zeros(k - 1, dtype=np.int64), symbols))[:n]
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        novel += (first[inverse] == rows)[start:]
    return novel / order
