"""Statistics that compare one synthetic series with one real series.

Every function takes plain arrays (times in epoch seconds, values) and returns numbers,
so the same code scores a learned simulation, a baseline and a built-in scenario.
:func:`compare_series` runs them all and also returns the arrays the figures draw
(:class:`SeriesDetails`); figures never compute statistics themselves.

Conventions
-----------
* Autocorrelation is estimated on the regular grid of each series, up to one day of lags.
* Two-sample tests assume independent samples; real series are autocorrelated, which
  makes raw p-values far too small. The tests therefore run on series *thinned* by their
  decorrelation lag (the first lag where the ACF drops below 1/e), a standard
  effective-sample-size correction.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a, b = rng.normal(size=2000), rng.normal(size=2000)
>>> round(ks_complement(a, b), 2) >= 0.95
True
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import signal, stats

from workbench.errors import ParameterError

__all__ = [
    "SeriesDetails",
    "acf",
    "acf_distance",
    "compare_series",
    "decorrelation_lag",
    "discriminative_auc",
    "distribution_tests",
    "hourly_profile",
    "ks_complement",
    "seasonal_profile_correlation",
    "spectral_distance",
    "tstr_ratio",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
DAY = 86400.0


@dataclass
class SeriesDetails:
    """Arrays behind the fidelity figures of one real/synthetic pair.

    Attributes
    ----------
    probabilities, real_quantiles, sim_quantiles : list of float
        QQ plot coordinates.
    lags_hours, real_acf, sim_acf : list of float
        ACF overlay (lag in hours).
    real_profile, sim_profile : list of float
        Mean by hour of day (24 values).
    bin_edges, real_density, sim_density : list of float
        Distribution overlay (shared bins, densities).
    """

    probabilities: list[float] = field(default_factory=list)
    real_quantiles: list[float] = field(default_factory=list)
    sim_quantiles: list[float] = field(default_factory=list)
    lags_hours: list[float] = field(default_factory=list)
    real_acf: list[float] = field(default_factory=list)
    sim_acf: list[float] = field(default_factory=list)
    real_profile: list[float] = field(default_factory=list)
    sim_profile: list[float] = field(default_factory=list)
    bin_edges: list[float] = field(default_factory=list)
    real_density: list[float] = field(default_factory=list)
    sim_density: list[float] = field(default_factory=list)


def _as_float(x: object, name: str) -> FloatArray:
    arr = np.asarray(x, dtype=float).ravel()
    if arr.size < 8:
        raise ParameterError(name, allowed="at least 8 samples", received=arr.size)
    if not np.all(np.isfinite(arr)):
        raise ParameterError(name, allowed="finite values (quarantine NaN/inf first)", received="non-finite")
    return arr


def ks_complement(real: FloatArray, sim: FloatArray) -> float:
    """KSComplement as SDMetrics defines it: ``1 - KS statistic`` (1 = same distribution).

    Examples
    --------
    >>> ks_complement(np.arange(10.0), np.arange(10.0))
    1.0
    """
    return float(1.0 - stats.ks_2samp(real, sim).statistic)


def acf(values: FloatArray, max_lag: int) -> FloatArray:
    """Sample autocorrelation at lags ``0..max_lag`` (FFT; constant series give zeros).

    Examples
    --------
    >>> acf(np.array([1.0, -1, 1, -1, 1, -1, 1, -1]), 1).round(3).tolist()
    [1.0, -0.875]
    """
    from statsmodels.tsa.stattools import acf as sm_acf

    max_lag = int(min(max_lag, values.size - 1))
    if float(np.std(values)) == 0.0:
        out = np.zeros(max_lag + 1)
        out[0] = 1.0
        return out
    return np.asarray(sm_acf(values, nlags=max_lag, fft=True), dtype=float)


def _max_lag(step_s: float, n_real: int, n_sim: int) -> int:
    return int(max(1, min(round(DAY / step_s), n_real // 2, n_sim // 2)))


def acf_distance(real: FloatArray, sim: FloatArray, max_lag: int) -> float:
    """Root-mean-square difference of the ACFs at lags ``1..max_lag``.

    Examples
    --------
    >>> x = np.sin(np.arange(200) / 5.0)
    >>> acf_distance(x, x, 20)
    0.0
    """
    a, b = acf(real, max_lag), acf(sim, max_lag)
    n = min(a.size, b.size)
    return float(np.sqrt(np.mean((a[1:n] - b[1:n]) ** 2)))


def decorrelation_lag(values: FloatArray, max_lag: int = 500) -> int:
    """First lag at which the ACF drops below 1/e (at least 1).

    Examples
    --------
    >>> decorrelation_lag(np.random.default_rng(0).normal(size=500))
    1
    """
    r = acf(values, min(max_lag, values.size - 1))
    below = np.flatnonzero(r[1:] < np.exp(-1.0))
    return int(below[0] + 1) if below.size else int(r.size)


def distribution_tests(real: FloatArray, sim: FloatArray) -> dict[str, float]:
    """KS and Anderson–Darling two-sample tests on thinned series, and Wasserstein.

    Returns ``ks_statistic``, ``ks_pvalue``, ``ad_statistic``, ``ad_pvalue`` (scipy's
    tabulated value, floored at 0.001 and capped at 0.25), ``wasserstein`` and
    ``wasserstein_normalized`` (divided by the real standard deviation) and the thinning
    steps used.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> out = distribution_tests(rng.normal(size=500), rng.normal(size=500))
    >>> out["ks_pvalue"] > 0.01
    True
    """
    thin_real = decorrelation_lag(real)
    thin_sim = decorrelation_lag(sim)
    thin = max(thin_real, thin_sim)
    a, b = real[::thin], sim[::thin]
    ks = stats.ks_2samp(a, b)
    with warnings.catch_warnings():
        # scipy warns when the tabulated p-value is floored/capped; that bound is reported as is.
        warnings.simplefilter("ignore", UserWarning)
        try:
            ad = stats.anderson_ksamp([a, b], variant="midrank")
            ad_stat, ad_p = float(ad.statistic), float(ad.pvalue)
        except ValueError:  # all values identical
            ad_stat, ad_p = 0.0, 1.0
    wd = float(stats.wasserstein_distance(real, sim))
    sd = float(np.std(real))
    return {
        "ks_statistic": float(ks.statistic),
        "ks_pvalue": float(ks.pvalue),
        "ad_statistic": ad_stat,
        "ad_pvalue": ad_p,
        "wasserstein": wd,
        "wasserstein_normalized": wd / sd if sd > 0 else (0.0 if wd == 0 else float("inf")),
        "thinning": float(thin),
    }


def hourly_profile(ts_s: FloatArray, values: FloatArray) -> FloatArray:
    """Mean value by UTC hour of day (24 values; NaN for hours without samples).

    Examples
    --------
    >>> hourly_profile(np.array([0.0, 3600.0, 86400.0]), np.array([1.0, 2.0, 3.0]))[:2].tolist()
    [2.0, 2.0]
    """
    hours = (np.mod(ts_s, DAY) // 3600).astype(np.int64)
    sums = np.bincount(hours, weights=values, minlength=24)
    counts = np.bincount(hours, minlength=24)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def seasonal_profile_correlation(
    real_ts: FloatArray, real: FloatArray, sim_ts: FloatArray, sim: FloatArray, *, alpha: float = 0.01
) -> tuple[float, bool]:
    """Pearson correlation of the hour-of-day mean profiles, and whether it applies.

    The correlation is only meaningful when the real series *has* a daily profile: a
    one-way ANOVA (``scipy.stats.f_oneway``) of the thinned real values grouped by hour
    must reject "no hour effect" at ``alpha``. Otherwise the second value is False.

    Examples
    --------
    >>> t = np.arange(0, 10 * 86400, 900.0)
    >>> x = np.sin(2 * np.pi * t / 86400) + np.random.default_rng(0).normal(0, 0.3, t.size)
    >>> corr, applies = seasonal_profile_correlation(t, x, t, x)
    >>> round(corr, 3), applies
    (1.0, True)
    """
    pr, ps = hourly_profile(real_ts, real), hourly_profile(sim_ts, sim)
    ok = np.isfinite(pr) & np.isfinite(ps)
    if ok.sum() < 3 or np.std(pr[ok]) == 0 or np.std(ps[ok]) == 0:
        corr = 0.0
    else:
        corr = float(np.corrcoef(pr[ok], ps[ok])[0, 1])
    thin = decorrelation_lag(real)
    hours = (np.mod(real_ts[::thin], DAY) // 3600).astype(np.int64)
    thinned = real[::thin]
    groups = [thinned[hours == h] for h in np.unique(hours)]
    groups = [g for g in groups if g.size >= 2]
    applies = False
    if len(groups) >= 3 and any(np.std(g) > 0 for g in groups):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant-group warnings: p-value is still defined
            applies = bool(stats.f_oneway(*groups).pvalue < alpha)
    return corr, applies


def spectral_distance(real: FloatArray, sim: FloatArray, nperseg: int = 256) -> float:
    """Total-variation distance between normalised Welch spectra (0 = same shape, 1 = disjoint).

    Both series are demeaned; the power spectra are divided by their sums so the
    distance compares the *shape* of the spectrum, not the variance.

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=2048)
    >>> spectral_distance(x, x)
    0.0
    """
    seg = int(min(nperseg, real.size, sim.size))
    _, p_real = signal.welch(real - real.mean(), nperseg=seg)
    _, p_sim = signal.welch(sim - sim.mean(), nperseg=seg)
    if p_real.sum() <= 0 or p_sim.sum() <= 0:
        return 0.0 if p_real.sum() == p_sim.sum() else 1.0
    return float(0.5 * np.sum(np.abs(p_real / p_real.sum() - p_sim / p_sim.sum())))


def _window_features(ts_s: FloatArray, values: FloatArray, window: int) -> FloatArray:
    n = values.size // window
    w = values[: n * window].reshape(n, window)
    start = ts_s[: n * window : window]
    hour_angle = 2 * np.pi * np.mod(start, DAY) / DAY
    diffs = np.diff(w, axis=1)
    centred = w - w.mean(axis=1, keepdims=True)
    denom = np.sum(centred**2, axis=1)
    lag1 = np.divide(
        np.sum(centred[:, 1:] * centred[:, :-1], axis=1), denom, out=np.zeros(n), where=denom > 0
    )
    x = np.arange(window) - (window - 1) / 2
    slope = centred @ x / np.sum(x**2)
    quantiles = np.quantile(w, [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0], axis=1).T
    return np.column_stack(
        [
            quantiles,
            w.mean(axis=1),
            w.std(axis=1),
            np.abs(diffs).mean(axis=1),
            lag1,
            slope,
            np.sin(hour_angle),
            np.cos(hour_angle),
        ]
    )


def discriminative_auc(
    real_ts: FloatArray,
    real: FloatArray,
    sim_ts: FloatArray,
    sim: FloatArray,
    *,
    window: int = 24,
    n_splits: int = 5,
    random_state: int = 0,
) -> float:
    """Cross-validated ROC AUC of a classifier telling real windows from synthetic ones.

    Both series are cut into non-overlapping windows of ``window`` samples; each window is
    described by its quantiles, mean, spread, mean absolute step, lag-1 autocorrelation,
    slope and the hour of day it starts at. A random forest is scored with stratified
    ``n_splits``-fold cross-validation. 0.5 means indistinguishable, 1.0 trivially
    distinguishable.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(0, 4000 * 300.0, 300.0)
    >>> auc = discriminative_auc(t, rng.normal(size=t.size), t, rng.normal(size=t.size))
    >>> auc < 0.7
    True
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    window = int(max(2, window))
    fr, fs = _window_features(real_ts, real, window), _window_features(sim_ts, sim, window)
    n = min(fr.shape[0], fs.shape[0])
    if n < n_splits * 2:
        raise ParameterError(
            "window", allowed=f"a length giving at least {n_splits * 2} windows per side", received=window
        )
    x = np.vstack([fr[:n], fs[:n]])
    y = np.concatenate([np.ones(n), np.zeros(n)])
    clf = RandomForestClassifier(n_estimators=100, min_samples_leaf=2, random_state=random_state, n_jobs=1)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    return float(np.mean(cross_val_score(clf, x, y, cv=cv, scoring="roc_auc")))


