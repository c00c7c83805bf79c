"""One learned series: seasonal profile, level and trend, copula-AR noise, bursts.

A :class:`SeriesModel` is the learned description of one real series. It is a plain,
JSON-serialisable record, so a scenario file can carry it and the fleet simulator can
replay it with :func:`generate_series`. The model is additive in a (possibly
log-transformed) space::

    y(t) = level + trend * days(t) + profile(slot(t)) + scale(slot(t)) * r(t)
    x(t) = inverse_transform(y(t)), clipped to the learned bounds

where ``slot`` is the hour of the day (daily profile) or the hour of the week (weekly
profile, 168 values), linearly interpolated between hour centres so the profile is
smooth. The residual ``r`` is a Gaussian-copula AR process: its normal scores follow an
AR(p) model (order by AIC) and they are mapped back through the empirical quantile
function of the learned residuals, so both the noise distribution and its
autocorrelation are reproduced. Bursts (short runs of residuals beyond
``burst_threshold`` robust standard deviations) and incidents (the same, lasting at
least ``incident_min_steps`` samples) are cut out before the noise is learned; their
rates per day are learned and their shapes are kept as templates that are replayed at
Poisson-distributed times.

Examples
--------
>>> import numpy as np
>>> t = np.arange(0, 10 * 86400, 300.0)
>>> rng = np.random.default_rng(0)
>>> x = 100 + 20 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, 2, t.size)
>>> model = fit_series_model(t, x)
>>> model.profile_kind
'daily'
>>> y = generate_series(model, t, np.random.default_rng(1))
>>> bool(abs(y.mean() - x.mean()) < 2.0)
True
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import signal, special, stats

from workbench.errors import ParameterError

__all__ = [
    "SeriesModel",
    "fit_series_model",
    "generate_series",
    "profile_at",
    "regular_grid",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
HOUR = 3600.0
DAY = 86400.0
WEEK = 7 * DAY
#: Probabilities at which the residual quantile function is stored.
N_QUANTILES = 201


@dataclass(frozen=True)
class SeriesModel:
    """Learned parameters of one series (all plain numbers and lists; JSON-safe).

    Attributes
    ----------
    step_s : float
        Sampling step of the real series, seconds.
    transform : {"identity", "log1p"}
        Space in which the additive model is fitted.
    lower, upper : float or None
        Bounds the generated values are clipped to (original units).
    level : float
        Mean at ``t0`` in the model space.
    trend_per_day : float
        Linear trend in the model space, per day.
    t0 : float
        Reference time (epoch seconds) of ``level``.
    profile_kind : {"none", "daily", "weekly"}
        Which seasonal profile was learned.
    profile : list of float
        24 (daily) or 168 (weekly) hourly offsets in the model space.
    scale_profile : list of float
        Hourly multipliers of the residual spread (mean 1).
    ar_coefs : list of float
        AR coefficients of the residual's normal scores.
    ar_sigma : float
        Innovation standard deviation making the normal scores' variance 1.
    residual_quantiles : list of float
        Residual quantiles at ``N_QUANTILES`` evenly spaced probabilities.
    bursts_per_day, incidents_per_day : float
        Learned event rates.
    burst_templates, incident_templates : list of list of float
        Residual shapes of the learned events (model-space units).
    support : list of float
        Observed distinct values of a quantised series (empty: continuous); generated
        values are snapped to the nearest of them.
    """

    step_s: float
    transform: Literal["identity", "log1p"]
    lower: float | None
    upper: float | None
    level: float
    trend_per_day: float
    t0: float
    profile_kind: Literal["none", "daily", "weekly"]
    profile: list[float]
    scale_profile: list[float]
    ar_coefs: list[float]
    ar_sigma: float
    residual_quantiles: list[float]
    bursts_per_day: float = 0.0
    incidents_per_day: float = 0.0
    burst_templates: list[list[float]] = field(default_factory=list)
    incident_templates: list[list[float]] = field(default_factory=list)
    support: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the model as a JSON-safe dict (plain Python floats, lists and strings)."""
        out: dict[str, Any] = json.loads(json.dumps(asdict(self), default=float))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeriesModel:
        """Build a model from :meth:`to_dict` output."""
        return cls(**data)


