"""Multivariate detection across an entity's metrics: isolation forest on seasonal residuals.

Each column is turned into two residual features that only look backwards:
the deviation from a seasonal-naive expectation (the mean of the same phase in
the last ``cycles`` periods, or of the previous ``period`` rows when
``seasonal=False``) and the first difference, both divided by their spread in
the training data. An :class:`sklearn.ensemble.IsolationForest` learns the joint
shape of these features; its scores are calibrated to conformal p-values against
the training rows, so the output is an anomaly score in ``[0, 1)`` comparable to
the univariate detectors'. The forest is frozen after ``fit`` (refit to adapt),
which makes batch and record-by-record scoring identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import IsolationForest

from workbench.analysis.anomaly.detectors import _check_int, _StreamingDetector
from workbench.errors import ParameterError

__all__ = ["ResidualIsolationForest", "residual_features"]

FloatArray = npt.NDArray[np.float64]


def residual_features(values: FloatArray, start: int, period: int, cycles: int, seasonal: bool) -> FloatArray:
    """Backward-looking residual features of rows ``start ..`` of ``values``.

    Parameters
    ----------
    values : numpy.ndarray of shape (n, d)
        The stream so far.
    start : int
        First row to return.
    period : int
        Season length in rows.
    cycles : int
        Seasons averaged for the seasonal-naive expectation.
    seasonal : bool
        Expect the same phase of earlier seasons (True) or the mean of the
        previous ``period`` rows (False).

    Returns
    -------
    numpy.ndarray of shape (n - start, 2 d)
        Residual and first difference of every column.

    Examples
    --------
    >>> v = np.tile([1.0, 5.0], 10)[:, None]
    >>> residual_features(v, 18, period=2, cycles=3, seasonal=True)[:, 0].tolist()
    [0.0, 0.0]
    """
    n = values.shape[0]
    rows = np.arange(start, n)
    if seasonal:
        lags = [rows - k * period for k in range(1, cycles + 1)]
        stacked = np.stack([values[np.maximum(lag, 0)] for lag in lags])
        valid = np.stack([lag >= 0 for lag in lags])[..., None]
        counts = np.maximum(valid.sum(axis=0), 1)
        expected = (stacked * valid).sum(axis=0) / counts
        expected = np.where(valid.any(axis=0), expected, values[rows])
    else:
        csum = np.vstack((np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)))
        lo = np.maximum(rows - period, 0)
        cnt = np.maximum(rows - lo, 1)[:, None]
        expected = np.where((rows > 0)[:, None], (csum[rows] - csum[lo]) / cnt, values[rows])
    residual = values[rows] - expected
    diff = values[rows] - values[np.maximum(rows - 1, 0)]
    return np.hstack((residual, diff))


class ResidualIsolationForest(_StreamingDetector):
    """Isolation forest over seasonal-residual features of all columns (one entity's metrics).

    Parameters
    ----------
    period : int, default 24
        Season length in rows (e.g. 24 for hourly data with a daily cycle).
    cycles : int, default 3
        Seasons averaged for the expectation.
    seasonal : bool, default True
        Seasonal-naive expectation (True) or trailing mean over ``period`` rows.
    n_estimators : int, default 100
        Trees in the forest.
    threshold : float, default 0.6
        Alert threshold on the anomaly score.
    suppression : int, default 0
        Rows after a score during which lower scores are set to 0.
    warmup : int, default 1
        Rows at the start of ``fit`` data left out of training (incomplete features).
    random_state : int or None, default None
        Seed of the forest.

    Attributes
    ----------
    forest_ : sklearn.ensemble.IsolationForest
        The fitted forest.
    feature_scale_ : numpy.ndarray
        Spread of each residual feature in the training data.
    train_scores_ : numpy.ndarray
        Sorted isolation scores of the training rows (the calibration set).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(400, 2)); x[350] = [4.0, -4.0]
    >>> det = ResidualIsolationForest(period=10, seasonal=False, random_state=0).fit(x[:300])
    >>> int(np.argmax(det.anomaly_score(x[300:]))) + 300
    350
    """

    def __init__(
        self,
        period: int = 24,
        cycles: int = 3,
        seasonal: bool = True,
        n_estimators: int = 100,
        threshold: float = 0.6,
        suppression: int = 0,
        warmup: int = 1,
        random_state: int | None = None,
    ) -> None:
        self.period = period
        self.cycles = cycles
        self.seasonal = seasonal
        self.n_estimators = n_estimators
        self.threshold = threshold
        self.suppression = suppression
        self.warmup = warmup
        self.random_state = random_state

    def _validate_params_extra(self) -> None:
        _check_int("period", self.period, 1)
        _check_int("cycles", self.cycles, 1)
        _check_int("n_estimators", self.n_estimators, 1)
        if not isinstance(self.seasonal, bool | np.bool_):
            raise ParameterError("seasonal", allowed="True or False", received=self.seasonal)

    def _features(self, values: FloatArray, start: int) -> FloatArray:
        feats = residual_features(values, start, self.period, self.cycles, bool(self.seasonal))
        return feats / self.feature_scale_

    def _log_pvalues(self, values: FloatArray, start: int, state: dict[str, Any]) -> FloatArray:
        if start == 0:  # fitting: learn the forest on the warm-up stream
            raw = residual_features(values, 0, self.period, self.cycles, bool(self.seasonal))
            train = raw[min(self.warmup, max(raw.shape[0] - 1, 0)) :]
            spread = np.std(train, axis=0)
            self.feature_scale_ = np.where(spread > 0, spread, 1.0)
            self.forest_ = IsolationForest(n_estimators=self.n_estimators, random_state=self.random_state)
            self.forest_.fit(train / self.feature_scale_)
            self.train_scores_ = np.sort(-self.forest_.score_samples(train / self.feature_scale_))
            return np.zeros(values.shape[0])
        iso = -self.forest_.score_samples(self._features(values, start))
        ge = self.train_scores_.size - np.searchsorted(self.train_scores_, iso, side="left")
        return np.asarray(np.log((ge + 1.0) / (self.train_scores_.size + 1.0)), dtype=np.float64)
