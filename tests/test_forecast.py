"""Seasonal forecasts: accuracy against seasonal naive, interval coverage, time until threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from workbench.analysis.forecast import SeasonalForecaster, forecast_series, mase, time_until_threshold
from workbench.errors import ParameterError

HOUR = 3600.0
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def seasonal(
    n: int, *, noise: float = 2.0, seed: int = 0, step: float = HOUR
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) * step
    return t, 100 + 20 * np.sin(2 * np.pi * t / 86400) + rng.normal(0, noise, n)


def test_beats_seasonal_naive_on_a_noisy_daily_cycle() -> None:
    t, y = seasonal(24 * 16)
    train, test = slice(0, 24 * 14), slice(24 * 14, None)
    X = t.reshape(-1, 1)
    model = SeasonalForecaster().fit(X[train], y[train])
    naive = SeasonalForecaster(method="seasonal_naive").fit(X[train], y[train])
    assert model.kind_ == "daily"
    assert model.periods_ == (24,)
    ours = np.abs(model.predict(X[test]) - y[test]).mean()
    base = np.abs(naive.predict(X[test]) - y[test]).mean()
    assert ours < 0.95 * base  # white noise: the best possible ratio is about 0.71
    assert mase(y[test], model.predict(X[test]), y[train], period=24) < 1.0


def test_interval_coverage_is_close_to_nominal() -> None:
    hits, total = 0, 0
    for seed in range(4):
        t, y = seasonal(24 * 12, seed=seed)
        X = t.reshape(-1, 1)
        model = SeasonalForecaster(coverage=0.9).fit(X[: 24 * 10], y[: 24 * 10])
        mean, lower, upper = model.predict_interval(X[24 * 10 :])
        assert np.all(lower <= mean)
        assert np.all(mean <= upper)
        hits += int(((y[24 * 10 :] >= lower) & (y[24 * 10 :] <= upper)).sum())
        total += 48
    assert 0.75 <= hits / total <= 1.0
    naive = SeasonalForecaster(method="seasonal_naive").fit(X[: 24 * 10], y[: 24 * 10])
    _, lo, hi = naive.predict_interval(X[24 * 10 :], coverage=0.8)
    assert np.all(hi - lo > 0)


def test_irregular_unsorted_and_duplicate_times() -> None:
    t, y = seasonal(24 * 5, noise=0.5)
    keep = np.ones(t.size, bool)
    keep[30:36] = False  # a gap
    order = np.random.default_rng(1).permutation(int(keep.sum()))
    t_irr, y_irr = t[keep][order], y[keep][order]
    t_irr = np.concatenate([t_irr, t_irr[:3]])  # repeated samples
    y_irr = np.concatenate([y_irr, y_irr[:3]])
    model = SeasonalForecaster().fit(t_irr.reshape(-1, 1), y_irr)
    assert model.step_ == HOUR
    assert model.n_grid_ == t.size
    past = model.predict(t[:5].reshape(-1, 1))
    assert np.abs(past - y[:5]).max() < 10


def test_trend_without_cycle_extrapolates() -> None:
    t = np.arange(60) * 300.0
    y = 10.0 * np.arange(60)
    model = SeasonalForecaster().fit(t.reshape(-1, 1), y)
    assert model.kind_ == "none"
    ahead = model.predict((t[-1] + 300.0 * np.arange(1, 4)).reshape(-1, 1))
    assert np.all(np.diff(ahead) > 0)
    assert ahead[0] > y[-1]


def test_parameter_validation() -> None:
    X, y = np.arange(10.0).reshape(-1, 1), np.arange(10.0)
    for bad in (
        {"method": "prophet"},
        {"coverage": 1.5},
        {"period": "monthly"},
        {"period": 1},
        {"trend": "cubic"},
        {"scale": "log"},
    ):
        with pytest.raises(ParameterError):
            SeasonalForecaster(**bad).fit(X, y)  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="X\\[:, 0\\]"):
        SeasonalForecaster().fit(np.array([[0.0], [1.0], [1.0], [2.0], [1e9]]), np.ones(5))
    model = SeasonalForecaster().fit(X, y)
    with pytest.raises(ParameterError, match="coverage"):
        model.predict_interval(X, coverage=0.0)
    with pytest.raises(ParameterError, match="history"):
        mase([1.0], [1.0], [1.0], period=1)


def backlog_frame(values: list[float]) -> pl.DataFrame:
    ts = [T0 + timedelta(minutes=5 * i) for i in range(len(values))]
    return pl.DataFrame(
        {"ts": ts, "entity": "billing/orders", "metric": "consumer_lag_messages", "value": values}
    ).with_columns(pl.col("ts").cast(pl.Datetime("ms", "UTC")))


def test_forecast_series_and_time_until_backlog_passes_n() -> None:
    frame = backlog_frame([1000.0 + 50 * i for i in range(60)])
    fc = forecast_series(
        frame, metric="consumer_lag_messages", entity="billing/orders", horizon=timedelta(hours=3)
    )
    assert fc.columns == ["ts", "value", "forecast", "lower", "upper", "part"]
    assert fc.filter(pl.col("part") == "forecast").height == 36
    assert fc.filter(pl.col("part") == "forecast")["value"].null_count() == 36
    hit = time_until_threshold(fc, 5000.0)
    assert not hit.already
    assert hit.expected_at is not None
    assert hit.earliest_at is not None
    assert hit.earliest_at <= hit.expected_at
    # 50 messages per 5 min from 3950: about 21 steps to reach 5000
    wait = hit.seconds_until(frame["ts"][-1])
    assert wait is not None
    assert 60 * 60 <= wait <= 150 * 60
    assert time_until_threshold(fc, 100.0).already
    assert time_until_threshold(fc, 1e9).expected_at is None


def test_time_until_lag_recovers() -> None:
    draining = [5000.0 - 80 * i for i in range(50)]
    fc = forecast_series(backlog_frame(draining), metric="consumer_lag_messages", horizon=timedelta(hours=2))
    hit = time_until_threshold(fc, 500.0, direction="below")
    assert hit.expected_at is not None
    wait = hit.seconds_until(backlog_frame(draining)["ts"][-1])
    assert wait is not None
    assert 20 * 60 <= wait <= 60 * 60
    with pytest.raises(ParameterError, match="direction"):
        time_until_threshold(fc, 1.0, direction="sideways")
    with pytest.raises(ParameterError, match="forecast"):
        time_until_threshold(fc.drop("upper"), 1.0)
    with pytest.raises(ParameterError, match="metric"):
        forecast_series(backlog_frame([1.0, 2.0]), metric="consumer_lag_messages")


def test_forecast_figure_marks_the_crossing() -> None:
    from workbench.figures.forecast import forecast_figure

    frame = backlog_frame([1000.0 + 50 * i for i in range(60)])
    fc = forecast_series(frame, metric="consumer_lag_messages", horizon=timedelta(hours=3))
    hit = time_until_threshold(fc, 5000.0)
    fig = forecast_figure(fc, crossing=hit, title="lag of billing/orders")
    assert fig.data[-1].name == "expected crossing"
    assert fig.data[-1].y[0] == 5000.0
    assert len(fig.data[0].x) == 60  # history only in the observed trace
    with pytest.raises(ParameterError, match="forecast"):
        forecast_figure(fc.drop("part"))
