"""Streaming anomaly detectors as scikit-learn estimators.

Rows of ``X`` are records in time order; columns are metrics of one entity.
Every detector works record by record with no look-ahead:

* ``fit(X)`` takes ``X`` as the warm-up stream (learning its scale and the
  calibration history) and returns ``self``;
* ``update(X)`` scores each row of ``X`` and then learns from it, exactly as a
  record-by-record loop would (call it with one row per record when streaming);
* ``anomaly_score(X)`` is the batch form of ``update``: the same numbers, computed
  vectorised, without changing the fitted state;
* ``score_samples`` / ``decision_function`` / ``predict`` follow scikit-learn's
  outlier-detector conventions (lower ``score_samples`` = more abnormal,
  ``predict`` = -1 for rows whose anomaly score is above ``threshold``).

Anomaly scores are calibrated to ``[0, 1)`` through conformal p-values (see
:mod:`.calibration`): a score ``s`` means the row is as unusual as a p-value of
``10 ** (-s / (1 - s))`` against the series' own past.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import log_ndtr
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from workbench.analysis.anomaly.calibration import conformal_log_pvalues, surprise_score
from workbench.analysis.anomaly.stats import (
    multiscale_zscores,
    nearest_window_distance,
    pattern_novelty,
    rolling_zscore,
)
from workbench.errors import ParameterError

__all__ = ["RollingZScoreDetector", "StreamingEnsembleDetector"]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ParameterError(name, allowed=f"an integer >= {minimum}", received=value)


def _check_float(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not low <= value <= high:
        raise ParameterError(name, allowed=f"a number in [{low}, {high}]", received=value)


class _StreamingDetector(OutlierMixin, BaseEstimator):  # type: ignore[misc]
    """Shared machinery: history, suppression, batch == streaming, sklearn outlier API."""

    threshold: float
    suppression: int | float
    warmup: int

    # -- subclass hooks ---------------------------------------------------
    def _validate_params_extra(self) -> None:
        """Check subclass parameters (called from ``fit``)."""

    def _init_state(self) -> dict[str, Any]:
        return {}

    def _log_pvalues(self, values: FloatArray, start: int, state: dict[str, Any]) -> FloatArray:
        """Combined log p-value of rows ``start ..`` of ``values``; may update ``state``."""
        raise NotImplementedError

    # -- estimator API ----------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> _StreamingDetector:
        """Warm the detector up on ``X`` (rows in time order).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The first records of the stream.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        _check_float("threshold", self.threshold, 0.0, 1.0)
        if isinstance(self.suppression, float):
            _check_float("suppression", self.suppression, 0.0, 10.0)
        else:
            _check_int("suppression", self.suppression, 0)
        _check_int("warmup", self.warmup, 1)
        self._validate_params_extra()
        values = validate_data(self, X, dtype=np.float64, reset=True)
        if isinstance(self.suppression, float):
            self.suppression_rows_ = round(self.suppression * values.shape[0])
        else:
            self.suppression_rows_ = int(self.suppression)
        self.low_ = values.min(axis=0)
        self.high_ = values.max(axis=0)
        span = np.ptp(values, axis=0)
        self.scale_ = np.where(span > 0, span, np.maximum(np.abs(values).max(axis=0), 1.0))
        self.history_ = np.empty((0, values.shape[1]), dtype=np.float64)
        self.state_ = self._init_state()
        self.recent_scores_ = np.empty(0, dtype=np.float64)
        self.offset_ = -float(self.threshold)
        self._advance(values, commit=True)
        # Alerts start after the warm-up: its scores do not suppress the first live rows.
        self.recent_scores_ = np.empty(0, dtype=np.float64)
        return self

    def _advance(self, new: FloatArray, *, commit: bool) -> FloatArray:
        state = self.state_ if commit else copy.deepcopy(self.state_)
        start = self.history_.shape[0]
        values = np.vstack((self.history_, new))
        log_p = self._log_pvalues(values, start, state)
        raw = surprise_score(log_p)
        scores = self._suppress(raw)
        if commit:
            self.history_ = values
            keep = self.suppression_rows_
            self.recent_scores_ = np.concatenate((self.recent_scores_, raw))[-keep:] if keep else raw[:0]
        return scores

    def _suppress(self, raw: FloatArray) -> FloatArray:
        """Zero a score unless it beats every raw score of the previous ``suppression`` rows.

        This is threshold-free: whatever alert threshold is applied later, a row
        that fires has no row at least as high in the preceding window.
        """
        s = self.suppression_rows_
        if s == 0 or raw.size == 0:
            return raw
        padded = np.concatenate(
            (np.zeros(max(s - self.recent_scores_.size, 0)), self.recent_scores_[-s:], raw)
        )
        windows = np.lib.stride_tricks.sliding_window_view(padded[:-1], s)
        previous = windows.max(axis=1)[-raw.size :]
        return np.where(raw > previous, raw, 0.0)

    def anomaly_score(self, X: Any) -> FloatArray:
        """Anomaly score in ``[0, 1)`` of each row, continuing the fitted stream.

        Row ``i`` is scored against the fitted history plus rows ``< i`` of ``X``;
        the detector's state is not changed (use :meth:`update` to learn).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Records following the fitted stream, in time order.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        values = validate_data(self, X, dtype=np.float64, reset=False)
        return self._advance(values, commit=False)

    def update(self, X: Any) -> FloatArray:
        """Score the new records in ``X`` and learn from them (streaming step).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One or more new records.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
            The same scores :meth:`anomaly_score` gives for these rows.
        """
        check_is_fitted(self)
        values = validate_data(self, X, dtype=np.float64, reset=False)
        return self._advance(values, commit=True)

    def partial_fit(self, X: Any, y: Any = None) -> _StreamingDetector:
        """Learn from new records (fits first if not fitted yet)."""
        if not hasattr(self, "history_"):
            return self.fit(X)
        self.update(X)
        return self

    def score_samples(self, X: Any) -> FloatArray:
        """Opposite of :meth:`anomaly_score` (scikit-learn convention: lower is more abnormal)."""
        return -self.anomaly_score(X)

    def decision_function(self, X: Any) -> FloatArray:
        """``score_samples(X) - offset_``; negative for rows above ``threshold``."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> npt.NDArray[np.int64]:
        """-1 for rows whose anomaly score exceeds ``threshold``, 1 otherwise."""
        decision = self.decision_function(X)
        return np.where(decision >= 0, 1, -1).astype(np.int64)


