"""Benchmark: is a simulation learned from real data indistinguishable from held-out real data?

For each real NAB series (``realKnownCause/nyc_taxi`` and the 17 ``realAWSCloudwatch``
series, bundled under ``data/real/nab``), the first 70 % of the time range is used to learn
a :class:`workbench.fidelity.SimulationLearner`; synthetic data is generated for the held-out
30 % (same timestamps) and compared with it by :func:`workbench.fidelity.compare.compare_series`.
Two baselines run in the same script on the same held-out data:

The learned model is also run *through the fleet simulator* (as the scenario
``workbench learn-sim`` writes; figures ``simulator_*``): its topic's ``messages_in_per_s``.

* ``baseline_gaussian``: i.i.d. Gaussian with the training part's mean and variance;
* ``baseline_default``: the hand-configured ``default`` simulator scenario's main
  arrival-rate series, simulated over the held-out period at the real step and affinely
  rescaled to the training mean and standard deviation (the most a user would calibrate
  by hand).

Targets (issue 7): mean ``discriminative_auc`` <= 0.60 while ``baseline_gaussian_auc`` >= 0.90;
mean ``ks_complement`` >= 0.90; mean ``acf_distance`` <= half of
``baseline_gaussian_acf_distance``. Figures are means over the series; per-series numbers
are in the JSON too.

Run ``python benchmarks/fidelity.py`` (full) or ``--quick`` (two series).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.fidelity.compare import compare_series  # noqa: E402
from workbench.fidelity.learn import SimulationLearner  # noqa: E402
from workbench.fidelity.series_model import fit_series_model, generate_series, regular_grid  # noqa: E402
from workbench.sources.files import read_nab_csv  # noqa: E402

NAB = ROOT / "data" / "real" / "nab" / "data"
QUICK = ["realKnownCause/nyc_taxi.csv", "realAWSCloudwatch/elb_request_count_8c0756.csv"]
TRAIN_FRACTION = 0.7
STATS = (
    "discriminative_auc",
    "ks_complement",
    "acf_distance",
    "seasonal_correlation",
    "spectral_distance",
    "tstr_ratio",
)


def _series(path: str) -> tuple[np.ndarray, np.ndarray, float]:
    frame = read_nab_csv(NAB / path).frame
    ts = frame["ts"].dt.epoch("ms").to_numpy().astype(float) / 1000.0
    return regular_grid(ts, frame["value"].to_numpy().astype(float))


def _default_scenario(start_s: float, n: int, step: float, seed: int) -> np.ndarray:
    import datetime as dt

    from workbench.fidelity.scenario import _main_arrival_series
    from workbench.sources.simulator import simulate

    days = (n + 1) * step / 86400.0
    start = dt.datetime.fromtimestamp(start_s - step, tz=dt.UTC)
    frame = simulate("default", days=days, seed=seed, start=start, step=f"{step:g}s").frame
    values = _main_arrival_series(frame).sort("ts")["value"].to_numpy().astype(float)
    return np.resize(values, n)


def _through_simulator(model: Any, start_s: float, n: int, step: float, seed: int) -> np.ndarray:
    """The learned model as a scenario, run by the fleet simulator: its topic's messages_in_per_s."""
    import datetime as dt

    from workbench.fidelity.scenario import learned_scenario
    from workbench.sources.simulator import simulate

    learner = SimulationLearner()
    learner.models_ = {("sqs", "nab", "queue", "series", "external_value"): model}
    learner.series_ = pl.DataFrame(
        {
            "provider": ["sqs"],
            "cluster": ["nab"],
            "level": ["queue"],
            "entity": ["series"],
            "metric": ["external_value"],
            "step_s": [step],
            "first_s": [model.t0],
            "last_s": [start_s - step],
            "n": [n],
        }
    )
    spec = learned_scenario(learner, name="benchmark-learned")
    start = dt.datetime.fromtimestamp(start_s - step, tz=dt.UTC)
    frame = simulate(spec, days=n * step / 86400.0, seed=seed, start=start, step=f"{step:g}s").frame
    topic = frame.filter(pl.col("metric") == "messages_in_per_s", pl.col("level") == "topic").sort("ts")
    return np.resize(topic["value"].to_numpy().astype(float), n)