def _lag_design(ts_s: FloatArray, values: FloatArray, lags: list[int]) -> tuple[FloatArray, FloatArray]:
    m = max(lags)
    cols = [values[m - lag : values.size - lag] for lag in lags]
    angle = 2 * np.pi * np.mod(ts_s[m:], DAY) / DAY
    x = np.column_stack([*cols, np.sin(angle), np.cos(angle), np.sin(2 * angle), np.cos(2 * angle)])
    return x, values[m:]


def tstr_ratio(
    real_ts: FloatArray, real: FloatArray, sim_ts: FloatArray, sim: FloatArray, step_s: float
) -> dict[str, float]:
    """Train-on-synthetic / test-on-real one-step forecast error against train-on-real.

    A ridge regression on lags 1–3, the lag of one day (when the series is long enough)
    and hour-of-day harmonics is fitted (a) on the first half of the real series and (b) on
    the whole synthetic series; both forecast the second half of the real series one step
    ahead. Returns ``mae_trtr``, ``mae_tstr`` and ``tstr_ratio = mae_tstr / mae_trtr``
    (1 = synthetic data is as good to train on as real data).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(0, 2000 * 300.0, 300.0)
    >>> out = tstr_ratio(t, rng.normal(size=t.size), t, rng.normal(size=t.size), 300.0)
    >>> 0.8 < out["tstr_ratio"] < 1.2
    True
    """
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    day_lag = round(DAY / step_s)
    half = real.size // 2
    lags = [1, 2, 3] + ([day_lag] if day_lag > 3 and day_lag < half // 2 and day_lag < sim.size // 2 else [])
    x_train_real, y_train_real = _lag_design(real_ts[:half], real[:half], lags)
    x_test, y_test = _lag_design(real_ts[half:], real[half:], lags)
    x_sim, y_sim = _lag_design(sim_ts, sim, lags)
    # standardised features keep the ridge solve well conditioned (raw lags can be 1e8 apart)
    trtr = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x_train_real, y_train_real)
    tstr = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x_sim, y_sim)
    mae_trtr = float(np.mean(np.abs(trtr.predict(x_test) - y_test)))
    mae_tstr = float(np.mean(np.abs(tstr.predict(x_test) - y_test)))
    ratio = mae_tstr / mae_trtr if mae_trtr > 0 else (1.0 if mae_tstr == 0 else float("inf"))
    return {"mae_trtr": mae_trtr, "mae_tstr": mae_tstr, "tstr_ratio": ratio}


