"""Seasonality: period detection, MSTL/STL decomposition and learned load profiles.

Three layers, from arrays up to frames:

* :func:`detect_period` looks at one regularly sampled series and says whether it
  repeats daily, weekly or not at all (autocorrelation or periodogram; overridable).
* :class:`SeasonalDecomposer` is a scikit-learn transformer that runs statsmodels'
  MSTL (or STL for a single period) on every column of ``X`` and keeps the fitted
  results; ``transform`` removes the learned seasonal profile.
* :func:`fit_seasonal_profile` learns an hour-of-week profile from a canonical
  frame (with business-hours and holiday ratios) that figures can plot and
  :func:`profile_to_load_spec` can hand to the simulator.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import signal
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from workbench.errors import ParameterError

if TYPE_CHECKING:
    from workbench.sources.simulator.spec import LoadSpec

logger = logging.getLogger(__name__)

__all__ = [
    "PERIOD_SECONDS",
    "PeriodDetection",
    "SeasonalDecomposer",
    "SeasonalProfile",
    "decompose",
    "detect_period",
    "fit_seasonal_profile",
    "infer_sampling_interval",
    "periods_for",
    "profile_to_load_spec",
]

PeriodKind = Literal["daily", "weekly", "none"]
PERIOD_SECONDS: dict[str, int] = {"daily": 86_400, "weekly": 7 * 86_400}
_PERIOD_CHOICES = ("auto", "daily", "weekly", "none")
_METHODS = ("acf", "periodogram")
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PeriodDetection:
    """What :func:`detect_period` found.

    Attributes
    ----------
    kind : {"daily", "weekly", "none"}
        The longest seasonal cycle present ("weekly" implies a daily cycle too).
    periods : tuple of int
        Seasonal periods in samples, shortest first; empty for ``"none"``.
    strength : dict
        Detection statistic per candidate ("daily", "weekly"); ``nan`` when the
        series was too short to test that candidate.
    method : str
        ``"acf"``, ``"periodogram"`` or ``"override"``.
    """

    kind: PeriodKind
    periods: tuple[int, ...]
    strength: dict[str, float] = field(default_factory=dict)
    method: str = "acf"


def periods_for(kind: str, sampling_interval_s: float) -> tuple[int, ...]:
    """Seasonal periods in samples for a period kind.

    Examples
    --------
    >>> periods_for("weekly", 3600)
    (24, 168)
    >>> periods_for("none", 300)
    ()
    """
    if kind not in ("daily", "weekly", "none"):
        raise ParameterError(
            "kind",
            allowed="one of daily, weekly, none",
            received=kind,
        )
    _check_interval(sampling_interval_s)
    if kind == "none":
        return ()
    daily = max(2, round(PERIOD_SECONDS["daily"] / sampling_interval_s))
    if kind == "daily":
        return (daily,)
    return (daily, max(2, round(PERIOD_SECONDS["weekly"] / sampling_interval_s)))


def _check_interval(sampling_interval_s: float) -> None:
    if not np.isfinite(sampling_interval_s) or sampling_interval_s <= 0:
        raise ParameterError(
            "sampling_interval_s",
            allowed="> 0",
            received=sampling_interval_s,
        )


def _fill_gaps(values: FloatArray) -> FloatArray:
    """Linear interpolation over NaN so FFT-based statistics see a full grid."""
    out = np.asarray(values, dtype=np.float64).copy()
    bad = ~np.isfinite(out)
    if bad.all():
        return np.zeros_like(out)
    if bad.any():
        idx = np.arange(out.size)
        out[bad] = np.interp(idx[bad], idx[~bad], out[~bad])
    return out


def _winsorize(values: FloatArray, width: float = 4.0) -> FloatArray:
    """Clip to median +- ``width`` robust standard deviations, so one burst cannot hide a cycle."""
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    if spread <= 0:
        return values
    return np.clip(values, median - width * spread, median + width * spread)


def _detrend(values: FloatArray, period: int) -> FloatArray:
    """Subtract a centred moving average of one period: trend goes, the cycle stays."""
    kernel = np.ones(period) / period
    pad = period // 2
    padded = np.pad(values, (pad, period - 1 - pad), mode="edge")
    return values - np.convolve(padded, kernel, mode="valid")


def _acf_at(values: FloatArray, lag: int) -> float:
    """Correlation of the series with itself ``lag`` samples later (best within +-2 % of the lag).

    Pearson correlation over the overlap, not the textbook biased ACF: with only two
    cycles the biased estimate is halved by construction.
    """
    if lag >= values.size - 2:
        return float("nan")
    tol = max(1, round(0.02 * lag))
    best = -1.0
    for candidate in range(max(1, lag - tol), min(values.size - 3, lag + tol) + 1):
        head, tail = values[:-candidate], values[candidate:]
        head = head - head.mean()
        tail = tail - tail.mean()
        denom = float(np.sqrt(np.dot(head, head) * np.dot(tail, tail)))
        if denom > 0:
            best = max(best, float(np.dot(head, tail)) / denom)
    return best


def _spectral_share(values: FloatArray, period: int) -> float:
    """Share of (detrended) variance at a period and its first harmonics."""
    freqs, power = signal.periodogram(values, detrend="linear", scaling="spectrum")
    total = float(power[1:].sum())
    if total <= 0:
        return 0.0
    share = 0.0
    for harmonic in (1, 2, 3, 4):
        target = harmonic / period
        if target >= 0.5:
            break
        near = np.abs(freqs - target) <= 1.0 / values.size
        share += float(power[near].sum())
    return share / total


def _phase_residual_variance(values: FloatArray, period: int) -> float:
    """Variance left after removing the mean per phase, corrected for the fitted means."""
    phase = np.arange(values.size) % period
    counts = np.bincount(phase, minlength=period)
    means = np.bincount(phase, weights=values, minlength=period) / np.maximum(counts, 1)
    resid = values - means[phase]
    dof = values.size - period
    return float(np.dot(resid, resid) / dof) if dof > 0 else float("inf")


def _weekly_adds(values: FloatArray, daily: int, weekly: int) -> bool:
    """Does a week-long profile explain at least 20 % more variance than a day-long one?

    A purely daily series also correlates at a lag of one week, so the weekly ACF alone
    cannot tell; comparing degrees-of-freedom-corrected residual variances can.
    """
    detrended = _detrend(values, weekly)
    return _phase_residual_variance(detrended, weekly) < 0.8 * _phase_residual_variance(detrended, daily)


def detect_period(
    values: npt.ArrayLike,
    sampling_interval_s: float,
    *,
    method: str = "acf",
    threshold: float | None = None,
    override: str | None = None,
) -> PeriodDetection:
    """Detect a daily or weekly cycle in one regularly sampled series.

    Each candidate period P is tested on the series minus its centred P-sample
    moving average (so a trend does not look like a cycle). With ``method="acf"``
    the statistic is the autocorrelation at lag P; with ``"periodogram"`` it is the
    share of variance at frequency 1/P and its first harmonics. A daily cycle needs
    two days of data; a weekly one needs two weeks, and its hour-of-week profile must
    leave at most 80 % of the (degrees-of-freedom corrected) residual variance of the
    hour-of-day profile, since a purely daily series also correlates at 7 days.

    Parameters
    ----------
    values : array-like of float
        The series, one value per sample, in time order; NaN gaps are interpolated.
    sampling_interval_s : float
        Seconds between samples.
    method : {"acf", "periodogram"}
        Detection statistic.
    threshold : float, optional
        Minimum statistic to accept a cycle (default 0.3 for ACF, 0.2 for the periodogram).
    override : {"daily", "weekly", "none"}, optional
        Skip detection and return this kind.

    Returns
    -------
    PeriodDetection

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(3 * 24)
    >>> detect_period(10 + np.sin(2 * np.pi * t / 24), 3600).kind
    'daily'
    >>> detect_period(np.random.default_rng(0).normal(size=500), 3600).kind
    'none'
    """
    _check_interval(sampling_interval_s)
    if method not in _METHODS:
        raise ParameterError(
            "method",
            allowed="one of " + ", ".join(_METHODS),
            received=method,
        )
    if override is not None:
        return PeriodDetection(
            kind=override,  # type: ignore[arg-type]
            periods=periods_for(override, sampling_interval_s),
            method="override",
        )
    x = _winsorize(_fill_gaps(np.asarray(values, dtype=np.float64).ravel()))
    limit = threshold if threshold is not None else (0.3 if method == "acf" else 0.2)
    strength: dict[str, float] = {}
    for candidate in ("daily", "weekly"):
        period = round(PERIOD_SECONDS[candidate] / sampling_interval_s)
        if period < 2 or x.size < 2 * period or np.ptp(x) == 0:
            strength[candidate] = float("nan")
            continue
        detrended = _detrend(x, period)
        strength[candidate] = (
            _acf_at(detrended, period) if method == "acf" else _spectral_share(detrended, period)
        )
    daily_ok = bool(np.nan_to_num(strength["daily"], nan=-1.0) >= limit)
    weekly_ok = bool(np.nan_to_num(strength["weekly"], nan=-1.0) >= limit) and _weekly_adds(
        x,
        round(PERIOD_SECONDS["daily"] / sampling_interval_s),
        round(PERIOD_SECONDS["weekly"] / sampling_interval_s),
    )
    kind: PeriodKind = "weekly" if weekly_ok else ("daily" if daily_ok else "none")
    logger.debug("detect_period: %s (strength %s, method %s)", kind, strength, method)
    return PeriodDetection(
        kind=kind, periods=periods_for(kind, sampling_interval_s), strength=strength, method=method
    )


def decompose(
    values: npt.ArrayLike,
    periods: Sequence[int],
    *,
    robust: bool = False,
) -> dict[str, FloatArray]:
    """Split a series into trend, seasonal component(s) and residual.

    Uses statsmodels ``STL`` for one period and ``MSTL`` for several. Periods the
    series is too short for (fewer than two cycles) are dropped; with no period
    left, the trend is a centred rolling median and there is no seasonal part.

    Parameters
    ----------
    values : array-like of float
        Regularly sampled series; NaN gaps are interpolated first.
    periods : sequence of int
        Seasonal periods in samples.
    robust : bool
        Robust (outlier-resistant) STL fitting.

    Returns
    -------
    dict
        ``observed``, ``trend``, ``resid`` and ``seasonal_<period>`` per period, all
        the length of ``values``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(96)
    >>> parts = decompose(5 + np.sin(2 * np.pi * t / 24), [24])
    >>> sorted(parts)
    ['observed', 'resid', 'seasonal_24', 'trend']
    >>> bool(np.allclose(parts["trend"] + parts["seasonal_24"] + parts["resid"], parts["observed"]))
    True
    """
    from statsmodels.tsa.seasonal import MSTL, STL

    x = _fill_gaps(np.asarray(values, dtype=np.float64).ravel())
    usable = sorted({int(p) for p in periods if int(p) >= 2 and x.size >= 2 * int(p)})
    out: dict[str, FloatArray] = {"observed": x}
    if not usable:
        window = max(3, min(25, x.size // 4) | 1)
        trend = pl.Series(x).rolling_median(window, center=True, min_samples=1).to_numpy().astype(np.float64)
        out["trend"] = trend
        out["resid"] = x - trend
        return out
    if len(usable) == 1:
        result: Any = STL(x, period=usable[0], robust=robust).fit()
        seasonal = np.asarray(result.seasonal, dtype=np.float64).reshape(-1, 1)
    else:
        result = MSTL(x, periods=usable, stl_kwargs={"robust": robust}).fit()
        seasonal = np.asarray(result.seasonal, dtype=np.float64).reshape(x.size, -1)
    out["trend"] = np.asarray(result.trend, dtype=np.float64)
    for i, period in enumerate(usable):
        out[f"seasonal_{period}"] = seasonal[:, i]
    out["resid"] = np.asarray(result.resid, dtype=np.float64)
    return out


class SeasonalDecomposer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Learn each column's seasonal cycle with MSTL/STL and remove it.

    Every column of ``X`` is one regularly sampled series (rows in time order, row 0
    at the phase the model will later be applied from). ``fit`` detects the period
    (unless given), runs :func:`decompose` and keeps, per column, the mean seasonal
    shape over the longest period. ``transform`` subtracts that shape, so the output
    is the deseasonalised series; with no cycle found it returns ``X`` unchanged.

    Parameters
    ----------
    period : {"auto", "daily", "weekly", "none"} or int
        Period kind, or an explicit period in samples; "auto" runs :func:`detect_period`.
    sampling_interval_s : float
        Seconds between rows.
    method : {"acf", "periodogram"}
        Detection statistic for ``period="auto"``.
    robust : bool
        Robust STL fitting.

    Attributes
    ----------
    periods_ : list of tuple of int
        Periods used per column.
    kinds_ : list of str
        Period kind per column ("custom" for an explicit integer period).
    profiles_ : list of ndarray
        Mean seasonal shape per column (length = longest period, or 1 if none).
    components_ : list of dict
        The decomposition of the training data per column (see :func:`decompose`).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(24 * 7)
    >>> X = (10 + 3 * np.sin(2 * np.pi * t / 24)).reshape(-1, 1)
    >>> model = SeasonalDecomposer(sampling_interval_s=3600).fit(X)
    >>> model.kinds_
    ['daily']
    >>> float(np.ptp(model.transform(X))) < 1.0
    True
    """

    def __init__(
        self,
        period: str | int = "auto",
        sampling_interval_s: float = 300.0,
        method: str = "acf",
        robust: bool = False,
    ) -> None:
        self.period = period
        self.sampling_interval_s = sampling_interval_s
        self.method = method
        self.robust = robust

    def _periods(self, column: FloatArray) -> tuple[str, tuple[int, ...]]:
        if isinstance(self.period, (int, np.integer)) and not isinstance(self.period, bool):
            if self.period < 2:
                raise ParameterError(
                    "period",
                    allowed=">= 2 or one of " + ", ".join(_PERIOD_CHOICES),
                    received=self.period,
                )
            return "custom", (int(self.period),)
        if self.period not in _PERIOD_CHOICES:
            raise ParameterError(
                "period",
                allowed="one of " + ", ".join(_PERIOD_CHOICES),
                received=self.period,
            )
        if self.period == "auto":
            found = detect_period(column, self.sampling_interval_s, method=self.method)
            return found.kind, found.periods
        return str(self.period), periods_for(str(self.period), self.sampling_interval_s)

    def fit(self, X: npt.ArrayLike, y: object = None) -> SeasonalDecomposer:
        """Detect periods and decompose every column of ``X``; returns ``self``."""
        data = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        _check_interval(self.sampling_interval_s)
        self.periods_: list[tuple[int, ...]] = []
        self.kinds_: list[str] = []
        self.profiles_: list[FloatArray] = []
        self.components_: list[dict[str, FloatArray]] = []
        for column in data.T:
            kind, periods = self._periods(column)
            usable = tuple(p for p in periods if column.size >= 2 * p)
            parts = decompose(column, usable, robust=self.robust)
            seasonal = sum(
                (parts[f"seasonal_{p}"] for p in usable), start=np.zeros(column.size, dtype=np.float64)
            )
            longest = max(usable) if usable else 1
            phase = np.arange(column.size) % longest
            profile = np.bincount(phase, weights=seasonal, minlength=longest) / np.maximum(
                np.bincount(phase, minlength=longest), 1
            )
            self.kinds_.append(kind if usable else "none")
            self.periods_.append(usable)
            self.profiles_.append(profile.astype(np.float64))
            self.components_.append(parts)
        return self

    def seasonal(self, n_samples: int, start_phase: int = 0) -> FloatArray:
        """The learned seasonal shape for ``n_samples`` rows, one column per series."""
        check_is_fitted(self, "profiles_")
        out = np.empty((n_samples, len(self.profiles_)), dtype=np.float64)
        for j, profile in enumerate(self.profiles_):
            out[:, j] = profile[(start_phase + np.arange(n_samples)) % profile.size]
        return out

    def transform(self, X: npt.ArrayLike) -> FloatArray:
        """Subtract the learned seasonal shape (row 0 at phase 0)."""
        check_is_fitted(self, "profiles_")
        data = validate_data(self, X, dtype=np.float64, reset=False)
        return np.asarray(data - self.seasonal(data.shape[0]), dtype=np.float64)

    def inverse_transform(self, X: npt.ArrayLike) -> FloatArray:
        """Add the learned seasonal shape back."""
        check_is_fitted(self, "profiles_")
        data = validate_data(self, X, dtype=np.float64, reset=False)
        return np.asarray(data + self.seasonal(data.shape[0]), dtype=np.float64)


