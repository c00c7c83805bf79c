"""Load patterns: seasonality in local time, business hours, holidays, trend, noise, bursts.

:func:`load_rates` turns a list of :class:`~workbench.sources.simulator.spec.LoadSpec` into a
``(entities, steps)`` array of messages per second, vectorised over entities and time.

The seasonal shape is normalised so that ``base_rate`` is the mean over a reference week;
noise is multiplicative (log-scale AR(1)), so its spread grows with the level.

Examples
--------
>>> import datetime as dt
>>> import numpy as np
>>> from workbench.sources.simulator.load import Calendar, load_rates
>>> from workbench.sources.simulator.spec import LoadSpec
>>> cal = Calendar.build(dt.datetime(2026, 1, 5, tzinfo=dt.UTC), steps=7 * 1440, step_seconds=60)
>>> rates = load_rates([LoadSpec(base_rate=100, noise=0)], cal, np.random.default_rng(1))
>>> rates.shape, round(float(rates.mean()))
((1, 10080), 100)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.signal import lfilter

from workbench.sources.simulator.spec import LoadSpec

__all__ = ["Calendar", "load_rates", "seasonal_shape"]

F64 = NDArray[np.float64]
_REFERENCE_START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday


@dataclass
class LocalTime:
    """Local hour (fractional), ISO weekday (1 = Monday) and date of each step in one zone."""

    hour: F64
    weekday: NDArray[np.int8]
    date: NDArray[np.int32]  # days since 1970-01-01, local


@dataclass
class Calendar:
    """The simulation's time grid and its local-time views (cached per time zone)."""

    start: dt.datetime
    steps: int
    step_seconds: float
    ts_ms: NDArray[np.int64]
    _local: dict[str, LocalTime] = field(default_factory=dict)

    @classmethod
    def build(cls, start: dt.datetime, steps: int, step_seconds: float) -> Calendar:
        """Make a grid of ``steps`` samples, the first one step after ``start``."""
        start_ms = int(start.timestamp() * 1000)
        step_ms = round(step_seconds * 1000)
        ts = start_ms + step_ms * np.arange(1, steps + 1, dtype=np.int64)
        return cls(start=start, steps=steps, step_seconds=step_seconds, ts_ms=ts)

    @property
    def seconds(self) -> F64:
        """Sample times in seconds since the epoch."""
        return self.ts_ms.astype(np.float64) / 1000.0

    @property
    def elapsed_days(self) -> F64:
        """Days since the start, per sample."""
        days: F64 = (self.ts_ms - self.ts_ms[0]).astype(np.float64) / 86_400_000.0
        return days

    def local(self, timezone: str) -> LocalTime:
        """Local hour, weekday and date in ``timezone`` (DST-aware, via Polars)."""
        if timezone not in self._local:
            ts = pl.Series("ts", self.ts_ms).cast(pl.Datetime("ms", "UTC")).dt.convert_time_zone(timezone)
            frame = pl.DataFrame({"ts": ts}).select(
                hour=pl.col("ts").dt.hour().cast(pl.Float64)
                + pl.col("ts").dt.minute().cast(pl.Float64) / 60.0
                + pl.col("ts").dt.second().cast(pl.Float64) / 3600.0,
                weekday=pl.col("ts").dt.weekday().cast(pl.Int8),
                date=pl.col("ts").dt.date().cast(pl.Int32),
            )
            self._local[timezone] = LocalTime(
                hour=frame["hour"].to_numpy(),
                weekday=frame["weekday"].to_numpy(),
                date=frame["date"].to_numpy(),
            )
        return self._local[timezone]


def _sigmoid(x: F64) -> F64:
    return 1.0 / (1.0 + np.exp(-x))


def seasonal_shape(loads: Sequence[LoadSpec], calendar: Calendar) -> F64:
    """Seasonal multiplier per entity and step, with mean 1 over a reference week."""
    reference = Calendar.build(_REFERENCE_START, steps=7 * 24 * 6, step_seconds=600)
    raw = _raw_season(loads, calendar)
    norm = _raw_season(loads, reference).mean(axis=1, keepdims=True)
    return raw / np.where(norm > 0, norm, 1.0)


def _raw_season(loads: Sequence[LoadSpec], calendar: Calendar) -> F64:
    n, steps = len(loads), calendar.steps
    out = np.empty((n, steps))
    zones = sorted({spec.timezone for spec in loads})
    for zone in zones:  # few zones; each block is vectorised over its entities
        rows = np.array([i for i, spec in enumerate(loads) if spec.timezone == zone])
        local = calendar.local(zone)
        hour = local.hour.reshape(1, -1)
        weekend = (local.weekday >= 6).reshape(1, -1)
        specs = [loads[i] for i in rows]
        amp = np.array([s.daily_amplitude for s in specs]).reshape(-1, 1)
        peak = np.array([s.peak_hour for s in specs]).reshape(-1, 1)
        wf = np.array([s.weekend_factor for s in specs]).reshape(-1, 1)
        season = (1.0 + amp * np.cos(2 * np.pi * (hour - peak) / 24.0)) * np.where(weekend, wf, 1.0)
        bh = np.array([s.business_hours or (0, 0) for s in specs], dtype=np.float64)
        boost = np.array([s.business_boost if s.business_hours else 0.0 for s in specs]).reshape(-1, 1)
        if boost.any():
            inside = _sigmoid((hour - bh[:, :1]) / 0.25) * _sigmoid((bh[:, 1:] - hour) / 0.25)
            season = season * (1.0 + boost * inside * ~weekend)
        block = np.maximum(season, 0.0)
        for j, spec in enumerate(specs):  # learned profiles: interpolate 24 or 168 points
            if spec.profile is not None:
                block[j] = _profile_values(np.asarray(spec.profile, dtype=np.float64), local)
        out[rows] = block
    return out


