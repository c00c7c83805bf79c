"""Live mode: advance a simulated fleet tick by tick and serve it as ``/metrics``.

A :class:`LiveFleet` simulates ``history`` before now plus ``horizon`` after it, then maps
wall-clock time to a tick: ``tick = now_tick + floor(elapsed x speed / step)``. At speed 1
the simulated time is the wall-clock time; at speed 60 a minute of fleet passes each
second. The history part can be written as OpenMetrics for ``promtool`` backfill, so a
Prometheus holds a week of past fleet and keeps scraping the live part seamlessly.

The ``/metrics`` endpoint (``prometheus_client``) serves exporter-native series at the
current tick, plus the simulator's own metrics: ``workbench_sim_tick``,
``workbench_sim_time_seconds`` (simulated time of the served tick), ``workbench_sim_series``
and ``workbench_sim_scrapes_total``. One scrape reads one tick, so every series of a scrape
belongs to the tick that ``workbench_sim_tick`` reports.

Examples
--------
>>> from workbench.sources.simulator.live import LiveFleet
>>> fleet = LiveFleet("default", seed=1, history="1h", horizon="1h", speed=float("inf"))
>>> ticks = fleet.ticks(limit=3)
>>> [t.index - fleet.now_index for t in ticks]
[0, 1, 2]
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pydantic import ValidationError

from workbench.errors import ParameterError
from workbench.sources.simulator.canonical import blocks_to_frame
from workbench.sources.simulator.core import Block
from workbench.sources.simulator.engine import SimulationResult, canonical_blocks, simulate
from workbench.sources.simulator.library import get_scenario
from workbench.sources.simulator.native import collect_families
from workbench.sources.simulator.openmetrics import write_openmetrics
from workbench.sources.simulator.spec import DEFAULT_MAGNITUDE, IncidentSpec, ScenarioSpec, parse_duration

__all__ = ["DEFAULT_MAGNITUDE", "LiveFleet", "LiveRun", "Tick", "live_run", "parse_address", "resolve_target"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tick:
    """One step of a live fleet: its index, simulated time and canonical samples."""

    index: int
    ts: dt.datetime
    frame: pl.DataFrame


def parse_address(address: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (port 0 picks a free port).

    Examples
    --------
    >>> parse_address("127.0.0.1:9400")
    ('127.0.0.1', 9400)
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ParameterError("serve", allowed="HOST:PORT such as 127.0.0.1:9400", received=address)
    return host.strip("[]"), int(port)


class LiveFleet:
    """A simulated fleet that advances with the wall clock.

    Parameters
    ----------
    scenario : ScenarioSpec or str
        Scenario spec or name.
    seed : int
        Random seed.
    history, horizon : str or timedelta
        Simulated time before and after "now" (e.g. ``"7d"`` and ``"1d"``).
    step : str, optional
        Sample interval (default: the scenario's).
    speed : float
        Simulated seconds per wall-clock second; ``inf`` means :meth:`ticks` never sleeps.
    clock : callable
        Wall clock in seconds (tests pass a fake one).
    """

    def __init__(
        self,
        scenario: ScenarioSpec | str,
        *,
        seed: int = 0,
        history: str | dt.timedelta = "1d",
        horizon: str | dt.timedelta = "1d",
        step: str | None = None,
        speed: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not speed > 0:
            raise ParameterError(
                "speed", allowed="a positive number of simulated seconds per second", received=speed
            )
        self.speed = float(speed)
        self.clock = clock
        past = parse_duration(history)
        future = parse_duration(horizon)
        if future.total_seconds() <= 0:
            raise ParameterError("horizon", allowed="a positive duration", received=horizon)
        wall = clock()
        spec = get_scenario(scenario) if isinstance(scenario, str) else scenario
        step_s = (parse_duration(step) if step else spec.step).total_seconds()
        aligned = math.floor(wall / step_s) * step_s
        start = dt.datetime.fromtimestamp(aligned - past.total_seconds(), tz=dt.UTC)
        days = (past + future).total_seconds() / 86400.0
        self.result: SimulationResult = simulate(spec, days=days, seed=seed, start=start, step=step)
        self.step_seconds = step_s
        self.now_index = max(0, round(past.total_seconds() / step_s) - 1)
        self.wall0 = wall
        self._blocks: list[Block] = canonical_blocks(self.result.models)
        self._scrapes = 0
        self._lock = threading.Lock()
        self._server: Any = None
        self._seed = seed
        self._step_arg = step
        self._horizon_days = future.total_seconds() / 86400.0
        self.segment = 0
        self._offset = 0  # global tick of the current segment's first tick

    # ------------------------------------------------------------------ time
    @property
    def steps(self) -> int:
        """Number of simulated steps (history + horizon)."""
        return self.result.calendar.steps

    def index(self, wall: float | None = None) -> int:
        """Tick served at wall-clock time ``wall`` (default: now), clipped to the horizon."""
        elapsed = (self.clock() if wall is None else wall) - self.wall0
        if math.isinf(self.speed):
            return self.steps - 1
        k = self.now_index + math.floor(max(elapsed, 0.0) * self.speed / self.step_seconds + 1e-9)
        return min(k, self.steps - 1)

    def time_of(self, index: int) -> dt.datetime:
        """Simulated timestamp of tick ``index``."""
        return dt.datetime.fromtimestamp(int(self.result.calendar.ts_ms[index]) / 1000, tz=dt.UTC)

    def _serving_index(self) -> int:
        """Tick of the current segment to serve now; past the horizon, a new segment starts.

        Each new segment simulates ``horizon`` more from where the last one ended (seed +
        segment number), so a long-running ``--serve`` never freezes; offsets and counters
        restart there, which Prometheus reads as a reset.
        """
        if math.isinf(self.speed):
            return self.steps - 1
        elapsed = self.clock() - self.wall0
        wanted = self.now_index + math.floor(max(elapsed, 0.0) * self.speed / self.step_seconds + 1e-9)
        with self._lock:
            while wanted - self._offset >= self.steps:
                last = int(self.result.calendar.ts_ms[-1])
                self._offset += self.steps
                self.segment += 1
                self.result = simulate(
                    self.result.spec,
                    days=self._horizon_days,
                    seed=self._seed + self.segment,
                    start=dt.datetime.fromtimestamp(last / 1000, tz=dt.UTC),
                    step=self._step_arg,
                )
                self._blocks = canonical_blocks(self.result.models)
                logger.info("live fleet %s: segment %d starts", self.result.spec.name, self.segment)
            return wanted - self._offset

    # ---------------------------------------------------------------- frames
    def frame_at(self, index: int) -> pl.DataFrame:
        """Canonical samples of one tick."""
        sliced = [
            Block(b.provider, b.cluster, b.level, b.metric, b.entities, b.values[:, index : index + 1])
            for b in self._blocks
        ]
        return blocks_to_frame(
            sliced, self.result.calendar.ts_ms[index : index + 1], source=self.result.source
        )

    def ticks(self, *, limit: int | None = None, start: int | None = None) -> Iterator[Tick]:
        """Yield ticks from ``start`` (default: now) at the fleet's speed.

        At finite speed the generator sleeps until each tick is due; at ``inf`` it does
        not sleep. It stops at the end of the horizon or after ``limit`` ticks.
        """
        index = self.now_index if start is None else start
        produced = 0
        while index < self.steps and (limit is None or produced < limit):
            if not math.isinf(self.speed):
                due = self.wall0 + (index - self.now_index) * self.step_seconds / self.speed
                delay = due - self.clock()
                if delay > 0:
                    time.sleep(delay)
            yield Tick(index, self.time_of(index), self.frame_at(index))
            produced += 1
            index += 1

    def write_history(self, path: str | Path, *, window: str = "2h") -> list[Path]:
        """Write the ticks before now as OpenMetrics files for promtool backfill."""
        ts = self.result.calendar.ts_ms[: self.now_index]
        blocks = [
            type(b)(b.name, b.kind, b.help, b.labels, b.values[:, : self.now_index], b.exporter, b.meta)
            for b in self.result.native_blocks
        ]
        return write_openmetrics(blocks, ts, path, window=window)

    # ------------------------------------------------------------ /metrics
    def collect(self) -> Iterator[Metric]:
        """prometheus_client collector: native series at the current tick + self metrics."""
        index = self._serving_index()
        with self._lock:
            self._scrapes += 1
            scrapes = self._scrapes
            result, segment = self.result, self.segment
        yield from collect_families(result.native_blocks, index)
        tick = GaugeMetricFamily("workbench_sim_tick", "Index of the simulated step this scrape serves")
        tick.add_metric([], float(index))
        yield tick
        seg = GaugeMetricFamily(
            "workbench_sim_segment", "Simulated segment (a new one starts after each horizon)"
        )
        seg.add_metric([], float(segment))
        yield seg
        sim_time = GaugeMetricFamily(
            "workbench_sim_time_seconds", "Simulated time of the served step (Unix seconds)"
        )
        sim_time.add_metric([], float(result.calendar.ts_ms[index]) / 1000.0)
        yield sim_time
        series = GaugeMetricFamily("workbench_sim_series", "Exporter-native series the simulator serves")
        series.add_metric([], float(sum(b.values.shape[0] for b in result.native_blocks)))
        yield series
        count = CounterMetricFamily("workbench_sim_scrapes", "Scrapes served by the live simulator")
        count.add_metric([], float(scrapes))
        yield count

    def registry(self) -> CollectorRegistry:
        """A fresh registry holding this fleet's collector."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)  # type: ignore[arg-type]
        return registry

    def serve(self, host: str = "127.0.0.1", port: int = 9400) -> tuple[str, int]:
        """Serve ``/metrics`` in a background thread; returns the bound (host, port)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry())
        self._server = server
        bound = server.server_address
        logger.info(
            "serving simulated fleet %s on http://%s:%d/metrics", self.result.spec.name, bound[0], bound[1]
        )
        return str(bound[0]), int(bound[1])

    def shutdown(self) -> None:
        """Stop the HTTP server started by :meth:`serve`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def value_at(self, name: str, labels: dict[str, str], index: int) -> float:
        """The simulator's value of one native series at tick ``index`` (for checks).

        Labels with empty values count as absent, as in Prometheus.
        """
        wanted = {k: v for k, v in labels.items() if v != ""}
        for block in self.result.native_blocks:
            if block.name != name:
                continue
            for row in range(block.values.shape[0]):
                have = {k: vals[row] for k, vals in block.labels.items() if vals[row] != ""}
                if have == wanted:
                    return float(block.values[row, index])
        raise KeyError(f"no series {name}{labels}")


class LiveRun:
    """A step-driven live simulation for the Dash scenario lab (the caller paces the ticks).

    The run simulates ``horizon`` at a time, starting ``horizon`` before now so recorded
    samples are not in the future; when a segment ends the next one starts where it ended
    (seed + segment number). :meth:`inject` adds an incident at the next tick and
    re-simulates the segment with the same seed: the mechanics are causal and the random
    streams do not depend on incidents, so every tick already served stays as it was.

    Parameters
    ----------
    scenario : ScenarioSpec or str
    seed : int
    horizon : str or timedelta
        Length of one simulated segment.
    step : str, optional
        Tick length (default: the scenario's).
    start : datetime, optional
        Simulated time of the first tick (default: now minus ``horizon``, aligned to the step).

    Examples
    --------
    >>> run = LiveRun("steady-week", seed=1, horizon="2h")
    >>> first = run.step()
    >>> info = run.inject("slow_consumer", "fulfilment", 600, "warning")
    >>> info["cluster"], run.step()["ts"].n_unique()
    ('kafka-prod-1', 1)
    """

    def __init__(
        self,
        scenario: ScenarioSpec | str,
        *,
        seed: int = 1,
        horizon: str | dt.timedelta = "2d",
        step: str | None = None,
        start: dt.datetime | None = None,
    ) -> None:
        self.spec = get_scenario(scenario) if isinstance(scenario, str) else scenario
        self.seed = int(seed)
        self.horizon = parse_duration(horizon)
        self.step_arg = step
        self.tick_seconds = (parse_duration(step) if step else self.spec.step).total_seconds()
        if self.horizon.total_seconds() < 2 * self.tick_seconds:
            raise ParameterError("horizon", allowed="at least two ticks", received=horizon)
        if start is None:
            now = math.floor(time.time() / self.tick_seconds) * self.tick_seconds
            start = dt.datetime.fromtimestamp(now - self.horizon.total_seconds(), tz=dt.UTC)
        self.segment_start = start
        self.segment = 0
        self.tick = 0
        self._injected: list[IncidentSpec] = []
        self._closed: list[pl.DataFrame] = []
        self._lock = threading.RLock()
        self._simulate()

    def _simulate(self) -> None:
        spec = self.spec.model_copy(update={"incidents": [*self.spec.incidents, *self._injected]})
        self.result = simulate(
            spec,
            days=self.horizon.total_seconds() / 86400.0,
            seed=self.seed + self.segment,
            start=self.segment_start,
            step=self.step_arg,
        )
        self._blocks = canonical_blocks(self.result.models)

    @property
    def now(self) -> dt.datetime:
        """Simulated time of the last tick served (the segment start before the first)."""
        if self.tick == 0:
            return self.segment_start
        return dt.datetime.fromtimestamp(int(self.result.calendar.ts_ms[self.tick - 1]) / 1000, tz=dt.UTC)

    def step(self) -> pl.DataFrame:
        """Advance one tick and return its canonical rows."""
        with self._lock:
            if self.tick >= self.result.calendar.steps:
                self._closed.append(self._served_incidents())
                self.segment_start = self.segment_start + self.horizon
                self.segment += 1
                self.tick = 0
                self._injected = []
                self._simulate()
            k = self.tick
            sliced = [
                Block(b.provider, b.cluster, b.level, b.metric, b.entities, b.values[:, k : k + 1])
                for b in self._blocks
            ]
            frame = blocks_to_frame(sliced, self.result.calendar.ts_ms[k : k + 1], source=self.result.source)
            self.tick += 1
            return frame

    def inject(self, kind: str, target: str, duration_s: float, severity: str) -> dict[str, Any]:
        """Start an incident at the next tick; ``target`` may be ``cluster:target`` or empty."""
        with self._lock:
            if kind not in DEFAULT_MAGNITUDE:
                raise ParameterError("kind", allowed=f"one of {sorted(DEFAULT_MAGNITUDE)}", received=kind)
            if not duration_s > 0:
                raise ParameterError(
                    "duration_s", allowed="a positive number of seconds", received=duration_s
                )
            cluster, resolved = resolve_target(self.spec, kind, target)
            try:
                incident = IncidentSpec(
                    kind=kind,  # type: ignore[arg-type]
                    cluster=cluster,
                    target=resolved,
                    start=dt.timedelta(seconds=self.tick * self.tick_seconds),
                    duration=dt.timedelta(seconds=float(duration_s)),
                    severity=severity,  # type: ignore[arg-type]
                    magnitude=DEFAULT_MAGNITUDE[kind],
                    description=f"{kind.replace('_', ' ')} on {resolved or cluster}, injected in the scenario lab",
                )
            except ValidationError as err:
                raise ParameterError(
                    "severity", allowed="info, warning or critical", received=severity
                ) from err
            self._injected.append(incident)
            self._simulate()
            return {
                "kind": kind,
                "cluster": cluster,
                "target": resolved,
                "severity": severity,
                "start": (self.segment_start + incident.start).isoformat(),
                "duration_s": float(duration_s),
            }

    def _served_incidents(self) -> pl.DataFrame:
        now = self.now
        frame = self.result.incidents.filter(pl.col("start") < now)
        return frame.with_columns(
            pl.min_horizontal(pl.col("end"), pl.lit(now).dt.cast_time_unit("ms")).alias("end")
        )

    def incidents(self) -> pl.DataFrame:
        """Ground truth of the ticks served so far (ends clipped to the last tick)."""
        with self._lock:
            return pl.concat([*self._closed, self._served_incidents()], how="vertical")


def _targets(spec: ScenarioSpec, kind: str) -> list[tuple[str, str]]:
    """Valid (cluster, target) pairs for an incident kind, in spec order."""
    out: list[tuple[str, str]] = []
    for k in spec.kafka:
        if kind in ("slow_consumer", "consumer_crash", "rebalance_storm"):
            out += [(k.name, g.name) for g in k.consumer_groups]
        elif kind == "broker_failure":
            out += [(k.name, str(b)) for b in range(k.brokers)]
        elif kind == "hot_partition":
            out += [(k.name, f"{t.name}/{p}") for t in k.topics for p in range(t.partitions)]
        elif kind == "load_spike":
            out += [(k.name, t.name) for t in k.topics]
        elif kind == "rolling_restart":
            out.append((k.name, ""))
    for r in spec.rabbitmq:
        if kind in ("slow_consumer", "consumer_crash", "poison_message", "load_spike"):
            out += [(r.name, q.entity) for q in r.queues]
        elif kind in ("memory_alarm", "disk_alarm"):
            out += [(r.name, str(n)) for n in range(r.nodes)]
        elif kind == "rolling_restart":
            out.append((r.name, ""))
    for a in spec.sqs:
        if kind in (
            "slow_consumer",
            "consumer_crash",
            "poison_message",
            "load_spike",
            "visibility_timeout_short",
        ):
            out += [(a.cluster_name, q.name) for q in a.queues]
    return out


def resolve_target(spec: ScenarioSpec, kind: str, target: str) -> tuple[str, str]:
    """Find the cluster of an incident target (``cluster:target``, a bare target, or empty).

    ``broker-2`` is read as broker ``2``; a RabbitMQ node name as its index; an empty target
    picks the first valid one (an empty target names the cluster for rolling restarts).

    Raises
    ------
    ParameterError
        If no cluster of the scenario has such a target.
    """
    candidates = _targets(spec, kind)
    text = (target or "").strip()
    cluster_part, sep, rest = text.rpartition(":") if ":" in text else ("", "", text)
    rest = rest.removeprefix("broker-")
    if "@" in rest and "-server-" in rest:
        rest = rest.rsplit("-server-", 1)[1]
    for cluster, candidate in candidates:
        if sep and cluster != cluster_part:
            continue
        if not rest or candidate == rest or (kind == "rolling_restart" and rest == cluster):
            return cluster, candidate
    shown = ", ".join(f"{c}:{t}" if t else c for c, t in candidates[:12]) or "none in this scenario"
    raise ParameterError("target", allowed=f"a target for {kind}: {shown}", received=target)


def live_run(
    scenario: ScenarioSpec | str, *, seed: int = 1, horizon: str = "2d", step: str | None = None
) -> LiveRun:
    """A step-driven live run of ``scenario`` (the Dash scenario lab's live factory)."""
    return LiveRun(scenario, seed=seed, horizon=horizon, step=step)
