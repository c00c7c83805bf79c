"""Simulation fidelity: the learner, the statistics, the report, the scenario round trip."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import signal

from workbench.errors import ParameterError, SchemaError
from workbench.fidelity import SimulationLearner, compare_frames, learned_scenario, write_report
from workbench.fidelity.compare import (
    acf_distance,
    compare_series,
    discriminative_auc,
    distribution_tests,
    ks_complement,
    seasonal_profile_correlation,
    spectral_distance,
    tstr_ratio,
)
from workbench.fidelity.series_model import SeriesModel, fit_series_model, generate_series, regular_grid
from workbench.figures.fidelity import report_figures
from workbench.frames import validate

STEP = 600.0
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def _seasonal_ar(n: int, seed: int, level: float = 100.0) -> tuple[np.ndarray, np.ndarray]:
    """A daily profile plus AR(1) noise: the structure the learner must recover."""
    rng = np.random.default_rng(seed)
    t = T0.timestamp() + STEP * np.arange(n)
    noise = signal.lfilter([1.0], [1.0, -0.8], rng.normal(0, 3.0, n))
    return t, level + 30 * np.sin(2 * np.pi * t / 86400) + noise


def _frame(
    entities: dict[str, tuple[np.ndarray, np.ndarray]], metric: str = "messages_in_per_s"
) -> pl.DataFrame:
    parts = [
        pl.DataFrame(
            {
                "ts": pl.Series((t * 1000).astype(np.int64)).cast(pl.Datetime("ms", "UTC")),
                "provider": "kafka",
                "cluster": "real-1",
                "level": "topic",
                "entity": name,
                "metric": metric,
                "value": v,
                "source": "test",
            }
        )
        for name, (t, v) in entities.items()
    ]
    return validate(pl.concat(parts))


# --- series model ------------------------------------------------------------------------


def test_series_model_recovers_profile_and_autocorrelation() -> None:
    t, x = _seasonal_ar(6 * 144, seed=0)
    model = fit_series_model(t, x, ar_max_lag=6)
    assert model.profile_kind == "daily"
    assert len(model.profile) == 24
    assert model.transform == "identity"
    # the learned profile follows the sine (peak near hour 6 UTC, trough near 18)
    assert int(np.argmax(model.profile)) in (5, 6, 7)
    assert int(np.argmin(model.profile)) in (17, 18, 19)
    sim = generate_series(model, t, np.random.default_rng(1))
    assert sim.shape == x.shape
    assert abs(sim.mean() - x.mean()) < 3.0
    lag1 = np.corrcoef(sim[:-1] - sim.mean(), sim[1:] - sim.mean())[0, 1]
    assert lag1 > 0.8  # profile + AR(0.8) noise


def test_generation_is_deterministic_by_seed_and_json_safe() -> None:
    t, x = _seasonal_ar(3 * 144, seed=2)
    model = fit_series_model(t, x, ar_max_lag=4)
    a = generate_series(model, t, np.random.default_rng(7))
    b = generate_series(model, t, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    again = SeriesModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(generate_series(again, t, np.random.default_rng(7)), a)


def test_quantised_nonnegative_series_stays_on_its_values() -> None:
    rng = np.random.default_rng(3)
    t = T0.timestamp() + 300.0 * np.arange(2000)
    x = np.round(rng.gamma(1.0, 2.0, t.size)) * 0.5  # counts on a 0.5 lattice, many zeros
    model = fit_series_model(t, x, ar_max_lag=4)
    assert model.transform == "log1p"
    assert model.support
    sim = generate_series(model, t, np.random.default_rng(4))
    assert sim.min() >= 0
    assert set(np.unique(sim)) <= set(np.unique(x))


def test_bursts_are_learned_as_rates_and_templates() -> None:
    t, x = _seasonal_ar(10 * 144, seed=5)
    x[[200, 600, 1000]] += 200.0  # three one-sample spikes
    model = fit_series_model(t, x, ar_max_lag=4, transform="identity")
    assert model.bursts_per_day == pytest.approx(3 / 10, rel=0.35)
    assert max(max(b) for b in model.burst_templates) > 100


def test_generation_at_another_step_interpolates() -> None:
    t, x = _seasonal_ar(3 * 144, seed=6)
    model = fit_series_model(t, x, ar_max_lag=4)
    fine = T0.timestamp() + 60.0 * np.arange(600)
    assert generate_series(model, fine, np.random.default_rng(0)).shape == (600,)


def test_series_model_rejects_bad_input() -> None:
    t = np.arange(100.0)
    with pytest.raises(ParameterError, match="finite"):
        fit_series_model(t, np.full(100, np.nan))
    with pytest.raises(ParameterError, match="seasonality"):
        fit_series_model(t, np.ones(100), seasonality="monthly")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="4 samples"):
        fit_series_model(np.arange(3.0), np.ones(3))


def test_regular_grid_averages_duplicates_and_fills_gaps() -> None:
    _grid, values, step = regular_grid(np.array([0.0, 60, 60, 240]), np.array([1.0, 2, 4, 5]))
    assert step == 60.0
    assert values.tolist() == pytest.approx([1.0, 3.0, 11 / 3, 13 / 3, 5.0])


# --- learner -----------------------------------------------------------------------------


def test_learner_fits_each_series_and_samples_a_canonical_frame() -> None:
    real = _frame({"orders": _seasonal_ar(3 * 144, 0), "billing": _seasonal_ar(3 * 144, 1, level=60.0)})
    learner = SimulationLearner(ar_max_lag=4, random_state=0).fit(real)
    assert sorted(k[3] for k in learner.models_) == ["billing", "orders"]
    sim = learner.sample(n_steps=144)
    validate(sim)  # canonical schema, no quarantine
    assert sim.height == 2 * 144
    assert sim["source"].unique().to_list() == ["sim:learned:0"]
    # continues after the real data, at the real step
    first = sim.filter(pl.col("entity") == "orders")["ts"].min()
    assert first == real["ts"].max() + dt.timedelta(seconds=STEP)
    means = sim.group_by("entity").agg(pl.col("value").mean()).sort("entity")["value"].to_list()
    assert means[0] == pytest.approx(60.0, abs=8)
    assert means[1] == pytest.approx(100.0, abs=10)


def test_learner_errors_name_the_problem() -> None:
    with pytest.raises(SchemaError, match="canonical frame needs"):
        SimulationLearner().fit(pl.DataFrame({"ts": [1], "value": [1.0]}))
    with pytest.raises(ParameterError, match="seasonality"):
        SimulationLearner(seasonality="hourly").fit(np.ones((40, 1)))  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="n_steps"):
        SimulationLearner(ar_max_lag=2).fit(np.random.default_rng(0).normal(size=(40, 1))).sample(n_steps=0)


# --- statistics --------------------------------------------------------------------------


def test_statistics_separate_good_from_bad_synthetic_data() -> None:
    t, real = _seasonal_ar(8 * 144, seed=10)
    _, same = _seasonal_ar(8 * 144, seed=11)
    gauss = np.random.default_rng(12).normal(real.mean(), real.std(), real.size)
    assert ks_complement(real, real) == 1.0
    assert acf_distance(real, real, 144) == 0.0
    assert acf_distance(real, same, 144) < 0.1 < acf_distance(real, gauss, 144)
    assert spectral_distance(real, same) < spectral_distance(real, gauss)
    assert discriminative_auc(t, real, t, same, window=12) < 0.7
    assert discriminative_auc(t, real, t, gauss, window=12) > 0.9
    corr, applies = seasonal_profile_correlation(t, real, t, same)
    assert applies
    assert corr > 0.95
    _, applies_noise = seasonal_profile_correlation(t, gauss, t, gauss)
    assert not applies_noise  # no daily profile in white noise: the correlation does not apply
    assert tstr_ratio(t, real, t, same, STEP)["tstr_ratio"] < 1.3
    assert tstr_ratio(t, real, t, gauss, STEP)["tstr_ratio"] > 1.3


def test_distribution_tests_thin_autocorrelated_series() -> None:
    _t, real = _seasonal_ar(8 * 144, seed=20)
    _, same = _seasonal_ar(8 * 144, seed=21)
    out = distribution_tests(real, same)
    assert out["thinning"] > 1  # decorrelation lag of a strongly autocorrelated series
    assert 0.0 <= out["ks_pvalue"] <= 1.0
    assert 0.001 <= out["ad_pvalue"] <= 0.25
    shifted = distribution_tests(real, same + 3 * real.std())
    assert shifted["ks_pvalue"] < 1e-3
    assert shifted["wasserstein_normalized"] > 2


def test_compare_series_returns_figure_arrays() -> None:
    t, real = _seasonal_ar(4 * 144, seed=30)
    stats, details = compare_series(t, real, t, real[::-1].copy(), step_s=STEP)
    assert {"ks_complement", "acf_distance", "discriminative_auc", "tstr_ratio", "ad_pvalue"} <= set(stats)
    assert len(details.real_acf) == 145
    assert len(details.real_profile) == 24
    assert len(details.bin_edges) == len(details.real_density) + 1
    figs = report_figures(details, title="x")
    assert [len(f.data) for f in figs] == [2, 2, 2, 2]


# --- report ------------------------------------------------------------------------------


def test_learned_simulation_passes_where_gaussian_fails(tmp_path: Path) -> None:
    t, x = _seasonal_ar(14 * 144, seed=40)
    real = _frame({"orders": (t, x)})
    cut = real["ts"].min() + dt.timedelta(days=10)
    train, test = real.filter(pl.col("ts") < cut), real.filter(pl.col("ts") >= cut)
    learner = SimulationLearner(ar_max_lag=6, random_state=1).fit(train)
    sim = learner.sample(start=test["ts"].min(), n_steps=test.height)
    gauss = test.with_columns(
        pl.Series("value", np.random.default_rng(0).normal(x.mean(), x.std(), test.height))
    )
    good, bad = compare_frames(test, sim), compare_frames(test, gauss)
    g = {r["statistic"]: r for r in good.verdicts().iter_rows(named=True)}
    b = {r["statistic"]: r for r in bad.verdicts().iter_rows(named=True)}
    assert g["acf_distance"]["verdict"] == "pass"
    assert b["acf_distance"]["verdict"] == "fail"
    assert g["discriminative_auc"]["value"] < b["discriminative_auc"]["value"]
    assert b["seasonal_correlation"]["verdict"] == "fail"
    stats = good.statistics.row(0, named=True)
    assert stats["ks_pvalue_adjusted"] >= stats["ks_pvalue"]  # Holm never lowers a p-value
    folder = write_report(good, tmp_path / "rep", title="t")
    payload = json.loads((folder / "report.json").read_text())
    assert payload["correction"] == "holm"
    assert payload["thresholds"]["discriminative_auc"]["value"] == 0.6
    html = (folder / "report.html").read_text()
    assert "QQ plot" in html
    assert "autocorrelation" in html
    assert "plotly" in html.lower()


def test_compare_frames_pairs_by_normalised_entity_and_rejects_unmatched() -> None:
    t, x = _seasonal_ar(2 * 144, seed=50)
    real = _frame({"realAWS/elb_count": (t, x)}, metric="external_value")
    sim = _frame({"realaws-elb-count": (t, x + 1)}, metric="messages_in_per_s")
    result = compare_frames(real, sim)
    assert result.statistics["sim_metric"].to_list() == ["messages_in_per_s"]
    other = _frame({"unrelated": (t, x)}, metric="messages_in_per_s")
    with pytest.raises(ParameterError, match="none matched"):
        compare_frames(real, other)


# --- scenario round trip -----------------------------------------------------------------


def test_learned_scenario_runs_in_the_simulator(tmp_path: Path) -> None:
    from workbench.sources.simulator import scenario_from_yaml, scenario_to_yaml, simulate

    t, x = _seasonal_ar(4 * 144, seed=60)
    real = _frame({"orders": (t, x)})
    learner = SimulationLearner(ar_max_lag=4).fit(real)
    spec = learned_scenario(learner, name="learned-test")
    again = scenario_from_yaml(scenario_to_yaml(spec))  # the file round-trips
    load = again.kafka[0].topics[0].load
    assert load.learned_series is not None
    assert load.profile is not None
    assert len(load.profile) == 24
    run = simulate(again, days=2, seed=3)
    topic = run.frame.filter(pl.col("metric") == "messages_in_per_s", pl.col("level") == "topic")
    assert topic["entity"].unique().to_list() == ["orders"]
    assert topic["value"].mean() == pytest.approx(x.mean(), rel=0.15)
    result = compare_frames(real, run.frame)  # pairs real 'orders' with the simulated topic
    assert result.statistics.height == 1