class StreamingEnsembleDetector(_StreamingDetector):
    """Ensemble of calibrated streaming statistics; the workbench's default detector.

    For every column it computes, record by record,

    * multi-scale z-scores: how far the mean of the last ``m`` rows (``m`` in
      ``scales``) lies from the history of such means (spikes, level shifts);
    * a nearest-neighbour distance: how far the shape of the last ``window``
      rows lies from the closest shape in the previous ``history`` rows
      (KNN-CAD-like; pattern changes, flat spots, missing daily peaks);
    * pattern novelty: the share of the last ``1 .. novelty_order`` quantised
      values (``novelty_bins`` bins over the warm-up range) never seen in that
      order before (like the Contextual Anomaly Detector's contexts).

    Each statistic becomes a conformal p-value against its own past. With
    ``combine="pair"`` the row's log p-value is the mean of the two smallest
    (two views must agree, which removes most one-statistic false alarms), with
    ``"min"`` the smallest; either is multiplied by the number of statistics
    (Bonferroni). ``age_penalty`` then multiplies the p-value by
    ``(rows seen / age_reference) ** age_penalty`` once the stream is older than
    ``age_reference`` rows, a running multiple-testing correction: a long
    stream has had more chances to produce a rare value by luck. The score is
    :func:`~.calibration.surprise_score` of the result. Optionally, scores are
    suppressed for ``suppression`` rows after a higher one (threshold-free), so
    one episode gives one high score; :class:`~.alarms.AlarmRule` does the same
    for alerts at a fixed threshold.

    Parameters
    ----------
    scales : tuple of int, default (1, 48)
        Window lengths of the z-scored means.
    window : int, default 24
        Rows per shape for the nearest-neighbour distance (0 disables it).
    history : int, default 3000
        Earlier shapes searched for a neighbour.
    novelty_bins : int, default 8
        Quantisation bins for pattern novelty (0 disables it).
    novelty_order : int, default 3
        Longest pattern for pattern novelty.
    combine : {"pair", "min"}, default "pair"
        How per-statistic p-values are combined.
    age_penalty : float, default 1.0
        Exponent of the running multiple-testing correction (0 disables it).
    age_reference : int, default 750
        Stream age (rows) from which the correction applies.
    tail : float, default 6.0
        Extra weight for statistics beyond everything seen before.
    floor : float, default 0.01
        Smallest deviation of one row, as a fraction of the fitted value range.
    threshold : float, default 0.6
        Alert threshold on the anomaly score used by ``predict``.
    suppression : int or float, default 0
        Rows after a score during which lower scores are set to 0; a float is a
        multiple of the number of rows given to ``fit`` (the warm-up length).
    warmup : int, default 50
        Rows at the start of the stream that only feed the history.
    random_state : int or None, default None
        Accepted for a uniform API; the detector is deterministic.

    Attributes
    ----------
    scale_ : numpy.ndarray
        Value range per column seen in ``fit``.
    low_, high_ : numpy.ndarray
        Smallest and largest value per column seen in ``fit`` (novelty bins).
    history_ : numpy.ndarray
        Every record seen so far.
    state_ : dict
        Sorted calibration histories of every statistic.
    offset_ : float
        ``-threshold`` (scikit-learn's decision offset).
    suppression_rows_ : int
        Suppression in rows.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(600, 1)); x[500] += 12
    >>> det = StreamingEnsembleDetector().fit(x[:300])
    >>> scores = det.anomaly_score(x[300:])
    >>> int(np.argmax(scores)) + 300, bool(scores.max() > 0.6)
    (500, True)
    """

    def __init__(
        self,
        scales: tuple[int, ...] = (1, 48),
        window: int = 24,
        history: int = 3000,
        novelty_bins: int = 8,
        novelty_order: int = 3,
        combine: str = "pair",
        age_penalty: float = 1.0,
        age_reference: int = 750,
        tail: float = 6.0,
        floor: float = 0.01,
        threshold: float = 0.6,
        suppression: int | float = 0,
        warmup: int = 50,
        random_state: int | None = None,
    ) -> None:
        self.scales = scales
        self.window = window
        self.history = history
        self.novelty_bins = novelty_bins
        self.novelty_order = novelty_order
        self.combine = combine
        self.age_penalty = age_penalty
        self.age_reference = age_reference
        self.tail = tail
        self.floor = floor
        self.threshold = threshold
        self.suppression = suppression
        self.warmup = warmup
        self.random_state = random_state

    def _validate_params_extra(self) -> None:
        if not isinstance(self.scales, tuple | list) or not self.scales:
            raise ParameterError(
                "scales", allowed="a non-empty tuple of positive integers", received=self.scales
            )
        for m in self.scales:
            _check_int("scales", m, 1)
        _check_int("window", self.window, 0)
        _check_int("history", self.history, 1)
        _check_int("novelty_bins", self.novelty_bins, 0)
        _check_int("novelty_order", self.novelty_order, 1)
        if self.novelty_order > 12:
            raise ParameterError(
                "novelty_order", allowed="an integer in [1, 12]", received=self.novelty_order
            )
        if self.combine not in ("pair", "min"):
            raise ParameterError("combine", allowed="'pair' or 'min'", received=self.combine)
        _check_float("age_penalty", self.age_penalty, 0.0, 10.0)
        _check_int("age_reference", self.age_reference, 1)
        _check_float("tail", self.tail, 0.0, 100.0)
        _check_float("floor", self.floor, 0.0, 1.0)

    def _log_pvalues(self, values: FloatArray, start: int, state: dict[str, Any]) -> FloatArray:
        n, n_cols = values.shape
        rows = np.arange(start, n)
        active = rows >= self.warmup
        parts: list[FloatArray] = []
        for col in range(n_cols):
            x = values[:, col]
            floor = max(float(self.scale_[col]) * self.floor, 1e-12)
            stats = multiscale_zscores(x, start, tuple(self.scales), floor, min_count=10)
            if self.window > 0:
                stats.append(nearest_window_distance(x, start, self.window, self.history))
            if self.novelty_bins > 0:
                low, high = float(self.low_[col]), float(self.high_[col])
                stats.append(pattern_novelty(x, start, low, high, self.novelty_bins, self.novelty_order))
            for k, stat in enumerate(stats):
                key = f"{col}:{k}"
                hist = state.get(key, np.empty(0))
                log_p, state[key] = conformal_log_pvalues(stat, hist, tail=self.tail, active=active)
                parts.append(log_p)
        if not parts or n == start:
            return np.zeros(n - start)
        stacked = np.vstack(parts)
        if self.combine == "pair" and stacked.shape[0] >= 2:
            two_smallest = np.partition(stacked, 1, axis=0)[:2]
            combined = two_smallest.mean(axis=0)
        else:
            combined = stacked.min(axis=0)
        combined = combined + np.log(stacked.shape[0])
        if self.age_penalty > 0:
            age = np.maximum(rows, self.age_reference) / self.age_reference
            combined = combined + self.age_penalty * np.log(age)
        return np.asarray(np.minimum(combined, 0.0), dtype=np.float64)


