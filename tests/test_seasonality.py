"""Seasonality: period detection, MSTL/STL decomposition, learned profiles and the simulator hand-off."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from workbench.analysis.seasonality import (
    SeasonalDecomposer,
    decompose,
    detect_period,
    fit_seasonal_profile,
    infer_sampling_interval,
    periods_for,
    profile_to_load_spec,
)
from workbench.errors import ParameterError

HOUR = 3600.0
T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def daily_series(days: int, *, step_s: float = HOUR, noise: float = 0.2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(days * 86400 / step_s)) * step_s
    return 10 + 3 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, noise, t.size)


def weekly_series(weeks: int, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(weeks * 7 * 24) * HOUR
    weekday = (t // 86400) % 7
    daily = 3 * np.sin(2 * np.pi * t / 86400)
    return 10 + np.where(weekday >= 5, 0.3 * daily - 6, daily) + rng.normal(0, 0.3, t.size)


@pytest.mark.parametrize("method", ["acf", "periodogram"])
def test_detects_daily_weekly_and_none(method: str) -> None:
    assert detect_period(daily_series(5), HOUR, method=method).kind == "daily"
    assert detect_period(weekly_series(4), HOUR, method=method).kind == "weekly"
    noise = np.random.default_rng(1).normal(size=24 * 21)
    assert detect_period(noise, HOUR, method=method).kind == "none"


def test_trend_alone_is_not_a_cycle() -> None:
    rng = np.random.default_rng(2)
    ramp = np.linspace(0, 100, 24 * 10) + rng.normal(0, 1, 24 * 10)
    assert detect_period(ramp, HOUR).kind == "none"


def test_detection_on_five_minute_samples_with_gaps() -> None:
    values = daily_series(4, step_s=300, noise=0.5)
    values[100:160] = np.nan  # a five-hour exporter outage
    found = detect_period(values, 300)
    assert found.kind == "daily"
    assert found.periods == (288,)
    assert found.strength["daily"] > 0.5
    assert np.isnan(found.strength["weekly"])  # four days cannot test a weekly cycle


def test_short_series_and_override() -> None:
    short = daily_series(1)
    assert detect_period(short, HOUR).kind == "none"
    forced = detect_period(short, HOUR, override="weekly")
    assert (forced.kind, forced.periods, forced.method) == ("weekly", (24, 168), "override")


def test_parameter_errors_name_the_parameter() -> None:
    with pytest.raises(ParameterError) as err:
        detect_period([1.0, 2.0], HOUR, method="fft")
    assert err.value.parameter == "method"
    with pytest.raises(ParameterError, match="sampling_interval_s"):
        detect_period([1.0, 2.0], 0)
    with pytest.raises(ParameterError, match="kind"):
        periods_for("monthly", HOUR)


def test_decompose_single_and_multiple_periods() -> None:
    values = weekly_series(3)
    parts = decompose(values, [24, 168])
    assert {"seasonal_24", "seasonal_168", "trend", "resid", "observed"} <= set(parts)
    total = parts["trend"] + parts["seasonal_24"] + parts["seasonal_168"] + parts["resid"]
    np.testing.assert_allclose(total, values, atol=1e-8)
    assert np.std(parts["resid"]) < 0.6 * np.std(values - values.mean())
    # a period the series cannot hold twice is dropped, not an error
    assert "seasonal_1000" not in decompose(values[:500], [1000])


def test_decomposer_removes_the_cycle_and_round_trips() -> None:
    X = np.column_stack([daily_series(7), np.random.default_rng(3).normal(size=24 * 7)])
    model = SeasonalDecomposer(sampling_interval_s=HOUR).fit(X)
    assert model.kinds_ == ["daily", "none"]
    assert model.periods_ == [(24,), ()]
    deseasonalised = model.transform(X)
    assert deseasonalised[:, 0].std() < 0.3 * X[:, 0].std()
    np.testing.assert_allclose(deseasonalised[:, 1], X[:, 1])
    np.testing.assert_allclose(model.inverse_transform(deseasonalised), X)
    explicit = SeasonalDecomposer(period=24).fit(X[:, :1])
    assert explicit.kinds_ == ["custom"]
    with pytest.raises(ParameterError, match="period"):
        SeasonalDecomposer(period="hourly").fit(X)
    with pytest.raises(ParameterError, match="period"):
        SeasonalDecomposer(period=1).fit(X)


def profile_frame(days: int, holidays: tuple[date, ...] = ()) -> pl.DataFrame:
    ts = [T0 + timedelta(hours=h) for h in range(24 * days)]
    rng = np.random.default_rng(4)
    base = []
    for t in ts:
        level = 100.0 + (80.0 if t.weekday() < 5 and 9 <= t.hour < 17 else 0.0)
        if t.weekday() >= 5:
            level *= 0.5
        if t.date() in holidays:
            level *= 0.3
        base.append(level * (1 + rng.normal(0, 0.02)))
    return pl.DataFrame(
        {"ts": ts, "entity": "orders", "metric": "messages_in_per_s", "value": base}
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def test_profile_business_hours_and_holidays() -> None:
    holiday = date(2026, 1, 14)
    profile = fit_seasonal_profile(profile_frame(21, (holiday,)), "messages_in_per_s", holidays=[holiday])
    assert profile.kind == "weekly"
    assert profile.table.height == 168
    assert profile.table["multiplier"].mean() == pytest.approx(1.0, abs=0.05)
    monday_noon = profile.table.filter(weekday=1, hour=12)["mean"][0]
    sunday_noon = profile.table.filter(weekday=7, hour=12)["mean"][0]
    assert monday_noon == pytest.approx(180, rel=0.05)
    assert sunday_noon == pytest.approx(50, rel=0.05)
    assert profile.business_hours_ratio == pytest.approx(180 / 86.7, rel=0.1)
    assert profile.holiday_ratio < 0.5
    multiplier = pl.DataFrame({"ts": [T0 + timedelta(hours=12)]}).select(profile.multiplier_at(pl.col("ts")))
    assert multiplier.item() == pytest.approx(monday_noon / profile.base_level)


def test_profile_errors() -> None:
    with pytest.raises(ParameterError, match="metric"):
        fit_seasonal_profile(profile_frame(2), "consumers")
    with pytest.raises(ParameterError, match="period"):
        fit_seasonal_profile(profile_frame(2), "messages_in_per_s", period="yearly")
    with pytest.raises(ParameterError, match="ts"):
        infer_sampling_interval(pl.Series([T0]))


def test_learned_profile_drives_the_simulator() -> None:
    """Learn a profile, simulate with it, learn again: the shape survives the round trip."""
    from workbench.sources.simulator.engine import simulate
    from workbench.sources.simulator.spec import ScenarioSpec

    learned = fit_seasonal_profile(profile_frame(21), "messages_in_per_s")
    load = profile_to_load_spec(learned, noise=0.02)
    assert load.profile is not None
    assert len(load.profile) == 168
    spec = ScenarioSpec.model_validate(
        {
            "name": "profile-roundtrip",
            "days": 14,
            "step": "10m",
            "sqs": [
                {"queues": [{"name": "orders", "load": load.model_dump(), "capacity_per_consumer": 1e4}]}
            ],
        }
    )
    frame = simulate(spec, seed=5).frame
    again = fit_seasonal_profile(frame, "messages_in_per_s", entity="orders")
    assert again.kind == "weekly"
    corr = np.corrcoef(learned.table["multiplier"].to_numpy(), again.table["multiplier"].to_numpy())[0, 1]
    assert corr > 0.9
    assert again.base_level == pytest.approx(learned.base_level, rel=0.1)


def test_profile_and_decomposition_figures() -> None:
    from workbench.figures.seasonality import decomposition_figure, profile_band, profile_heatmap

    profile = fit_seasonal_profile(profile_frame(14), "messages_in_per_s")
    heat = profile_heatmap(profile)
    assert heat.data[0].z.shape == (7, 24)
    assert "weekly cycle" in heat.layout.title.text
    band = profile_band(profile)
    assert [t.name for t in band.data] == [None, "p10-p90", "mean"]
    values = weekly_series(3)
    ts = pl.Series([T0 + timedelta(hours=h) for h in range(values.size)])
    fig = decomposition_figure(ts, decompose(values, [24, 168]), metric="messages_in_per_s")
    assert len(fig.data) == 5  # observed, trend, two seasonal parts, residual