def infer_sampling_interval(ts: pl.Series) -> float:
    """Median step between sorted distinct timestamps, in seconds.

    Examples
    --------
    >>> from datetime import datetime
    >>> s = pl.Series([datetime(2026, 1, 1, 0, m) for m in (0, 5, 10, 20)])
    >>> infer_sampling_interval(s)
    300.0
    """
    steps = ts.unique().sort().diff().dt.total_milliseconds().drop_nulls()
    if steps.len() == 0:
        raise ParameterError(
            "ts",
            allowed=">= 2 distinct timestamps",
            received=ts.len(),
        )
    median = steps.median()
    return float(median) / 1000.0 if median is not None else 0.0  # type: ignore[arg-type]


@dataclass(frozen=True)
class SeasonalProfile:
    """An hour-of-week load profile learned from a canonical frame.

    Attributes
    ----------
    metric : str
        The metric it was learned from.
    kind : {"daily", "weekly", "none"}
        Detected (or overridden) cycle.
    table : polars.DataFrame
        168 rows: ``weekday`` (1 = Monday … 7 = Sunday), ``hour`` (0-23, UTC),
        ``mean``, ``p10``, ``p90`` (metric unit) and ``multiplier`` (mean / overall
        mean). For kind "daily" the weekdays share one daily shape; for "none" every
        multiplier is 1.
    base_level : float
        Overall mean on regular (non-holiday) days.
    business_hours_ratio : float
        Mean inside business hours (Mon-Fri, ``business_hours`` UTC) / mean outside.
    holiday_ratio : float
        Mean on the given holidays / mean on other days (``nan`` without holidays).
    detection : PeriodDetection
    """

    metric: str
    kind: PeriodKind
    table: pl.DataFrame
    base_level: float
    business_hours_ratio: float
    holiday_ratio: float
    detection: PeriodDetection

    def multiplier_at(self, ts: pl.Expr) -> pl.Expr:
        """Expression: the profile multiplier for each timestamp in ``ts``."""
        key = ts.dt.weekday().cast(pl.Int32) * 24 + ts.dt.hour().cast(pl.Int32)
        lookup = dict(
            zip(
                (self.table["weekday"] * 24 + self.table["hour"]).to_list(),
                self.table["multiplier"].to_list(),
                strict=True,
            )
        )
        return key.replace_strict(lookup, default=1.0, return_dtype=pl.Float64)


