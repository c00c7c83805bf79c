"""Learned simulations as simulator scenarios, and the fidelity of the built-in scenarios.

:func:`learned_scenario` turns a fitted :class:`~workbench.fidelity.learn.SimulationLearner`
into a fleet-simulator :class:`~workbench.sources.simulator.spec.ScenarioSpec`: every learned
series becomes the producer load of one Kafka topic (cluster = the real cluster, topic = the
normalised entity), carrying the full learned model in ``LoadSpec.learned_series`` and a
readable parametric summary (base rate, profile, trend, noise, bursts) in the usual fields.
``workbench simulate`` then replays it through the simulator's mechanics, and the
topic-level ``messages_in_per_s`` it writes is paired back with the real series by
:func:`~workbench.fidelity.report.compare_frames`.

:func:`scenario_fidelity` scores each built-in scenario's main arrival-rate series against
bundled real data (NAB series with daily structure), z-scored, because a default scenario's
absolute scale is arbitrary.

Examples
--------
>>> import numpy as np
>>> from workbench.fidelity.learn import SimulationLearner
>>> X = (50 + np.random.default_rng(0).normal(0, 1, (600, 1)))
>>> spec = learned_scenario(SimulationLearner().fit(X), name="tiny-learned")
>>> spec.kafka[0].topics[0].name, spec.kafka[0].topics[0].load.learned_series is not None
('column-0', True)
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from workbench.errors import ParameterError
from workbench.fidelity.learn import SimulationLearner
from workbench.fidelity.report import FidelityResult, compare_frames, normalise_name
from workbench.fidelity.series_model import SeriesModel, generate_series

__all__ = ["REAL_REFERENCES", "learn_scenario", "learned_scenario", "scenario_fidelity"]

logger = logging.getLogger(__name__)

#: Bundled real series (paths under ``data/real/nab/data``) that built-in scenarios are
#: compared with: a request-rate series (the closest analogue of a publish rate) and a
#: demand-count series with daily and weekly seasonality.
REAL_REFERENCES: tuple[str, ...] = (
    "realAWSCloudwatch/elb_request_count_8c0756.csv",
    "realKnownCause/nyc_taxi.csv",
)
_ARRIVALS = ("messages_in_per_s", "published_per_s")


def _summary_fields(model: SeriesModel, rate: np.ndarray) -> dict[str, Any]:
    """Parametric LoadSpec fields that summarise a learned model (readable, approximate)."""
    from statsmodels.tsa.arima_process import arma_acf

    mean = float(np.mean(rate)) if rate.size else 0.0
    profile = np.asarray(model.profile, dtype=float)
    fields: dict[str, Any] = {"base_rate": max(mean, 0.0)}
    if profile.size in (24, 168):
        # the simulator's week starts on Monday 00:00 local time, like the learned profile
        mult = np.exp(profile) if model.transform == "log1p" else np.maximum(model.level + profile, 0.0)
        if mult.mean() > 0:
            fields["profile"] = (mult / mult.mean()).round(6).tolist()
            fields["daily_amplitude"] = 0.0
    level = np.expm1(model.level) if model.transform == "log1p" else model.level
    relative_trend = (
        model.trend_per_day if model.transform == "log1p" else model.trend_per_day / level if level else 0.0
    )
    fields["trend_per_day"] = float(np.clip(relative_trend, -1.0, 1.0))
    spread = float(np.std(model.residual_quantiles))
    noise = spread if model.transform == "log1p" else spread / abs(level) if level else 0.0
    fields["noise"] = float(np.clip(noise, 0.0, 2.0))
    coefs = np.asarray(model.ar_coefs, dtype=float)
    lag1 = float(arma_acf(np.concatenate([[1.0], -coefs]), np.array([1.0]), lags=2)[1]) if coefs.size else 0.0
    fields["noise_autocorrelation"] = float(np.clip(max(lag1, 0.0) ** (60.0 / model.step_s), 0.0, 0.999))
    fields["bursts_per_day"] = float(model.bursts_per_day + model.incidents_per_day)
    fields["learned_series"] = model.to_dict()
    return fields


def learned_scenario(
    learner: SimulationLearner,
    *,
    name: str,
    description: str | None = None,
    days: float | None = None,
) -> Any:
    """Build a simulator scenario from a fitted learner (see the module docstring).

    Parameters
    ----------
    learner : SimulationLearner
        Fitted learner.
    name : str
        Scenario name (lower case, digits, ``-`` and ``_``).
    description : str, optional
        Free text; default names the learned series.
    days : float, optional
        Default simulated length; default the learned span (at most 400 days).

    Returns
    -------
    ScenarioSpec
    """
    from workbench.sources.simulator.spec import ScenarioSpec

    if not hasattr(learner, "models_"):
        raise ParameterError("learner", allowed="a fitted SimulationLearner", received="an unfitted learner")
    clusters: dict[str, list[dict[str, Any]]] = {}
    steps, spans, starts = [], [], []
    for row, model in zip(learner.series_.iter_rows(named=True), learner.models_.values(), strict=True):
        week = np.asarray(
            model.t0 + model.step_s * np.arange(int(7 * 86400 / model.step_s)), dtype=np.float64
        )
        rate = generate_series(model, week, np.random.default_rng(0))
        load = _summary_fields(model, rate)
        peak = float(np.max(rate)) if rate.size else 1.0
        topic = normalise_name(row["entity"]) or "series"
        clusters.setdefault(normalise_name(row["cluster"]) or "learned", []).append(
            {"name": topic, "partitions": 1, "replication_factor": 1, "load": load, "peak": peak}
        )
        steps.append(model.step_s)
        spans.append((row["last_s"] - row["first_s"]) / 86400.0)
        starts.append(row["last_s"] + model.step_s)
    kafka = []
    for cluster, topics in clusters.items():
        capacity = max(t.pop("peak") for t in topics) * 2.0 + 1.0
        kafka.append(
            {
                "name": cluster,
                "brokers": 1,
                "topics": topics,
                "consumer_groups": [
                    {
                        "name": "learned-consumers",
                        "topics": [t["name"] for t in topics],
                        "members": 2,
                        "capacity_per_member": capacity,
                    }
                ],
            }
        )
    listed = ", ".join(
        f"{r['cluster']}/{r['entity']}/{r['metric']}" for r in learner.series_.iter_rows(named=True)
    )
    spec = ScenarioSpec.model_validate(
        {
            "name": name,
            "description": description
            or f"Learned from real data by workbench learn-sim: {listed}. Each series is the producer "
            "load (messages_in_per_s) of one topic; the full learned model is in load.learned_series.",
            "days": float(min(days if days is not None else max(spans), 400.0)),
            "step": f"{min(steps):g}s",
            "start": dt.datetime.fromtimestamp(min(starts), tz=dt.UTC),
            "kafka": kafka,
        }
    )
    return spec


def learn_scenario(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    name: str,
    path: Path | str | None = None,
    learner: SimulationLearner | None = None,
    register: bool = True,
) -> tuple[Path, Any]:
    """Learn a simulation from a real canonical frame and write it as a scenario file.

    Parameters
    ----------
    frame : polars.DataFrame or LazyFrame
        Real canonical frame.
    name : str
        Scenario name.
    path : Path, optional
        YAML file to write; default ``<data_dir>/scenarios/<name>.yaml`` (the imported
        scenarios folder, so ``workbench simulate <name>`` finds it).
    learner : SimulationLearner, optional
        Learner to use (default parameters otherwise).
    register : bool
        Import the file into the scenario library (overwriting one of the same name).

    Returns
    -------
    (Path, ScenarioSpec)
    """
    from workbench.sources.simulator.library import import_scenario, user_dir
    from workbench.sources.simulator.spec import scenario_to_yaml

    fitted = (learner or SimulationLearner()).fit(frame)
    spec = learned_scenario(fitted, name=name)
    target = Path(path) if path is not None else user_dir() / f"{name}.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(scenario_to_yaml(spec))
    if register and target.resolve().parent != user_dir().resolve():
        import_scenario(target, overwrite=True)
    logger.info("learned scenario %s written to %s", name, target)
    return target, spec


def _main_arrival_series(frame: pl.DataFrame) -> pl.DataFrame:
    """The arrival-rate series with the largest mean (a scenario's main load)."""
    arrivals = frame.filter(pl.col("metric").is_in(_ARRIVALS), pl.col("level").is_in(["topic", "queue"]))
    if arrivals.is_empty():
        raise ParameterError(
            "scenario", allowed="a scenario with topic or queue arrival rates", received="none"
        )
    keys = ["provider", "cluster", "level", "entity", "metric"]
    best = arrivals.group_by(keys).agg(pl.col("value").mean()).sort("value", descending=True).head(1)
    return arrivals.join(best.select(keys), on=keys)


def scenario_fidelity(
    names: Sequence[str] | None = None,
    *,
    days: float = 14.0,
    seed: int = 1,
    references: Sequence[str] = REAL_REFERENCES,
    real_dir: Path | None = None,
    n_jobs: int | None = None,
) -> FidelityResult:
    """How realistic is each built-in scenario? Compare its main load with real series.

    Each scenario is simulated for ``days`` at the reference's sampling step; its
    arrival-rate series with the largest mean is compared, z-scored, with each real
    reference. The pair label is ``<scenario>/<reference entity>/external_value``.

    Parameters
    ----------
    names : sequence of str, optional
        Scenarios (default: every built-in scenario).
    days : float
        Simulated length.
    seed : int
        Simulation seed.
    references : sequence of str
        NAB files (relative to ``data/real/nab/data``).
    real_dir : Path, optional
        Root of the bundled real data (default: settings' ``real_data_dir``).
    n_jobs : int, optional
        joblib parallelism over pairs.

    Returns
    -------
    FidelityResult
    """
    from workbench.config import settings
    from workbench.sources.files import read_nab_csv
    from workbench.sources.simulator import list_scenarios, simulate

    root = (real_dir or settings().real_data_dir) / "nab" / "data"
    reals = [read_nab_csv(root / ref).frame for ref in references]
    if names is None:
        listing = list_scenarios()
        chosen = listing.filter(pl.col("origin") == "builtin")["name"].to_list()
    else:
        chosen = list(names)
    real_parts, sim_parts = [], []
    for scenario in chosen:
        for ref in reals:
            steps = ref["ts"].sort().diff().dt.total_seconds().drop_nulls().mode()
            step = float(np.min(steps.to_numpy()))
            sim = simulate(scenario, days=days, seed=seed, step=f"{step:g}s").frame
            main = _main_arrival_series(sim)
            entity = ref["entity"][0]
            real_parts.append(ref.with_columns(pl.lit(scenario).alias("cluster")))
            sim_parts.append(
                main.with_columns(
                    pl.lit(scenario).alias("cluster"),
                    pl.lit(entity).alias("entity"),
                    pl.lit("external_value").alias("metric"),
                    pl.lit("sqs").cast(main["provider"].dtype).alias("provider"),
                    pl.lit("queue").cast(main["level"].dtype).alias("level"),
                )
            )
    real_all = pl.concat(real_parts, how="vertical_relaxed")
    sim_all = pl.concat(sim_parts, how="vertical_relaxed")
    return compare_frames(real_all, sim_all, standardize=True, n_jobs=n_jobs)