def _profile_values(profile: F64, local: LocalTime) -> F64:
    size = profile.size
    pos = local.hour if size == 24 else (local.weekday.astype(np.float64) - 1.0) * 24.0 + local.hour
    lo = np.floor(pos).astype(np.int64) % size
    hi = (lo + 1) % size
    frac = pos - np.floor(pos)
    return profile[lo] * (1.0 - frac) + profile[hi] * frac


def _innovations(kind: str, df: float, shape: tuple[int, int], rng: np.random.Generator) -> F64:
    if kind == "laplace":
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), size=shape)
    if kind == "student_t":
        draws: F64 = rng.standard_t(df, size=shape) / np.sqrt(df / (df - 2.0))
        return draws
    return rng.standard_normal(size=shape)


def load_rates(loads: Sequence[LoadSpec], calendar: Calendar, rng: np.random.Generator) -> F64:
    """Messages per second for each load spec at each step.

    Parameters
    ----------
    loads : sequence of LoadSpec
        One per topic or queue.
    calendar : Calendar
        The time grid.
    rng : numpy Generator
        Source of randomness (the scenario seed decides it).

    Returns
    -------
    ndarray of shape (len(loads), calendar.steps)
    """
    n, steps = len(loads), calendar.steps
    if n == 0:
        return np.zeros((0, steps))
    base = np.array([s.base_rate for s in loads]).reshape(-1, 1)
    rates = base * seasonal_shape(loads, calendar)

    trend = np.array([s.trend_per_day for s in loads]).reshape(-1, 1)
    if trend.any():
        rates *= np.maximum(1.0 + trend * calendar.elapsed_days.reshape(1, -1), 0.0)

    for i, spec in enumerate(loads):  # holidays are rare: per entity, vectorised over time
        if spec.holidays:
            local = calendar.local(spec.timezone)
            days = np.array([(d - dt.date(1970, 1, 1)).days for d in spec.holidays], dtype=np.int32)
            rates[i] *= np.where(np.isin(local.date, days), spec.holiday_factor, 1.0)

    step_minutes = calendar.step_seconds / 60.0
    sigma = np.array([s.noise for s in loads]).reshape(-1, 1)
    keys = sorted({(s.noise_distribution, s.noise_df, s.noise_autocorrelation) for s in loads})
    noise = np.zeros((n, steps))
    for kind, df, phi_minute in keys:  # one filter per distinct noise process
        rows = np.array(
            [
                i
                for i, s in enumerate(loads)
                if (s.noise_distribution, s.noise_df, s.noise_autocorrelation) == (kind, df, phi_minute)
            ]
        )
        phi = phi_minute**step_minutes
        eps = _innovations(kind, df, (rows.size, steps), rng)
        scale = np.sqrt(1.0 - phi * phi)
        z0 = rng.standard_normal((rows.size, 1))
        z, _ = lfilter([scale], [1.0, -phi], eps, axis=1, zi=phi * z0)
        noise[rows] = np.clip(z, -6.0, 6.0)
    rates *= np.exp(sigma * noise - 0.5 * sigma * sigma)

    bursts = np.array([s.bursts_per_day for s in loads])
    if bursts.any():
        p_start = (bursts * calendar.step_seconds / 86400.0).reshape(-1, 1)
        starts = (rng.random((n, steps)) < p_start).astype(np.float64)
        tau = np.array([s.burst_duration.total_seconds() for s in loads])
        mag = np.array([s.burst_magnitude for s in loads]).reshape(-1, 1)
        for value in np.unique(tau):
            rows = np.flatnonzero(tau == value)
            decay = float(np.exp(-calendar.step_seconds / max(value, 1.0)))
            envelope = lfilter([1.0], [1.0, -decay], starts[rows], axis=1)
            rates[rows] *= 1.0 + (mag[rows] - 1.0) * envelope

    for i, spec in enumerate(loads):  # learned from real data (workbench.fidelity): replaces the pattern
        if spec.learned_series is not None:
            from workbench.fidelity.series_model import SeriesModel, generate_series

            model = SeriesModel.from_dict(spec.learned_series)
            rates[i] = generate_series(model, calendar.seconds, rng)
    return np.maximum(rates, 0.0)