def fit_seasonal_profile(
    frame: pl.DataFrame | pl.LazyFrame,
    metric: str,
    *,
    entity: str | None = None,
    period: str = "auto",
    method: str = "acf",
    business_hours: tuple[int, int] = (9, 17),
    holidays: Sequence[date] = (),
) -> SeasonalProfile:
    """Learn an hour-of-week profile of one metric from a canonical frame.

    Values of all matching series (optionally one ``entity``) are summed per
    timestamp, the cycle is detected on that total, and the mean per (weekday, hour)
    becomes the profile. Holidays are left out of the profile and summarised by
    ``holiday_ratio``.

    Parameters
    ----------
    frame : polars.DataFrame or LazyFrame
        Canonical long frame.
    metric : str
        Metric to learn, e.g. ``"messages_in_per_s"``.
    entity : str, optional
        Restrict to one entity.
    period : {"auto", "daily", "weekly", "none"}
        Cycle kind; "auto" detects it.
    method : {"acf", "periodogram"}
        Detection statistic for "auto".
    business_hours : tuple of int
        ``(start_hour, end_hour)`` in UTC, Monday to Friday.
    holidays : sequence of date
        Dates treated as holidays.

    Returns
    -------
    SeasonalProfile

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
    >>> ts = [t0 + timedelta(hours=h) for h in range(24 * 14)]
    >>> df = pl.DataFrame({"ts": ts, "entity": "orders", "metric": "messages_in_per_s",
    ...                    "value": [100.0 + (50 if 9 <= t.hour < 17 else 0) for t in ts]})
    >>> profile = fit_seasonal_profile(df, "messages_in_per_s")
    >>> profile.kind, round(profile.business_hours_ratio, 2)
    ('daily', 1.41)
    """
    if period not in _PERIOD_CHOICES:
        raise ParameterError(
            "period",
            allowed="one of " + ", ".join(_PERIOD_CHOICES),
            received=period,
        )
    lazy = frame.lazy().filter(pl.col("metric") == metric)
    if entity is not None:
        lazy = lazy.filter(pl.col("entity") == entity)
    total = lazy.group_by("ts").agg(pl.col("value").sum()).sort("ts").collect()
    if total.height < 2:
        raise ParameterError(
            "metric",
            allowed="a metric with >= 2 samples in the frame",
            received=metric,
        )
    holiday_list = list(holidays)
    ts = pl.col("ts")
    total = total.with_columns(
        weekday=ts.dt.weekday().cast(pl.Int32),
        hour=ts.dt.hour().cast(pl.Int32),
        is_holiday=ts.dt.date().is_in(holiday_list) if holiday_list else pl.lit(False),
    ).with_columns(
        in_business=(pl.col("weekday") <= 5)
        & pl.col("hour").is_between(business_hours[0], business_hours[1], closed="left")
    )
    interval = infer_sampling_interval(total["ts"])
    regular = total.filter(~pl.col("is_holiday"))
    grid = regular.upsample("ts", every=f"{max(1, round(interval * 1000))}ms")["value"].to_numpy()
    detection = detect_period(grid, interval, method=method, override=None if period == "auto" else period)
    base = float(regular["value"].mean() or 0.0)  # type: ignore[arg-type]
    keys = ["hour"] if detection.kind == "daily" else ["weekday", "hour"]
    slots = pl.DataFrame(
        {"weekday": np.repeat(np.arange(1, 8), 24), "hour": np.tile(np.arange(24), 7)},
        schema={"weekday": pl.Int32, "hour": pl.Int32},
    )
    value = pl.col("value")
    if detection.kind == "none":
        stats = regular.select(mean=value.mean(), p10=value.quantile(0.1), p90=value.quantile(0.9))
        table = slots.join(stats, how="cross")
    else:
        stats = regular.group_by(keys).agg(
            mean=value.mean(), p10=value.quantile(0.1), p90=value.quantile(0.9)
        )
        table = slots.join(stats, on=keys, how="left")
    table = (
        table.with_columns(
            pl.col("mean", "p10", "p90").fill_null(base),
        )
        .with_columns(
            multiplier=pl.col("mean") / base if base != 0 else pl.lit(1.0),
        )
        .sort("weekday", "hour")
    )
    business = regular.group_by("in_business").agg(value.mean())
    inside = business.filter(pl.col("in_business"))["value"]
    outside = business.filter(~pl.col("in_business"))["value"]
    business_ratio = (
        float(inside[0]) / float(outside[0])
        if inside.len() and outside.len() and float(outside[0]) != 0
        else float("nan")
    )
    holiday_mean = total.filter(pl.col("is_holiday"))["value"].mean()
    holiday_ratio = (
        float(holiday_mean) / base  # type: ignore[arg-type]
        if holiday_mean is not None and base != 0
        else float("nan")
    )
    return SeasonalProfile(
        metric=metric,
        kind=detection.kind,
        table=table,
        base_level=base,
        business_hours_ratio=business_ratio,
        holiday_ratio=holiday_ratio,
        detection=detection,
    )