def _details(
    real_ts: FloatArray, real: FloatArray, sim_ts: FloatArray, sim: FloatArray, max_lag: int, step_s: float
) -> SeriesDetails:
    probs = np.linspace(0.01, 0.99, 99)
    lo, hi = float(min(real.min(), sim.min())), float(max(real.max(), sim.max()))
    edges = np.linspace(lo, hi if hi > lo else lo + 1.0, 51)
    dr, _ = np.histogram(real, bins=edges, density=True)
    ds, _ = np.histogram(sim, bins=edges, density=True)
    ar, asim = acf(real, max_lag), acf(sim, max_lag)
    n = min(ar.size, asim.size)
    return SeriesDetails(
        probabilities=probs.tolist(),
        real_quantiles=np.quantile(real, probs).tolist(),
        sim_quantiles=np.quantile(sim, probs).tolist(),
        lags_hours=(np.arange(n) * step_s / 3600).tolist(),
        real_acf=ar[:n].tolist(),
        sim_acf=asim[:n].tolist(),
        real_profile=np.nan_to_num(hourly_profile(real_ts, real), nan=0.0).tolist(),
        sim_profile=np.nan_to_num(hourly_profile(sim_ts, sim), nan=0.0).tolist(),
        bin_edges=edges.tolist(),
        real_density=dr.tolist(),
        sim_density=ds.tolist(),
    )


