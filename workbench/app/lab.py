"""Scenario lab: run a simulator scenario live, pause it, inject incidents, record it.

One :class:`ScenarioLab` per app (built by the factory, injected into the pages
and the REST API). A run advances the simulator's live generator tick by tick
on a background thread at a chosen speed; the most recent ticks are kept in a
bounded buffer for the live charts; ``stop(record=True)`` appends the whole run
(with the incidents injected) to the store as a dataset.

The live generator comes from the simulator room; this module only drives it.
If the simulator has no live mode, :meth:`ScenarioLab.start` raises
:class:`~workbench.app.services.Unavailable`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import polars as pl

from workbench.app.metrics import AppMetrics
from workbench.app.services import Unavailable, resolve
from workbench.errors import ParameterError
from workbench.store import Store

__all__ = ["LiveRun", "ScenarioLab", "SimulatorLiveRun"]

logger = logging.getLogger(__name__)


class LiveRun(Protocol):
    """What the lab needs from a live simulation."""

    tick_seconds: float

    def step(self) -> pl.DataFrame:
        """Advance one tick; return its canonical rows."""

    def inject(self, kind: str, target: str, duration_s: float, severity: str) -> dict[str, Any]:
        """Start an incident now; return its description."""

    def incidents(self) -> pl.DataFrame:
        """Incidents so far (INCIDENT_SCHEMA)."""


LiveFactory = Callable[[str, int], LiveRun]


class SimulatorLiveRun:
    """A live run of a simulator scenario (``workbench.sources.simulator.live.LiveFleet``).

    The fleet is simulated for ``history`` before the start and ``horizon`` after it; each
    :meth:`step` returns the next tick's canonical rows. :meth:`inject` adds an incident to
    the scenario at the current simulated time and re-simulates with the same seed, so the
    incident travels through the simulator's mechanics from that tick on; ticks already
    emitted are not rewritten.

    Parameters
    ----------
    scenario : str
        Scenario name.
    seed : int
        Random seed.
    history, horizon : str
        Simulated time before and after the start.
    """

    def __init__(self, scenario: str, seed: int, *, history: str = "1h", horizon: str = "1d") -> None:
        from workbench.sources.simulator import get_scenario
        from workbench.sources.simulator.live import LiveFleet

        self._live_fleet = LiveFleet
        self.spec = get_scenario(scenario)
        self.seed = seed
        self.history, self.horizon = history, horizon
        self._wall = dt.datetime.now(dt.UTC).timestamp()  # fixed: re-simulations share one time grid
        self.fleet = self._build(self.spec)
        self.index = self.fleet.now_index
        self.tick_seconds = self.fleet.step_seconds

    def _build(self, spec: Any) -> Any:
        return self._live_fleet(
            spec,
            seed=self.seed,
            history=self.history,
            horizon=self.horizon,
            speed=float("inf"),
            clock=lambda: self._wall,
        )

    def step(self) -> pl.DataFrame:
        """Canonical rows of the next tick."""
        if self.index >= self.fleet.steps:
            raise ParameterError(
                "horizon",
                allowed=f"at most {self.horizon} of live simulation",
                received="the end of the horizon",
            )
        frame = self.fleet.frame_at(self.index)
        self.index += 1
        return frame  # type: ignore[no-any-return]

    def _cluster_of(self, target: str) -> tuple[str, str]:
        """``(cluster, entity)`` of a target given as ``entity`` or ``cluster:entity``."""
        frame = self.fleet.frame_at(max(self.index - 1, 0))
        prefix, sep, rest = target.partition(":")
        if sep and prefix in set(frame.get_column("cluster").unique().to_list()):
            return prefix, rest
        names = pl.col("entity")
        hits = frame.filter(
            (names == target) | names.str.starts_with(target + "/") | names.str.ends_with("/" + target)
        )
        clusters = sorted(hits.get_column("cluster").unique().to_list())
        if len(clusters) != 1:
            raise ParameterError(
                "target",
                allowed="an entity of exactly one cluster (or CLUSTER:ENTITY)",
                received=f"{target!r} (clusters found: {clusters})",
            )
        return str(clusters[0]), target

    def inject(self, kind: str, target: str, duration_s: float, severity: str) -> dict[str, Any]:
        """Add an incident now and re-simulate the rest of the run with it."""
        from pydantic import ValidationError

        from workbench.errors import ConfigError
        from workbench.sources.simulator import IncidentSpec

        cluster, target = self._cluster_of(target)
        ts_ms = self.fleet.result.calendar.ts_ms
        offset = (int(ts_ms[min(self.index, len(ts_ms) - 1)]) - int(ts_ms[0])) / 1000 + self.tick_seconds
        try:
            incident = IncidentSpec.model_validate(
                {
                    "kind": kind,
                    "cluster": cluster,
                    "target": target,
                    "start": dt.timedelta(seconds=offset),
                    "duration": dt.timedelta(seconds=float(duration_s)),
                    "severity": severity,
                    "description": f"injected from the scenario lab: {kind} on {target}",
                }
            )
        except ValidationError as err:
            raise ParameterError(
                "incident",
                allowed="a valid kind, duration and severity",
                received=f"{kind}/{duration_s}/{severity}: {err.errors()[0]['msg']}",
            ) from err
        spec = self.spec.model_copy(update={"incidents": [*self.spec.incidents, incident]})
        try:
            fleet = self._build(spec)
        except ConfigError as err:
            raise ParameterError(
                "target", allowed=f"a target the simulator accepts for {kind}", received=f"{target!r}: {err}"
            ) from err
        self.spec, self.fleet = spec, fleet
        start = self.fleet.time_of(min(self.index, self.fleet.steps - 1))
        return {
            "kind": kind,
            "cluster": cluster,
            "target": target,
            "start": start.isoformat(),
            "duration_s": float(duration_s),
            "severity": severity,
        }

    def incidents(self) -> pl.DataFrame:
        """Ground truth of the incidents that started before the last emitted tick."""
        last = self.fleet.time_of(max(self.index - 1, 0))
        truth = self.fleet.result.incidents
        return truth.filter(pl.col("start") <= last)  # type: ignore[no-any-return]


def default_live_factory(scenario: str, seed: int) -> LiveRun:
    """The simulator room's live fleet for a scenario (see :class:`SimulatorLiveRun`)."""
    try:
        return SimulatorLiveRun(scenario, seed)
    except ImportError as err:
        raise Unavailable(f"the simulator's live mode cannot be imported: {err}") from err


