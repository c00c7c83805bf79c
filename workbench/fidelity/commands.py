"""The functions behind ``workbench learn-sim`` and ``workbench validate-sim``.

Examples
--------
>>> import inspect
>>> list(inspect.signature(validate_sim).parameters)[:2]
['real', 'sim']
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import polars as pl

from workbench.errors import ParameterError
from workbench.fidelity.learn import SimulationLearner
from workbench.fidelity.report import FidelityResult, compare_frames, normalise_name, write_report
from workbench.fidelity.scenario import learn_scenario, scenario_fidelity

__all__ = ["learn_sim", "validate_scenarios", "validate_sim"]

logger = logging.getLogger(__name__)


def _read(dataset: str, store_dir: Path | None, metric: str | None) -> pl.DataFrame:
    from workbench.store import Store

    store = Store(store_dir)
    frame = store.scan(dataset, metric=metric).collect()
    if frame.is_empty():
        raise ParameterError(
            "dataset", allowed="a dataset with rows (see: workbench datasets)", received=dataset
        )
    return frame


def learn_sim(
    dataset: str,
    *,
    name: str | None = None,
    path: Path | None = None,
    store_dir: Path | None = None,
    metric: str | None = None,
    learner: SimulationLearner | None = None,
) -> tuple[Path, Any]:
    """Learn a simulation from a stored real dataset and write its scenario file.

    Parameters
    ----------
    dataset : str
        Store dataset with real data.
    name : str, optional
        Scenario name (default ``learned-<dataset>``).
    path : Path, optional
        Scenario file (default: the imported-scenarios folder, so ``workbench simulate``
        finds it by name).
    store_dir : Path, optional
        Store directory.
    metric : str, optional
        Learn only this metric.
    learner : SimulationLearner, optional
        Learner with non-default parameters.

    Returns
    -------
    (Path, ScenarioSpec)
    """
    frame = _read(dataset, store_dir, metric)
    scenario = name or f"learned-{normalise_name(dataset)}"
    return learn_scenario(frame, name=scenario, path=path, learner=learner)


def validate_sim(
    real: str,
    sim: str,
    *,
    store_dir: Path | None = None,
    out_dir: Path | None = None,
    metric: str | None = None,
    standardize: bool = False,
) -> tuple[FidelityResult, Path]:
    """Compare two stored datasets (real, synthetic) and write the fidelity report.

    Returns the result and the report folder (``reports/fidelity/<UTC timestamp>/`` by default).
    """
    real_frame = _read(real, store_dir, metric)
    sim_frame = _read(sim, store_dir, None)
    result = compare_frames(real_frame, sim_frame, standardize=standardize)
    folder = write_report(
        result, out_dir, title=f"Simulation fidelity: {sim} vs {real}", metadata={"real": real, "sim": sim}
    )
    return result, folder


def validate_scenarios(
    names: list[str] | None = None,
    *,
    days: float = 14.0,
    seed: int = 1,
    out_dir: Path | None = None,
) -> tuple[FidelityResult, Path]:
    """Score the built-in scenarios against the bundled real data and write the report."""
    result = scenario_fidelity(names, days=days, seed=seed)
    folder = write_report(
        result,
        out_dir,
        title="Fidelity of the built-in scenarios against bundled real data (z-scored)",
        metadata={"scenarios": names or "all", "days": days, "seed": seed},
    )
    return result, folder