def compare_series(
    real_ts: FloatArray,
    real: FloatArray,
    sim_ts: FloatArray,
    sim: FloatArray,
    *,
    step_s: float,
    window: int | None = None,
    random_state: int = 0,
) -> tuple[dict[str, float], SeriesDetails]:
    """Every fidelity statistic for one real/synthetic pair, plus the figure arrays.

    Parameters
    ----------
    real_ts, real, sim_ts, sim : ndarray
        Regular series (times in epoch seconds, values).
    step_s : float
        Sampling step, seconds (sets the one-day ACF horizon).
    window : int, optional
        Discriminator window length; default two hours of samples, at least 12.
    random_state : int
        Seed of the discriminator.

    Returns
    -------
    statistics, details
        A flat dict of statistics and the :class:`SeriesDetails` for the figures.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(0, 3000 * 300.0, 300.0)
    >>> st, _ = compare_series(t, rng.normal(size=t.size), t, rng.normal(size=t.size), step_s=300.0)
    >>> st["ks_complement"] > 0.9
    True
    """
    real = _as_float(real, "real")
    sim = _as_float(sim, "sim")
    real_ts = np.asarray(real_ts, dtype=float)
    sim_ts = np.asarray(sim_ts, dtype=float)
    max_lag = _max_lag(step_s, real.size, sim.size)
    if window is None:
        window = int(max(12, round(2 * 3600 / step_s)))
    out: dict[str, float] = {"n_real": float(real.size), "n_sim": float(sim.size)}
    out["ks_complement"] = ks_complement(real, sim)
    out.update(distribution_tests(real, sim))
    out["acf_distance"] = acf_distance(real, sim, max_lag)
    corr, applies = seasonal_profile_correlation(real_ts, real, sim_ts, sim)
    out["seasonal_correlation"] = corr
    out["seasonal_applicable"] = float(applies)
    out["spectral_distance"] = spectral_distance(real, sim)
    try:
        out["discriminative_auc"] = discriminative_auc(
            real_ts, real, sim_ts, sim, window=window, random_state=random_state
        )
    except ParameterError:
        logger.warning("series too short for the discriminator (window %d); AUC not computed", window)
        out["discriminative_auc"] = float("nan")
    out.update(tstr_ratio(real_ts, real, sim_ts, sim, step_s))
    return out, _details(real_ts, real, sim_ts, sim, max_lag, step_s)
