"""The work behind ``workbench simulate``: simulate into the store, or serve a live fleet.

Examples
--------
>>> import tempfile
>>> from workbench.sources.simulator.commands import simulate_scenario
>>> summary = simulate_scenario("default", days=0.1, seed=1, store_dir=tempfile.mkdtemp())
>>> summary.dataset
'sim-default-1'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from workbench.sources.simulator.engine import simulate, store_simulation
from workbench.sources.simulator.live import LiveFleet, parse_address
from workbench.sources.simulator.openmetrics import write_openmetrics

__all__ = ["SimulateSummary", "serve_scenario", "simulate_scenario"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimulateSummary:
    """What ``workbench simulate`` reports."""

    dataset: str
    rows: int
    added: int
    series: int
    seconds: float
    incidents: pl.DataFrame
    exported: list[Path]

    @property
    def headline(self) -> str:
        """One line for the terminal."""
        text = (
            f"Simulated {self.series:,} series, {self.rows:,} samples in {self.seconds:.1f} s "
            f"({self.rows / max(self.seconds, 1e-9):,.0f} samples/s) -> dataset {self.dataset!r} "
            f"({self.added:,} rows added)"
        )
        if self.exported:
            text += f"; OpenMetrics history in {len(self.exported)} files under {self.exported[0].parent}"
        return text


def simulate_scenario(
    scenario: str,
    *,
    days: float | None = None,
    seed: int = 1,
    start: str | None = None,
    step: str | None = None,
    dataset: str | None = None,
    store_dir: str | Path | None = None,
    export: str | Path | None = None,
) -> SimulateSummary:
    """Simulate ``scenario``, append it (with incidents and manifest) to the store, optionally export."""
    from workbench.store import Store

    began = time.perf_counter()
    result = simulate(scenario, days=days, seed=seed, start=start, step=step)
    elapsed = time.perf_counter() - began
    appended = store_simulation(result, dataset=dataset, store=Store(store_dir))
    exported = (
        write_openmetrics(result.native_blocks, result.calendar.ts_ms, export) if export is not None else []
    )
    series = result.frame.select("cluster", "level", "entity", "metric").n_unique()
    shown = result.incidents.select(
        "start",
        "end",
        "kind",
        "severity",
        "cluster",
        pl.col("entities").list.join(", ").str.slice(0, 60).alias("entities"),
    )
    return SimulateSummary(
        appended.dataset, result.frame.height, appended.added, series, elapsed, shown, exported
    )


def serve_scenario(
    scenario: str,
    *,
    address: str,
    days: float | None = None,
    seed: int = 1,
    step: str | None = None,
    speed: float = 1.0,
    horizon: str = "1d",
    export: str | Path | None = None,
    announce: Callable[[str], object] = print,
    stop_after: float | None = None,
) -> LiveFleet:
    """Serve a live fleet on ``address`` until interrupted (or ``stop_after`` seconds).

    ``days`` of history precede now (default 1); with ``export`` that history is written as
    OpenMetrics first, for ``promtool tsdb create-blocks-from openmetrics``.
    """
    host, port = parse_address(address)
    fleet = LiveFleet(
        scenario,
        seed=seed,
        history=f"{days if days is not None else 1}d",
        horizon=horizon,
        step=step,
        speed=speed,
    )
    if export is not None:
        paths = fleet.write_history(export)
        announce(f"Wrote {len(paths)} OpenMetrics history files to {export}")
    bound_host, bound_port = fleet.serve(host, port)
    announce(
        f"Serving {fleet.result.spec.name} (seed {seed}, speed {speed:g}x) on http://{bound_host}:{bound_port}/metrics - Ctrl-C stops"
    )
    deadline = None if stop_after is None else time.monotonic() + stop_after
    try:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2 if deadline is not None else 1.0)
    except KeyboardInterrupt:
        announce("stopping")
    finally:
        fleet.shutdown()
    return fleet