class RollingZScoreDetector(_StreamingDetector):
    """Baseline: z-score of each row against the previous ``window`` rows, Gaussian tail.

    Parameters
    ----------
    window : int, default 288
        Rows in the trailing reference window.
    threshold : float, default 0.6
        Alert threshold on the anomaly score.
    suppression : int or float, default 0
        Rows after a score during which lower scores are set to 0 (a float is a
        multiple of the rows given to ``fit``).
    warmup : int, default 10
        Rows that only feed the history.
    random_state : int or None, default None
        Accepted for a uniform API; the detector is deterministic.

    Examples
    --------
    >>> x = np.r_[np.tile([0.0, 1.0], 100), 9.0][:, None]
    >>> det = RollingZScoreDetector(window=50).fit(x[:100])
    >>> bool(det.anomaly_score(x[100:])[-1] > 0.9)
    True
    """

    def __init__(
        self,
        window: int = 288,
        threshold: float = 0.6,
        suppression: int | float = 0,
        warmup: int = 10,
        random_state: int | None = None,
    ) -> None:
        self.window = window
        self.threshold = threshold
        self.suppression = suppression
        self.warmup = warmup
        self.random_state = random_state

    def _validate_params_extra(self) -> None:
        _check_int("window", self.window, 2)

    def _log_pvalues(self, values: FloatArray, start: int, state: dict[str, Any]) -> FloatArray:
        n, n_cols = values.shape
        parts = []
        for col in range(n_cols):
            floor = max(float(self.scale_[col]) * 1e-6, 1e-12)
            z = rolling_zscore(values[:, col], start, self.window, floor, min_count=self.warmup)
            parts.append(np.log(2.0) + log_ndtr(-z))
        if not parts or n == start:
            return np.zeros(n - start)
        return np.asarray(
            np.minimum(np.min(np.vstack(parts), axis=0) + np.log(n_cols), 0.0), dtype=np.float64
        )