def regular_grid(ts_s: FloatArray, values: FloatArray) -> tuple[FloatArray, FloatArray, float]:
    """Put a series on a regular grid at its most common step, interpolating gaps.

    Parameters
    ----------
    ts_s : ndarray
        Sample times, epoch seconds (any order; duplicates are averaged away).
    values : ndarray
        Values at ``ts_s``.

    Returns
    -------
    grid, regular, step
        Grid times, values on the grid (linear interpolation) and the step in seconds.

    Examples
    --------
    >>> g, v, step = regular_grid(np.array([0.0, 60, 180]), np.array([1.0, 2, 4]))
    >>> step, v.tolist()
    (60.0, [1.0, 2.0, 3.0, 4.0])
    """
    order = np.argsort(ts_s, kind="stable")
    ts_sorted, vals_sorted = ts_s[order], values[order]
    unique_ts, inverse = np.unique(ts_sorted, return_inverse=True)
    sums = np.bincount(inverse, weights=vals_sorted)
    counts = np.bincount(inverse)
    unique_vals = sums / counts
    if unique_ts.size < 2:
        raise ParameterError(
            "values", allowed="a series of at least 2 distinct times", received=unique_ts.size
        )
    steps = np.diff(unique_ts)
    uniq_steps, step_counts = np.unique(steps, return_counts=True)
    step = float(uniq_steps[np.argmax(step_counts)])
    grid = np.arange(unique_ts[0], unique_ts[-1] + step / 2, step)
    return grid, np.interp(grid, unique_ts, unique_vals), step


def profile_at(profile: FloatArray, ts_s: FloatArray, kind: str) -> FloatArray:
    """Evaluate an hourly profile at times, interpolating linearly between hour centres.

    Examples
    --------
    >>> profile_at(np.arange(24.0), np.array([0.5 * 3600, 1.0 * 3600]), "daily").tolist()
    [0.0, 0.5]
    """
    if kind == "none" or profile.size == 0:
        return np.zeros_like(ts_s)
    period = DAY if kind == "daily" else WEEK
    # Monday 00:00 anchors the week; epoch 0 was a Thursday, hence the 3-day shift.
    phase = np.mod(ts_s + (3 * DAY if kind == "weekly" else 0.0), period) / HOUR - 0.5
    lo = np.floor(phase).astype(np.int64)
    frac = phase - lo
    n = profile.size
    return (1 - frac) * profile[np.mod(lo, n)] + frac * profile[np.mod(lo + 1, n)]


