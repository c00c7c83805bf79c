"""Seasonal forecasts with prediction intervals, and "time until threshold".

:class:`SeasonalForecaster` is a scikit-learn regressor whose input is time: ``X``'s
first column is the sample time in seconds (any increasing number; further columns
are ignored) and ``y`` the value. ``fit`` puts the series on a regular grid, removes
the daily/weekly cycle with STL/MSTL (:mod:`workbench.analysis.seasonality`), fits
statsmodels ETS to what is left and keeps the results as fitted
attributes; ``predict`` returns in-sample fits for past times and forecasts (the
model's level/trend plus the last seasonal cycle) for future ones;
``predict_interval`` adds the prediction band. ``method="seasonal_naive"`` is the
baseline the benchmark compares against.

Frame-level helpers: :func:`forecast_series` (history + forecast band of one series of
a canonical frame) and :func:`time_until_threshold` (when will this backlog pass N,
when will this lag recover).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from workbench.analysis.seasonality import decompose, detect_period, periods_for
from workbench.errors import ParameterError

logger = logging.getLogger(__name__)

__all__ = [
    "ADDITIVE_METRICS",
    "SeasonalForecaster",
    "ThresholdCrossing",
    "default_forecaster",
    "forecast_series",
    "mase",
    "time_until_threshold",
]

FloatArray = npt.NDArray[np.float64]
_METHODS = ("ets", "seasonal_naive")
_PERIODS = ("auto", "daily", "weekly", "none")
_MAX_GRID_FACTOR = 20


def _regular_grid(t: FloatArray, y: FloatArray) -> tuple[float, float, FloatArray]:
    """Return ``(t0, step, values)`` of ``y`` on a regular grid (means per slot, gaps interpolated)."""
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    distinct = np.unique(t)
    diffs = np.diff(distinct)
    step = float(np.median(diffs)) if diffs.size else 1.0
    if not np.isfinite(step) or step <= 0:
        step = 1.0
    t0 = float(t[0])
    index = np.rint((t - t0) / step).astype(np.int64)
    size = int(index[-1]) + 1
    if size > _MAX_GRID_FACTOR * t.size + 100:
        raise ParameterError(
            "X[:, 0] (time)",
            allowed=f"roughly regular sample times (grid of at most {_MAX_GRID_FACTOR}x the samples)",
            received=f"{t.size} samples spread over {size} steps of {step:g}",
        )
    sums = np.bincount(index, weights=y, minlength=size)
    counts = np.bincount(index, minlength=size)
    values = np.full(size, np.nan)
    seen = counts > 0
    values[seen] = sums[seen] / counts[seen]
    if not seen.all():
        grid = np.arange(size)
        values[~seen] = np.interp(grid[~seen], grid[seen], values[seen])
    return t0, step, values


#: The seasonal forecast repeats the mean shape of this many last cycles (less noise than one).
_SEASONAL_CYCLES = 3
_TRENDS = ("auto", "damped", "none")
_SCALES = ("auto", "linear")


def _mean_last_cycles(component: FloatArray, period: int, cycles: int) -> FloatArray:
    """Mean shape of the last ``cycles`` full cycles, aligned so it continues the series."""
    k = max(1, min(cycles, component.size // period))
    tail = component[component.size - k * period :].reshape(k, period)
    return np.asarray(tail.mean(axis=0), dtype=np.float64)


def _repeat_last_cycle(component: FloatArray, period: int, n_ahead: int) -> FloatArray:
    last = component[-period:]
    return np.asarray(last[np.arange(n_ahead) % period], dtype=np.float64)


class SeasonalForecaster(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Per-series seasonal forecaster (STL/MSTL + ETS) with prediction intervals.

    Parameters
    ----------
    period : {"auto", "daily", "weekly", "none"} or int
        Seasonal cycle; "auto" detects it on the training data, an int is samples.
    method : {"ets", "seasonal_naive"}
        Model of the deseasonalised series: statsmodels ``ETSModel`` (additive error,
        additive damped trend), or the seasonal naive baseline
        (repeat the last cycle; the last value without a cycle).
    trend : {"auto", "damped", "none"}
        ETS only: "damped" adds a damped additive trend, "none" models the level only,
        "auto" fits level-only, damped and linear-trend models and keeps the lowest AIC.
    scale : {"auto", "linear"}
        "auto" models ``log1p`` of series that are never negative, so seasonal swings
        and trends scale with the level (queue rates and backlogs behave so); forecasts
        of non-negative series are clipped at 0.
    coverage : float
        Default coverage of :meth:`predict_interval` (0 < coverage < 1).

    Attributes
    ----------
    t0_ : float
        Time of the first grid point.
    step_ : float
        Grid step (median spacing of the training times).
    periods_ : tuple of int
        Seasonal periods used, in samples.
    kind_ : str
        "daily", "weekly", "none" or "custom".
    fitted_ : ndarray
        In-sample fitted values on the grid.
    model_ : object or None
        The fitted statsmodels results (None for the seasonal naive method).
    resid_std_ : float
        Standard deviation of the one-step in-sample errors.
    band_scale_ : float
        Factor (>= 1) widening ETS's prediction bands for the seasonal shape's own error.
    log_ : bool
        Whether the model was fitted on ``log1p`` of the series.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(24 * 14) * 3600.0
    >>> y = 100 + 20 * np.sin(2 * np.pi * t / 86400)
    >>> model = SeasonalForecaster().fit(t.reshape(-1, 1), y)
    >>> model.kind_
    'daily'
    >>> future = (t[-1] + 3600.0 * np.arange(1, 25)).reshape(-1, 1)
    >>> bool(np.abs(model.predict(future) - (100 + 20 * np.sin(2 * np.pi * future[:, 0] / 86400))).max() < 1)
    True
    """

    def __init__(
        self,
        period: str | int = "auto",
        method: str = "ets",
        trend: str = "auto",
        scale: str = "auto",
        coverage: float = 0.9,
    ) -> None:
        self.period = period
        self.method = method
        self.trend = trend
        self.scale = scale
        self.coverage = coverage

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        # Input is time, not features: a random-feature regression check cannot score well.
        tags.regressor_tags.poor_score = True
        return tags

    def _check_params(self) -> None:
        if self.trend not in _TRENDS:
            raise ParameterError("trend", allowed="one of " + ", ".join(_TRENDS), received=self.trend)
        if self.scale not in _SCALES:
            raise ParameterError("scale", allowed="one of " + ", ".join(_SCALES), received=self.scale)
        if self.method not in _METHODS:
            raise ParameterError("method", allowed="one of " + ", ".join(_METHODS), received=self.method)
        if not (0.0 < float(self.coverage) < 1.0):
            raise ParameterError(
                "coverage", allowed="a number strictly between 0 and 1", received=self.coverage
            )
        is_int = isinstance(self.period, (int, np.integer)) and not isinstance(self.period, bool)
        if is_int and int(self.period) < 2:
            raise ParameterError(
                "period", allowed="an int >= 2 or one of " + ", ".join(_PERIODS), received=self.period
            )
        if not is_int and self.period not in _PERIODS:
            raise ParameterError(
                "period", allowed="an int >= 2 or one of " + ", ".join(_PERIODS), received=self.period
            )

    def _resolve_periods(self, values: FloatArray) -> tuple[str, tuple[int, ...]]:
        if isinstance(self.period, (int, np.integer)) and not isinstance(self.period, bool):
            return "custom", (int(self.period),)
        if self.period == "auto":
            found = detect_period(values, self.step_)
            return found.kind, found.periods
        return str(self.period), periods_for(str(self.period), self.step_)

    def fit(self, X: npt.ArrayLike, y: npt.ArrayLike) -> SeasonalForecaster:
        """Fit to times ``X[:, 0]`` (seconds) and values ``y``; returns ``self``."""
        self._check_params()
        data, target = validate_data(self, X, y, dtype=np.float64, y_numeric=True, ensure_min_samples=3)
        self.t0_, self.step_, values = _regular_grid(data[:, 0], np.asarray(target, dtype=np.float64))
        kind, periods = self._resolve_periods(values)
        self.nonnegative_ = bool(values.min() >= 0)
        # Queue rates and backlogs vary multiplicatively (a cycle's swing grows with its level):
        # model log1p of non-negative series, so the additive STL/ETS become multiplicative.
        self.log_ = bool(self.scale == "auto" and self.nonnegative_ and self.method != "seasonal_naive")
        if self.log_:
            values = np.log1p(values)
        usable = tuple(sorted(p for p in periods if values.size >= 2 * p))
        self.kind_ = kind if usable else "none"
        self.periods_ = usable
        self.n_grid_ = values.size
        if self.method == "seasonal_naive":
            self._fit_naive(values)
            return self
        parts = decompose(values, usable)
        seasonal = np.zeros(values.size)
        self.seasonal_tail_: dict[int, FloatArray] = {}
        for p in usable:
            seasonal += parts[f"seasonal_{p}"]
            self.seasonal_tail_[p] = _mean_last_cycles(parts[f"seasonal_{p}"], p, _SEASONAL_CYCLES)
        adjusted = values - seasonal
        with warnings.catch_warnings():
            # statsmodels warns about convergence on flat or tiny series; the fit is still usable.
            warnings.simplefilter("ignore")
            self.model_ = self._fit_model(adjusted)
        fitted_adjusted = np.asarray(self.model_.fittedvalues, dtype=np.float64)
        self.fitted_ = fitted_adjusted + seasonal
        errors = values - self.fitted_
        self.resid_std_ = float(np.std(errors[1:])) if errors.size > 2 else 0.0
        # STL's local seasonal soaks up part of the noise in-sample, so ETS's own bands are
        # too narrow for forecasts made with a fixed seasonal shape. Widen them by how much
        # larger the in-sample error is with the shape the forecast will use.
        shape = np.zeros(values.size)
        for p in usable:
            phase = (np.arange(values.size) - values.size) % p
            shape += _mean_last_cycles(parts[f"seasonal_{p}"], p, values.size // p)[phase]
        with_shape = values - fitted_adjusted - shape
        self.band_scale_ = (
            max(1.0, float(np.std(with_shape[1:])) / self.resid_std_)
            if self.resid_std_ > 0 and usable
            else 1.0
        )
        return self

    def _fit_model(self, adjusted: FloatArray) -> Any:
        import pandas as pd
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        # A pandas endog: statsmodels 0.15's ETS prediction intervals need an index.
        endog = pd.Series(adjusted)
        level_only = ETSModel(endog, error="add").fit(disp=False)
        mode = self.trend
        if mode == "none" or adjusted.size < 10:
            return level_only
        damped = ETSModel(endog, error="add", trend="add", damped_trend=True).fit(disp=False)
        if mode == "damped":
            return damped
        linear = ETSModel(endog, error="add", trend="add").fit(disp=False)
        return min((level_only, damped, linear), key=lambda result: float(result.aic))

    def _fit_naive(self, values: FloatArray) -> None:
        lag = max(self.periods_) if self.periods_ else 1
        self.model_ = None
        self.last_cycle_ = values[-lag:].copy()
        fitted = np.empty_like(values)
        fitted[:lag] = values[:lag]
        fitted[lag:] = values[:-lag]
        self.fitted_ = fitted
        errors = values[lag:] - values[:-lag]
        self.resid_std_ = float(np.std(errors)) if errors.size > 1 else 0.0

    def _future(self, n_ahead: int, alpha: float | None) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Mean, lower and upper bound for the next ``n_ahead`` grid steps."""
        if n_ahead <= 0:
            empty = np.empty(0)
            return empty, empty, empty
        h = np.arange(1, n_ahead + 1)
        if self.method == "seasonal_naive":
            cycle = self.last_cycle_
            mean = cycle[(h - 1) % cycle.size]
            width = (
                stats.norm.ppf(1 - (alpha or 0.1) / 2) * self.resid_std_ * np.sqrt(np.ceil(h / cycle.size))
            )
            return mean, mean - width, mean + width
        seasonal = np.zeros(n_ahead)
        for p, tail in self.seasonal_tail_.items():
            seasonal += _repeat_last_cycle(tail, p, n_ahead)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if alpha is None:
                mean = np.asarray(self.model_.forecast(n_ahead), dtype=np.float64)
                return mean + seasonal, mean + seasonal, mean + seasonal
            start = self.n_grid_
            frame = self.model_.get_prediction(start=start, end=start + n_ahead - 1).summary_frame(
                alpha=alpha
            )
            mean = frame["mean"].to_numpy(dtype=np.float64)
            lower = mean - (mean - frame["pi_lower"].to_numpy(dtype=np.float64)) * self.band_scale_
            upper = mean + (frame["pi_upper"].to_numpy(dtype=np.float64) - mean) * self.band_scale_
        return mean + seasonal, lower + seasonal, upper + seasonal

    def _at(self, X: npt.ArrayLike, alpha: float | None) -> tuple[FloatArray, FloatArray, FloatArray]:
        check_is_fitted(self, "fitted_")
        data = validate_data(self, X, dtype=np.float64, reset=False)
        index = np.rint((data[:, 0] - self.t0_) / self.step_).astype(np.int64)
        n_ahead = int(max(0, index.max() - self.n_grid_ + 1)) if index.size else 0
        mean_f, lower_f, upper_f = self._future(n_ahead, alpha)
        z = float(stats.norm.ppf(1 - alpha / 2)) if alpha is not None else 0.0
        past = np.clip(index, 0, self.n_grid_ - 1)
        mean = self.fitted_[past].copy()
        lower = mean - z * self.resid_std_
        upper = mean + z * self.resid_std_
        ahead = index >= self.n_grid_
        if ahead.any():
            k = index[ahead] - self.n_grid_
            mean[ahead], lower[ahead], upper[ahead] = mean_f[k], lower_f[k], upper_f[k]
        if self.log_:
            mean, lower, upper = np.expm1(mean), np.expm1(lower), np.expm1(upper)
        if self.nonnegative_:
            mean, lower, upper = (np.maximum(a, 0.0) for a in (mean, lower, upper))
        return mean, lower, upper

    def predict(self, X: npt.ArrayLike) -> FloatArray:
        """Fitted values for past times, forecasts for times after the training data."""
        return self._at(X, None)[0]

    def predict_interval(
        self, X: npt.ArrayLike, coverage: float | None = None
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Return ``(mean, lower, upper)`` at times ``X[:, 0]`` for the given coverage."""
        level = self.coverage if coverage is None else coverage
        if not (0.0 < float(level) < 1.0):
            raise ParameterError("coverage", allowed="a number strictly between 0 and 1", received=level)
        return self._at(X, 1.0 - float(level))


#: Backlogs change by (arrivals - departures) per step: additive dynamics, so no log transform.
ADDITIVE_METRICS = frozenset(
    {
        "consumer_lag_messages",
        "consumer_lag_seconds",
        "queue_depth_messages",
        "messages_unacked",
        "messages_delayed",
        "oldest_message_age_s",
        "dlq_depth_messages",
    }
)


def default_forecaster(metric: str | None = None, *, coverage: float = 0.9) -> SeasonalForecaster:
    """The forecaster the workbench uses for a metric.

    Backlogs (lag, depth, age) drain and grow linearly, so they are modelled as they
    are (``scale="linear"``); rates and everything else on a log scale (``scale="auto"``).

    Examples
    --------
    >>> default_forecaster("consumer_lag_messages").scale, default_forecaster("messages_in_per_s").scale
    ('linear', 'auto')
    """
    return SeasonalForecaster(scale="linear" if metric in ADDITIVE_METRICS else "auto", coverage=coverage)


def mase(actual: npt.ArrayLike, predicted: npt.ArrayLike, history: npt.ArrayLike, period: int = 1) -> float:
    """Mean absolute scaled error: MAE of the forecast / in-sample MAE of the seasonal naive.

    Examples
    --------
    >>> mase([3.0, 4.0], [3.0, 5.0], [1.0, 2.0, 3.0], period=1)
    0.5
    """
    a = np.asarray(actual, dtype=np.float64)
    p = np.asarray(predicted, dtype=np.float64)
    h = np.asarray(history, dtype=np.float64)
    if h.size <= period:
        raise ParameterError("history", allowed=f"more than period={period} values", received=h.size)
    scale = float(np.mean(np.abs(h[period:] - h[:-period])))
    return float(np.mean(np.abs(a - p)) / scale) if scale > 0 else float("inf")


def forecast_series(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    metric: str,
    entity: str | None = None,
    horizon: timedelta = timedelta(hours=6),
    coverage: float = 0.9,
    estimator: SeasonalForecaster | None = None,
) -> pl.DataFrame:
    """Forecast one series of a canonical frame with its prediction band.

    Parameters
    ----------
    frame : polars.DataFrame or LazyFrame
        Canonical long frame; the matching rows are summed per timestamp.
    metric : str
        Metric to forecast.
    entity : str, optional
        Entity to forecast (default: all entities of the metric, summed).
    horizon : timedelta
        How far past the last sample to forecast.
    coverage : float
        Coverage of the band.
    estimator : SeasonalForecaster, optional
        Unfitted forecaster to use (default :func:`default_forecaster` of the metric).

    Returns
    -------
    polars.DataFrame
        ``ts``, ``value`` (observed; null in the future), ``forecast``, ``lower``,
        ``upper`` and ``part`` ("history" or "forecast").

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> ts = [datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=5 * i) for i in range(48)]
    >>> df = pl.DataFrame({"ts": ts, "entity": "q", "metric": "queue_depth_messages",
    ...                    "value": [10.0 * i for i in range(48)]})
    >>> out = forecast_series(df, metric="queue_depth_messages", horizon=timedelta(minutes=30))
    >>> out.filter(pl.col("part") == "forecast").height
    6
    """
    lazy = frame.lazy().filter(pl.col("metric") == metric)
    if entity is not None:
        lazy = lazy.filter(pl.col("entity") == entity)
    series = lazy.group_by("ts").agg(pl.col("value").sum()).sort("ts").collect()
    if series.height < 3:
        raise ParameterError(
            "metric/entity",
            allowed="a series with at least 3 samples",
            received=f"{series.height} samples for metric={metric!r} entity={entity!r}",
        )
    seconds = series["ts"].dt.epoch("ms").to_numpy().astype(np.float64) / 1000.0
    model = default_forecaster(metric, coverage=coverage) if estimator is None else estimator
    model.fit(seconds.reshape(-1, 1), series["value"].to_numpy())
    n_ahead = max(1, int(horizon.total_seconds() // model.step_))
    future = seconds[-1] + model.step_ * np.arange(1, n_ahead + 1)
    times = np.concatenate([seconds, future]).reshape(-1, 1)
    mean, lower, upper = model.predict_interval(times, coverage)
    ts_dtype = series.schema["ts"]
    future_ts = (
        pl.Series("ts", (future * 1000).astype(np.int64)).cast(pl.Datetime("ms")).dt.replace_time_zone("UTC")
    )
    all_ts = pl.concat([series["ts"].cast(pl.Datetime("ms", "UTC")), future_ts]).cast(ts_dtype)
    return pl.DataFrame(
        {
            "ts": all_ts,
            "value": pl.concat([series["value"], pl.Series([None] * n_ahead, dtype=pl.Float64)]),
            "forecast": mean,
            "lower": lower,
            "upper": upper,
            "part": ["history"] * series.height + ["forecast"] * n_ahead,
        }
    )


@dataclass(frozen=True)
class ThresholdCrossing:
    """When a forecast crosses a threshold.

    Attributes
    ----------
    threshold : float
    direction : {"above", "below"}
    expected_at : datetime or None
        First forecast time whose mean is past the threshold (None: not within the horizon).
    earliest_at : datetime or None
        First time the band's far edge (upper for "above", lower for "below") is past it.
    already : bool
        The last observed value is already past the threshold.
    horizon_end : datetime
        End of the forecast.
    """

    threshold: float
    direction: str
    expected_at: datetime | None
    earliest_at: datetime | None
    already: bool
    horizon_end: datetime

    def seconds_until(self, now: datetime) -> float | None:
        """Seconds from ``now`` to :attr:`expected_at` (0 if already past, None if never)."""
        if self.already:
            return 0.0
        if self.expected_at is None:
            return None
        return max(0.0, (self.expected_at - now).total_seconds())


def time_until_threshold(
    forecast: pl.DataFrame, threshold: float, *, direction: str = "above"
) -> ThresholdCrossing:
    """When will the series pass ``threshold`` (a backlog grow past N, a lag recover below N)?

    Parameters
    ----------
    forecast : polars.DataFrame
        Output of :func:`forecast_series`.
    threshold : float
        Level to watch.
    direction : {"above", "below"}
        "above": when does it reach ``>= threshold``; "below": when does it fall ``<= threshold``.

    Returns
    -------
    ThresholdCrossing

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> ts = [datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=5 * i) for i in range(48)]
    >>> df = pl.DataFrame({"ts": ts, "entity": "q", "metric": "queue_depth_messages",
    ...                    "value": [100.0 * i for i in range(48)]})
    >>> fc = forecast_series(df, metric="queue_depth_messages", horizon=timedelta(hours=2))
    >>> hit = time_until_threshold(fc, 5500.0)
    >>> hit.already, hit.expected_at is not None
    (False, True)
    """
    if direction not in ("above", "below"):
        raise ParameterError("direction", allowed="'above' or 'below'", received=direction)
    needed = {"ts", "value", "forecast", "lower", "upper", "part"}
    if not needed <= set(forecast.columns):
        raise ParameterError(
            "forecast",
            allowed=f"a frame from forecast_series with columns {sorted(needed)}",
            received=forecast.columns,
        )
    history = forecast.filter(pl.col("part") == "history")
    ahead = forecast.filter(pl.col("part") == "forecast")
    last = history["value"][-1] if history.height else None
    if direction == "above":
        past_mean, past_edge = pl.col("forecast") >= threshold, pl.col("upper") >= threshold
        already = last is not None and float(last) >= threshold
    else:
        past_mean, past_edge = pl.col("forecast") <= threshold, pl.col("lower") <= threshold
        already = last is not None and float(last) <= threshold
    expected = ahead.filter(past_mean)["ts"]
    earliest = ahead.filter(past_edge)["ts"]
    return ThresholdCrossing(
        threshold=float(threshold),
        direction=direction,
        expected_at=expected[0] if expected.len() else None,
        earliest_at=earliest[0] if earliest.len() else None,
        already=already,
        horizon_end=forecast["ts"][-1],
    )
