"""Simulation fidelity: learn a simulation from real frames, and compare sim with real.

Examples
--------
>>> from workbench.fidelity import SimulationLearner, compare_frames
>>> SimulationLearner().get_params()["seasonality"]
'auto'
"""

from __future__ import annotations

from workbench.fidelity.learn import SimulationLearner, frame_series
from workbench.fidelity.report import THRESHOLDS, FidelityResult, compare_frames, write_report
from workbench.fidelity.scenario import learn_scenario, learned_scenario, scenario_fidelity
from workbench.fidelity.series_model import SeriesModel, fit_series_model, generate_series

__all__ = [
    "THRESHOLDS",
    "FidelityResult",
    "SeriesModel",
    "SimulationLearner",
    "compare_frames",
    "fit_series_model",
    "frame_series",
    "generate_series",
    "learn_scenario",
    "learned_scenario",
    "scenario_fidelity",
    "write_report",
]