def profile_to_load_spec(
    profile: SeasonalProfile,
    *,
    holidays: Sequence[date] = (),
    noise: float = 0.05,
) -> LoadSpec:
    """Turn a learned profile into the simulator's load spec (:class:`~workbench.sources.simulator.spec.LoadSpec`).

    A weekly profile becomes 168 hour-of-week multipliers, a daily one 24 hour-of-day
    multipliers (both in UTC), and "none" a flat load. The base rate is the profile's
    base level; the holiday factor is the learned holiday ratio when there is one.

    Parameters
    ----------
    profile : SeasonalProfile
        From :func:`fit_seasonal_profile` (of a rate metric such as ``messages_in_per_s``).
    holidays : sequence of date
        Dates the simulated load should treat as holidays.
    noise : float
        Multiplicative noise spread of the simulated load.

    Returns
    -------
    LoadSpec

    Examples
    --------
    >>> from datetime import datetime, timedelta, timezone
    >>> t0 = datetime(2026, 1, 5, tzinfo=timezone.utc)
    >>> ts = [t0 + timedelta(hours=h) for h in range(24 * 7)]
    >>> df = pl.DataFrame({"ts": ts, "entity": "q", "metric": "m",
    ...                    "value": [10.0 + (5 if t.hour >= 12 else 0) for t in ts]})
    >>> spec = profile_to_load_spec(fit_seasonal_profile(df, "m"))
    >>> spec.base_rate, len(spec.profile), round(spec.profile[13] / spec.profile[1], 2)
    (12.5, 24, 1.5)
    """
    from workbench.sources.simulator.spec import LoadSpec

    table = profile.table.sort("weekday", "hour")
    if profile.kind == "weekly":
        shape: list[float] | None = [float(v) for v in table["multiplier"]]
    elif profile.kind == "daily":
        shape = [float(v) for v in table.filter(pl.col("weekday") == 1)["multiplier"]]
    else:
        shape = None
    holiday_factor = profile.holiday_ratio if np.isfinite(profile.holiday_ratio) else 0.4
    return LoadSpec.model_validate(
        {
            "base_rate": max(0.0, profile.base_level),
            "profile": [max(0.0, round(v, 6)) for v in shape] if shape is not None else None,
            "daily_amplitude": 0.0,
            "weekend_factor": 1.0,
            "holidays": list(holidays),
            "holiday_factor": max(0.0, holiday_factor),
            "noise": noise,
        }
    )