def run_one(path: str, seed: int) -> dict[str, Any]:
    """Learn, generate, and compare one series with its held-out part and the baselines."""
    t0 = time.perf_counter()
    grid, values, step = _series(path)
    cut = int(TRAIN_FRACTION * grid.size)
    train_t, train_v, test_t, test_v = grid[:cut], values[:cut], grid[cut:], values[cut:]
    model = fit_series_model(train_t, train_v)
    learned = generate_series(model, test_t, np.random.default_rng(seed))
    gaussian = np.random.default_rng(seed + 1).normal(train_v.mean(), train_v.std(), test_t.size)
    default = _default_scenario(test_t[0], test_t.size, step, seed)
    default = (default - default.mean()) / (default.std() or 1.0) * train_v.std() + train_v.mean()
    out: dict[str, Any] = {
        "series": path,
        "n_train": int(cut),
        "n_test": int(test_t.size),
        "step_s": step,
        "profile": model.profile_kind,
        "transform": model.transform,
        "ar_order": len(model.ar_coefs),
        "bursts_per_day": model.bursts_per_day,
        "incidents_per_day": model.incidents_per_day,
    }
    simulated = _through_simulator(model, test_t[0], test_t.size, step, seed)
    variants = (("learned", learned), ("simulator", simulated), ("gaussian", gaussian), ("default", default))
    for label, synthetic in variants:
        stats, _ = compare_series(test_t, test_v, test_t, synthetic, step_s=step, random_state=seed)
        out.update({f"{label}_{k}": float(stats[k]) for k in STATS})
    out["seconds"] = time.perf_counter() - t0
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two series only (< 1 min on an idle machine)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    paths = (
        QUICK
        if args.quick
        else [
            "realKnownCause/nyc_taxi.csv",
            *sorted(f"realAWSCloudwatch/{p.name}" for p in (NAB / "realAWSCloudwatch").glob("*.csv")),
        ]
    )
    started = time.perf_counter()
    rows = Parallel(n_jobs=args.jobs)(delayed(run_one)(p, args.seed) for p in paths)
    table = pl.DataFrame(rows)
    aws = table.filter(pl.col("series").str.starts_with("realAWSCloudwatch"))

    def mean(col: str, frame: pl.DataFrame = table) -> float:
        return float(frame[col].mean()) if frame.height else float("nan")

    figures: dict[str, float] = {
        "discriminative_auc": mean("learned_discriminative_auc"),
        "simulator_discriminative_auc": mean("simulator_discriminative_auc"),
        "simulator_ks_complement": mean("simulator_ks_complement"),
        "simulator_acf_distance": mean("simulator_acf_distance"),
        "baseline_gaussian_auc": mean("gaussian_discriminative_auc"),
        "baseline_default_auc": mean("default_discriminative_auc"),
        "ks_complement": mean("learned_ks_complement"),
        "baseline_gaussian_ks_complement": mean("gaussian_ks_complement"),
        "baseline_default_ks_complement": mean("default_ks_complement"),
        "acf_distance": mean("learned_acf_distance"),
        "baseline_gaussian_acf_distance": mean("gaussian_acf_distance"),
        "baseline_default_acf_distance": mean("default_acf_distance"),
        "tstr_ratio": mean("learned_tstr_ratio"),
        "baseline_gaussian_tstr_ratio": mean("gaussian_tstr_ratio"),
        "discriminative_auc_median": float(table["learned_discriminative_auc"].median()),
        "series": float(table.height),
    }
    nyc = table.filter(pl.col("series").str.contains("nyc_taxi"))
    if nyc.height:
        figures["nyc_taxi_discriminative_auc"] = mean("learned_discriminative_auc", nyc)
        figures["nyc_taxi_ks_complement"] = mean("learned_ks_complement", nyc)
        figures["nyc_taxi_acf_distance"] = mean("learned_acf_distance", nyc)
    if aws.height:
        figures["aws_discriminative_auc"] = mean("learned_discriminative_auc", aws)
        figures["aws_ks_complement"] = mean("learned_ks_complement", aws)
        figures["aws_acf_distance"] = mean("learned_acf_distance", aws)
        figures["aws_series_auc_le_0_60"] = float((aws["learned_discriminative_auc"] <= 0.60).sum())
    figures["target_auc_met"] = float(
        figures["discriminative_auc"] <= 0.60 and figures["baseline_gaussian_auc"] >= 0.90
    )
    figures["target_ks_complement_met"] = float(figures["ks_complement"] >= 0.90)
    figures["target_acf_met"] = float(
        figures["acf_distance"] <= 0.5 * figures["baseline_gaussian_acf_distance"]
    )
    figures["seconds"] = time.perf_counter() - started

    pl.Config.set_tbl_rows(50)
    pl.Config.set_tbl_width_chars(200)
    shown = table.select(
        pl.col("series").str.split("/").list.last().str.slice(0, 34),
        *(
            pl.col(f"{who}_{stat}").round(3).alias(f"{who[:3]}_{stat.split('_')[0][:4]}")
            for stat in ("discriminative_auc", "ks_complement", "acf_distance")
            for who in ("learned", "simulator", "gaussian", "default")
        ),
    )
    print(shown)
    print("\nfigure".ljust(34), "value")
    for key, value in figures.items():
        print(key.ljust(34), f"{value:.4f}")
    result = {
        "figures": figures,
        "cpu_count": os.cpu_count(),
        "versions": {
            "python": platform.python_version(),
            **{pkg: version(pkg) for pkg in ("numpy", "scipy", "statsmodels", "scikit-learn", "polars")},
        },
        "quick": args.quick,
        "per_series": table.to_dicts(),
    }
    out = ROOT / "benchmarks" / "results" / "fidelity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {out}")
    return result


if __name__ == "__main__":
    main()