def _slots(ts_s: FloatArray, kind: str) -> NDArray[np.int64]:
    period = DAY if kind == "daily" else WEEK
    shift = 3 * DAY if kind == "weekly" else 0.0
    return (np.mod(ts_s + shift, period) // HOUR).astype(np.int64)


def _slot_means(values: FloatArray, slots: NDArray[np.int64], n: int) -> FloatArray:
    sums = np.bincount(slots, weights=values, minlength=n)
    counts = np.bincount(slots, minlength=n)
    means = np.divide(sums, counts, out=np.zeros(n), where=counts > 0)
    return means


def _robust_z(x: FloatArray) -> FloatArray:
    med = np.median(x)
    mad = np.median(np.abs(x - med)) * 1.4826
    if mad <= 0:
        mad = float(np.std(x)) or 1.0
    return np.asarray((x - med) / mad, dtype=np.float64)


def _runs(mask: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Start/stop (exclusive) index pairs of the True runs of a boolean mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _fit_ar(z: FloatArray, max_lag: int) -> tuple[FloatArray, float]:
    """AR coefficients by AIC (statsmodels) and the innovation sd giving unit variance."""
    from statsmodels.tsa.ar_model import AutoReg, ar_select_order
    from statsmodels.tsa.arima_process import arma2ma

    max_lag = int(min(max_lag, max(1, z.size // 10)))
    if float(np.std(z)) == 0.0 or z.size < 12:
        return np.zeros(0), 1.0
    with warnings.catch_warnings():
        # statsmodels warns about the (absent) date index; the series is already regular.
        warnings.simplefilter("ignore")
        selected = ar_select_order(z, maxlag=max_lag, ic="aic", trend="n")
        lags = selected.ar_lags
        if not lags:
            return np.zeros(0), 1.0
        result = AutoReg(z, lags=max(lags), trend="n").fit()
    coefs = np.asarray(result.params, dtype=float)
    roots = np.roots(np.concatenate([[1.0], -coefs])) if coefs.size else np.zeros(0)
    if roots.size and np.max(np.abs(roots)) >= 0.999:
        logger.info("AR fit not stationary (max root %.3f); using AR(1)", np.max(np.abs(roots)))
        phi = float(np.clip(np.corrcoef(z[:-1], z[1:])[0, 1], -0.99, 0.99))
        coefs = np.array([phi])
    psi = arma2ma(np.concatenate([[1.0], -coefs]), np.array([1.0]), lags=2000)
    sigma = float(1.0 / np.sqrt(np.sum(psi**2)))
    return coefs, sigma


def fit_series_model(
    ts_s: FloatArray,
    values: FloatArray,
    *,
    seasonality: Literal["auto", "none", "daily", "weekly"] = "auto",
    transform: Literal["auto", "identity", "log1p"] = "auto",
    trend: bool = True,
    ar_max_lag: int = 48,
    burst_threshold: float = 5.0,
    incident_min_steps: int = 6,
    level_window_days: float | None = None,
    max_support: int = 2000,
) -> SeriesModel:
    """Learn a :class:`SeriesModel` from one real series.

    Parameters
    ----------
    ts_s, values : ndarray
        Sample times (epoch seconds) and values; gaps are interpolated for learning.
    seasonality : {"auto", "none", "daily", "weekly"}
        ``auto`` learns a weekly profile when at least two full weeks are present,
        else a daily profile when at least two days are present.
    transform : {"auto", "identity", "log1p"}
        ``auto`` uses ``log1p`` for non-negative, right-skewed series (skew > 1).
    trend : bool
        Learn a linear trend.
    ar_max_lag : int
        Largest AR order tried.
    burst_threshold : float
        Robust z-score beyond which residuals are cut out as bursts / incidents.
    incident_min_steps : int
        A run at least this long is an incident; shorter runs are bursts.
    level_window_days : float, optional
        Estimate the level from the last this many days only (a level that wanders is
        best predicted by its recent value); default: the whole series.
    max_support : int
        Quantised series (fewer than ``max_support`` distinct values, and fewer than half
        as many as samples) are generated on the observed value set.

    Returns
    -------
    SeriesModel

    Examples
    --------
    >>> t = np.arange(0, 3 * 86400, 600.0)
    >>> m = fit_series_model(t, np.random.default_rng(0).gamma(2.0, 5.0, t.size))
    >>> m.transform, m.profile_kind
    ('log1p', 'daily')
    """
    values = np.asarray(values, dtype=float)
    ts_s = np.asarray(ts_s, dtype=float)
    if values.shape != ts_s.shape or values.ndim != 1:
        raise ParameterError("values", allowed="a 1-D array as long as ts_s", received=values.shape)
    if not np.all(np.isfinite(values)):
        raise ParameterError(
            "values", allowed="finite numbers (quarantine NaN/inf first)", received="non-finite"
        )
    grid, x, step = regular_grid(ts_s, values)
    if x.size < 4:
        raise ParameterError("values", allowed="at least 4 samples on the regular grid", received=x.size)
    span = grid[-1] - grid[0] + step

    # Generated values stay within the observed range widened by a quarter of it (and
    # non-negative series stay non-negative): an AR tail should not invent a new regime.
    x_min, x_max = float(np.min(x)), float(np.max(x))
    margin = 0.25 * (x_max - x_min)
    lower: float | None = 0.0 if x_min >= 0 else x_min - margin
    upper: float | None = x_max + margin
    if transform == "auto":
        skew = float(np.mean(((x - x.mean()) / (x.std() or 1.0)) ** 3))
        transform = "log1p" if lower == 0.0 and skew > 1.0 else "identity"
    elif transform not in ("identity", "log1p"):
        raise ParameterError("transform", allowed="'auto', 'identity' or 'log1p'", received=transform)
    if transform == "log1p" and float(np.min(x)) < 0:
        raise ParameterError("transform", allowed="'log1p' only for non-negative series", received=transform)
    y = np.log1p(x) if transform == "log1p" else x.copy()

    if seasonality == "auto":
        kind: Literal["none", "daily", "weekly"] = (
            "weekly" if span >= 2 * WEEK else "daily" if span >= 2 * DAY else "none"
        )
    elif seasonality in ("none", "daily", "weekly"):
        kind = seasonality
    else:
        raise ParameterError(
            "seasonality", allowed="'auto', 'none', 'daily' or 'weekly'", received=seasonality
        )
    n_slots = 168 if kind == "weekly" else 24 if kind == "daily" else 0

    days = (grid - grid[0]) / DAY
    keep = np.ones(y.size, dtype=bool)
    profile = np.zeros(n_slots)
    scale = np.ones(n_slots)
    slots = _slots(grid, kind) if n_slots else np.zeros(y.size, dtype=np.int64)
    seasonal = np.zeros(y.size)
    # Backfitting: the trend is fitted after removing the previous pass's profile (a daily
    # sine over a few days biases a plain linear fit), later passes also drop the bursts.
    for _ in range(3):
        deseasoned = y - seasonal
        slope = float(np.polyfit(days[keep], deseasoned[keep], 1)[0]) if trend and days[-1] > 0 else 0.0
        detrended = y - slope * days
        level = float(np.mean(detrended[keep]))
        if n_slots:
            profile = _slot_means(detrended[keep] - level, slots[keep], n_slots)
        seasonal = profile_at(profile, grid, kind)
        resid = detrended - level - seasonal
        if n_slots:
            spread = np.sqrt(_slot_means(resid[keep] ** 2, slots[keep], n_slots))
            positive = spread > 0
            scale = np.where(positive, spread / (np.mean(spread[positive]) if positive.any() else 1.0), 1.0)
        scaled = resid / np.maximum(profile_at(scale, grid, kind), 1e-6)
        keep = np.abs(_robust_z(scaled)) <= burst_threshold

    runs = _runs(~keep)
    # Event shapes are kept unscaled: they are replayed as they were, at any hour.
    bursts = [resid[a:b].tolist() for a, b in runs if b - a < incident_min_steps]
    incidents = [resid[a:b].tolist() for a, b in runs if b - a >= incident_min_steps]
    clean = scaled.copy()
    if (~keep).any() and keep.sum() >= 2:
        clean[~keep] = np.interp(np.flatnonzero(~keep), np.flatnonzero(keep), scaled[keep])
    probs = np.linspace(0.0, 1.0, N_QUANTILES)
    quantiles = np.quantile(clean[keep] if keep.any() else clean, probs)
    # Mid-ranks: tied values (quantised CloudWatch samples, runs of zeros) share one score
    # instead of getting artificial, time-ordered ranks.
    ranks = stats.rankdata(clean, method="average") - 1.0
    z = special.ndtri((ranks + 0.5) / clean.size)
    coefs, sigma = _fit_ar(z, ar_max_lag)
    n_days = span / DAY
    distinct = np.unique(values)
    support = distinct.tolist() if distinct.size <= max_support and distinct.size < 0.5 * values.size else []
    if level_window_days is not None:
        recent = grid >= grid[-1] - level_window_days * DAY
        level = float(np.mean((detrended - seasonal)[recent & keep])) if (recent & keep).any() else level
    return SeriesModel(
        step_s=step,
        transform=transform,
        lower=lower,
        upper=upper,
        level=level,
        trend_per_day=slope,
        t0=float(grid[0]),
        profile_kind=kind,
        profile=profile.tolist(),
        scale_profile=scale.tolist(),
        ar_coefs=coefs.tolist(),
        ar_sigma=sigma,
        residual_quantiles=quantiles.tolist(),
        bursts_per_day=float(len(bursts) / n_days),
        incidents_per_day=float(len(incidents) / n_days),
        support=support,
        burst_templates=bursts[:64],
        incident_templates=[t[:288] for t in incidents[:32]],
    )


def _place_events(
    resid: FloatArray, templates: list[list[float]], rate_per_step: float, rng: np.random.Generator
) -> None:
    if not templates or rate_per_step <= 0:
        return
    n_events = int(rng.poisson(rate_per_step * resid.size))
    for start, pick in zip(
        rng.integers(0, resid.size, n_events), rng.integers(0, len(templates), n_events), strict=True
    ):
        shape = np.asarray(templates[pick])[: resid.size - start]
        resid[start : start + shape.size] = shape


def generate_series(
    model: SeriesModel,
    ts_s: FloatArray,
    rng: np.random.Generator,
    *,
    trend: bool = True,
) -> FloatArray:
    """Generate values of a learned series at the given times.

    Parameters
    ----------
    model : SeriesModel
        Learned model.
    ts_s : ndarray
        Times (epoch seconds), assumed regular at ``model.step_s``.
    rng : numpy.random.Generator
        Source of randomness (the caller owns the seed).
    trend : bool
        Extrapolate the learned trend (else hold the level at ``t0``'s mean).

    Returns
    -------
    ndarray
        Generated values in the original units.

    Examples
    --------
    >>> t = np.arange(0, 86400 * 3, 3600.0)
    >>> m = fit_series_model(t, 5 + np.random.default_rng(0).normal(size=t.size))
    >>> generate_series(m, t, np.random.default_rng(0)).shape
    (72,)
    """
    ts_s = np.asarray(ts_s, dtype=float)
    n = ts_s.size
    if n == 0:
        return np.zeros(0)
    if n > 1 and not np.isclose(float(np.median(np.diff(ts_s))), model.step_s, rtol=1e-3):
        # The AR noise was learned at the real step: generate there, interpolate to ts_s.
        own = np.arange(ts_s.min(), ts_s.max() + model.step_s, model.step_s)
        return np.interp(ts_s, own, generate_series(model, own, rng, trend=trend))
    coefs = np.asarray(model.ar_coefs, dtype=float)
    burn = 10 * max(coefs.size, 1) + 100
    noise = rng.normal(0.0, model.ar_sigma if coefs.size else 1.0, n + burn)
    z = signal.lfilter([1.0], np.concatenate([[1.0], -coefs]), noise)[burn:] if coefs.size else noise[burn:]
    probs = np.linspace(0.0, 1.0, N_QUANTILES)
    kind = model.profile_kind
    profile = np.asarray(model.profile, dtype=float)
    scale = np.asarray(model.scale_profile, dtype=float)
    resid = np.interp(special.ndtr(z), probs, np.asarray(model.residual_quantiles))
    resid = resid * (profile_at(scale, ts_s, kind) if scale.size else 1.0)
    per_step = model.step_s / DAY
    _place_events(resid, model.incident_templates, model.incidents_per_day * per_step, rng)
    _place_events(resid, model.burst_templates, model.bursts_per_day * per_step, rng)
    days = (ts_s - model.t0) / DAY if trend else np.zeros(n)
    y = model.level + model.trend_per_day * days + profile_at(profile, ts_s, kind) + resid
    x = np.expm1(y) if model.transform == "log1p" else y
    if model.lower is not None or model.upper is not None:
        x = np.clip(x, model.lower, model.upper)
    if model.support:
        support = np.asarray(model.support, dtype=float)
        idx = (
            np.clip(np.searchsorted(support, x), 1, support.size - 1)
            if support.size > 1
            else np.zeros(n, int)
        )
        if support.size > 1:
            left, right = support[idx - 1], support[idx]
            x = np.where(np.abs(x - left) <= np.abs(right - x), left, right)
        else:
            x = np.full(n, support[0])
    return np.asarray(x, dtype=float)