class ScenarioLab:
    """Controller of at most one live run at a time (thread-safe).

    Parameters
    ----------
    store : Store
        Where a stopped run is recorded.
    metrics : AppMetrics, optional
        Self-monitoring (running gauge, tick counter).
    live_factory : callable, optional
        ``(scenario, seed) -> LiveRun``; default: the simulator's live mode.
    buffer_ticks : int
        Ticks kept for the live charts.
    """

    def __init__(
        self,
        store: Store,
        *,
        metrics: AppMetrics | None = None,
        live_factory: LiveFactory | None = None,
        buffer_ticks: int = 600,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.live_factory = live_factory or default_live_factory
        self.buffer_ticks = buffer_ticks
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._run: LiveRun | None = None
        self._state = "idle"
        self._scenario: str | None = None
        self._seed = 0
        self._speed = 1.0
        self._ticks = 0
        self._frames: list[pl.DataFrame] = []
        self._recent: list[pl.DataFrame] = []
        self._injected: list[dict[str, Any]] = []
        self._recorded: str | None = None
        self._error: str | None = None
        self._started: dt.datetime | None = None

    # ------------------------------------------------------------------ control
    def scenarios(self) -> list[str]:
        """Names of the simulator's scenarios."""
        fn = resolve("workbench.sources.simulator", "scenario_names")
        # the live mode must exist too, or the list would offer runs that cannot start
        resolve("workbench.sources.simulator.live", "LiveFleet")
        return list(fn())

    def start(self, scenario: str, *, seed: int = 1, speed: float = 60.0) -> dict[str, Any]:
        """Start a run of ``scenario``; ``speed`` = simulated seconds per wall second."""
        if not isinstance(scenario, str) or not scenario:
            raise ParameterError("scenario", allowed="a scenario name", received=scenario)
        if not (0 < float(speed) <= 100_000):
            raise ParameterError("speed", allowed="a number in (0, 100000]", received=speed)
        with self._lock:
            if self._state in ("running", "paused"):
                raise ParameterError(
                    "state", allowed="no run in progress (stop it first)", received=self._state
                )
            run = self.live_factory(scenario, int(seed))
            self._run, self._scenario, self._seed, self._speed = run, scenario, int(seed), float(speed)
            self._ticks, self._frames, self._recent, self._injected = 0, [], [], []
            self._recorded, self._error = None, None
            self._state = "running"
            self._started = dt.datetime.now(dt.UTC)
            self._wake.clear()
            self._thread = threading.Thread(target=self._loop, name="scenario-lab", daemon=True)
            self._thread.start()
            if self.metrics:
                self.metrics.lab_running.set(1)
            return self.status()

    def pause(self) -> dict[str, Any]:
        """Pause a running run (resume with :meth:`resume`)."""
        with self._lock:
            self._expect("running")
            self._state = "paused"
            return self.status()

    def resume(self) -> dict[str, Any]:
        """Resume a paused run."""
        with self._lock:
            self._expect("paused")
            self._state = "running"
            self._wake.set()
            return self.status()

    def inject(
        self, kind: str, target: str, *, duration_s: float = 600.0, severity: str = "warning"
    ) -> dict[str, Any]:
        """Inject an incident into the running simulation."""
        with self._lock:
            if self._state not in ("running", "paused") or self._run is None:
                raise ParameterError("state", allowed="a running or paused run", received=self._state)
            incident = self._run.inject(kind, target, float(duration_s), severity)
            self._injected.append(incident)
            return self.status()

    def stop(self, *, record: bool = True) -> dict[str, Any]:
        """Stop the run; with ``record``, append it to the store as ``lab-<scenario>-<time>``."""
        with self._lock:
            self._expect("running", "paused")
            self._state = "stopped"
            self._wake.set()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=10)
        with self._lock:
            if self.metrics:
                self.metrics.lab_running.set(0)
            if record and self._frames and self._run is not None and self._started is not None:
                name = f"lab-{self._scenario}-{self._started:%Y%m%dT%H%M%S}"
                frame = pl.concat(self._frames, how="vertical")
                self.store.append(
                    name,
                    frame,
                    source=f"sim:{self._scenario}:{self._seed}",
                    parameters={"lab": True, "speed": self._speed, "injected": len(self._injected)},
                    seed=self._seed,
                    incidents=self._run.incidents(),
                )
                self._recorded = name
            return self.status()

    def _expect(self, *states: str) -> None:
        if self._state not in states:
            raise ParameterError("state", allowed=" or ".join(states), received=self._state)

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        while True:
            with self._lock:
                state, run, speed = self._state, self._run, self._speed
                if state == "stopped" or run is None:
                    return
                if state == "running":
                    # Step under the lock so pause/stop take effect between ticks, never mid-tick.
                    try:
                        frame = run.step()
                    except Exception as err:  # surface simulator failures in status, stop the run
                        logger.exception("scenario lab tick failed")
                        self._error, self._state = f"{type(err).__name__}: {err}", "stopped"
                        if self.metrics:
                            self.metrics.lab_running.set(0)
                        return
                    self._ticks += 1
                    self._frames.append(frame)
                    self._recent.append(frame)
                    if len(self._recent) > self.buffer_ticks:
                        del self._recent[: len(self._recent) - self.buffer_ticks]
                    if self.metrics:
                        self.metrics.lab_ticks.inc()
            if state == "paused":
                self._wake.wait(0.2)
                self._wake.clear()
                continue
            self._wake.wait(max(0.0, run.tick_seconds / speed))
            self._wake.clear()

    # ------------------------------------------------------------------ reads
    def status(self) -> dict[str, Any]:
        """State, scenario, ticks, incidents injected, recorded dataset, last error."""
        with self._lock:
            return {
                "state": self._state,
                "scenario": self._scenario,
                "seed": self._seed,
                "speed": self._speed,
                "ticks": self._ticks,
                "injected": list(self._injected),
                "recorded_dataset": self._recorded,
                "error": self._error,
                "started": self._started.isoformat() if self._started else None,
            }

    def recent(self, metric: str | None = None) -> pl.DataFrame:
        """Canonical rows of the most recent ticks (optionally one metric)."""
        with self._lock:
            frames = list(self._recent)
        if not frames:
            return pl.DataFrame()
        frame = pl.concat(frames, how="vertical")
        if metric is not None:
            frame = frame.filter(pl.col("metric") == metric)
        return frame

    def export_scenario(self, scenario: str) -> str:
        """The scenario's YAML text, as the simulator room exports it, for download."""
        import tempfile
        from pathlib import Path

        fn = resolve("workbench.sources.simulator", "export_scenario")
        with tempfile.TemporaryDirectory(prefix="workbench-export-") as folder:
            path = Path(fn(scenario, folder))
            return path.read_text(encoding="utf-8")


def unavailable_reason(err: Exception) -> str:
    """Message for the UI when the lab cannot do something."""
    return err.reason if isinstance(err, Unavailable) else str(err)
