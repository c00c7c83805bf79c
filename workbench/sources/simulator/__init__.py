"""Provider-authentic fleet simulator and scenario library.

Kafka, RabbitMQ and SQS fleets whose metrics follow from the mechanics (offsets, prefetch,
visibility timeouts, ISR and leader election), named incidents with ground truth, canonical
and exporter-native outputs, and a live mode that serves ``/metrics``.

Examples
--------
>>> from workbench.sources.simulator import simulate
>>> result = simulate("default", days=0.25, seed=1)
>>> result.frame.height > 0 and result.source == "sim:default:1"
True
"""

from __future__ import annotations

from workbench.sources.simulator.engine import DEFAULT_START, SimulationResult, simulate, store_simulation
from workbench.sources.simulator.library import (
    export_scenario,
    get_scenario,
    import_scenario,
    list_scenarios,
    register_scenario,
    scenario_names,
)
from workbench.sources.simulator.live import LiveFleet, LiveRun, live_run
from workbench.sources.simulator.spec import (
    IncidentSpec,
    LoadSpec,
    ScenarioSpec,
    scenario_from_yaml,
    scenario_to_yaml,
)

__all__ = [
    "DEFAULT_START",
    "IncidentSpec",
    "LiveFleet",
    "LiveRun",
    "LoadSpec",
    "ScenarioSpec",
    "SimulationResult",
    "export_scenario",
    "get_scenario",
    "import_scenario",
    "list_scenarios",
    "live_run",
    "register_scenario",
    "scenario_from_yaml",
    "scenario_names",
    "scenario_to_yaml",
    "simulate",
    "store_simulation",
]
