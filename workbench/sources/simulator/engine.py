"""``simulate()``: run a scenario and return canonical frames plus ground-truth incidents.

Examples
--------
>>> from workbench.sources.simulator import simulate
>>> result = simulate("default", days=1, seed=1)
>>> result.frame.columns
['ts', 'provider', 'cluster', 'level', 'entity', 'metric', 'value', 'source']
>>> result.incidents.height >= 0
True
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any, TypeVar

import numpy as np
import polars as pl

from workbench.errors import ParameterError
from workbench.sources.simulator.canonical import blocks_to_frame, kafka_blocks
from workbench.sources.simulator.core import Block, NativeBlock
from workbench.sources.simulator.incidents import TruthRow, incidents_frame
from workbench.sources.simulator.kafka import KafkaModel, simulate_kafka
from workbench.sources.simulator.library import get_scenario
from workbench.sources.simulator.load import Calendar
from workbench.sources.simulator.rabbitmq import RabbitModel, rabbit_blocks, simulate_rabbit
from workbench.sources.simulator.spec import ScenarioSpec, parse_duration
from workbench.sources.simulator.sqs import SqsModel, simulate_sqs, sqs_blocks
from workbench.times import parse_utc_time

__all__ = ["DEFAULT_START", "SimulationResult", "run_models", "simulate", "store_simulation"]

logger = logging.getLogger(__name__)

#: Default start of a simulation (a Monday), so that runs are reproducible.
DEFAULT_START = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)

Model = KafkaModel | RabbitModel | SqsModel
_T = TypeVar("_T")


@dataclass
class SimulationResult:
    """What :func:`simulate` returns.

    Attributes
    ----------
    frame : pl.DataFrame
        Canonical long frame (``workbench.frames.CANONICAL_SCHEMA``).
    incidents : pl.DataFrame
        Ground truth (``workbench.frames.INCIDENT_SCHEMA``).
    spec : ScenarioSpec
    seed : int
    calendar : Calendar
        The time grid (``calendar.ts_ms`` are the sample times).
    models : list
        The provider models with every mechanic array (for tests and live mode).
    """

    frame: pl.DataFrame
    incidents: pl.DataFrame
    spec: ScenarioSpec
    seed: int
    calendar: Calendar
    models: list[Model] = field(repr=False)

    @property
    def source(self) -> str:
        """Provenance string ``sim:<scenario>:<seed>``."""
        return f"sim:{self.spec.name}:{self.seed}"

    @property
    def parameters(self) -> dict[str, Any]:
        """Parameters to record in a store manifest."""
        return {
            "scenario": self.spec.name,
            "start": dt.datetime.fromtimestamp(
                (self.calendar.ts_ms[0] / 1000) - self.calendar.step_seconds, tz=dt.UTC
            ).isoformat(),
            "steps": self.calendar.steps,
            "step_seconds": self.calendar.step_seconds,
            "spec": self.spec.model_dump(mode="json"),
        }

    @cached_property
    def native_blocks(self) -> list[NativeBlock]:
        """Exporter-native blocks (kafka_exporter, JMX/Strimzi, rabbitmq_prometheus, YACE)."""
        from workbench.sources.simulator.native import native_blocks

        return native_blocks(self.models)

    def native(self) -> pl.DataFrame:
        """Exporter-native long frame: ``ts, name, type, value`` plus one column per label."""
        from workbench.sources.simulator.native import native_frame

        return native_frame(self.native_blocks, self.calendar.ts_ms)


def run_models(spec: ScenarioSpec, calendar: Calendar, seed: int) -> list[Model]:
    """Run every cluster's mechanics; each cluster gets its own random stream from ``seed``."""
    streams = np.random.SeedSequence(seed).spawn(len(spec.kafka) + len(spec.rabbitmq) + len(spec.sqs))
    rngs = [np.random.default_rng(s) for s in streams]

    horizon = calendar.steps * calendar.step_seconds

    def of(cluster: str) -> list[Any]:
        # incidents that start after the simulated range (a shorter run) do not happen
        return [
            inc for inc in spec.incidents if inc.cluster == cluster and inc.start.total_seconds() < horizon
        ]

    jobs: list[Callable[[], Model]] = []
    i = 0
    for kafka in spec.kafka:
        jobs.append(partial(simulate_kafka, kafka, calendar, of(kafka.name), rngs[i]))
        i += 1
    for rabbit in spec.rabbitmq:
        jobs.append(partial(simulate_rabbit, rabbit, calendar, of(rabbit.name), rngs[i]))
        i += 1
    for account in spec.sqs:
        jobs.append(partial(simulate_sqs, account, calendar, of(account.cluster_name), rngs[i]))
        i += 1
    return _in_parallel(jobs)


def _in_parallel(jobs: list[Callable[[], _T]]) -> list[_T]:
    """Run independent jobs on a thread pool, results in job order.

    NumPy releases the GIL in its array loops, so clusters run side by side; each has its
    own random stream, so the output does not depend on scheduling.
    """
    workers = min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="simulator") as pool:
        return list(pool.map(lambda job: job(), jobs))


def _blocks_of(model: Model) -> list[Block]:
    if isinstance(model, KafkaModel):
        return kafka_blocks(model)
    if isinstance(model, RabbitModel):
        return rabbit_blocks(model)
    return sqs_blocks(model)


def canonical_blocks(models: list[Model]) -> list[Block]:
    """Canonical blocks of every model, in model order."""
    per_model = _in_parallel([partial(_blocks_of, model) for model in models])
    return [block for blocks in per_model for block in blocks]


def _as_start(start: dt.datetime | str | None, spec: ScenarioSpec) -> dt.datetime:
    if start is None:
        return spec.start or DEFAULT_START
    return parse_utc_time(start, parameter="start")


def simulate(
    spec_or_name: ScenarioSpec | str,
    days: float | None = None,
    seed: int = 0,
    start: dt.datetime | str | None = None,
    step: str | dt.timedelta | None = None,
) -> SimulationResult:
    """Simulate a scenario: canonical metrics and the incidents that shaped them.

    Parameters
    ----------
    spec_or_name : ScenarioSpec or str
        A spec, a scenario name (``workbench scenarios`` lists them) or a YAML path.
    days : float, optional
        Length (default: the scenario's ``days``).
    seed : int
        Random seed; the same seed gives identical output.
    start : datetime or ISO string, optional
        Start time (UTC-aware). Default: the scenario's ``start`` or 2026-01-05T00:00Z.
    step : str or timedelta, optional
        Sample interval such as ``"1m"`` (default: the scenario's ``step``).

    Returns
    -------
    SimulationResult

    Raises
    ------
    ParameterError
        For a non-positive ``days`` or ``step``, or too many samples.
    NotFoundError
        For an unknown scenario name.
    ConfigError
        For an invalid scenario or incident target.

    Examples
    --------
    >>> r = simulate("default", days=0.5, seed=3)
    >>> sorted(r.frame["provider"].unique().to_list())
    ['kafka', 'rabbitmq', 'sqs']
    """
    spec = spec_or_name if isinstance(spec_or_name, ScenarioSpec) else get_scenario(spec_or_name)
    n_days = spec.days if days is None else float(days)
    if not n_days > 0:
        raise ParameterError("days", allowed="a positive number of days", received=days)
    step_td = spec.step if step is None else parse_duration(step, parameter="step")
    step_seconds = step_td.total_seconds()
    if step_seconds < 1:
        raise ParameterError("step", allowed="a duration of at least 1s, e.g. '1m'", received=step)
    steps = round(n_days * 86400 / step_seconds)
    if steps < 2:
        raise ParameterError("days", allowed=f"at least two steps of {step_seconds:g}s", received=days)
    if steps > 5_000_000:
        raise ParameterError("days", allowed="at most 5,000,000 steps per series", received=days)
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError("seed", allowed="a non-negative integer", received=seed)
    calendar = Calendar.build(_as_start(start, spec), steps, step_seconds)
    models = run_models(spec, calendar, int(seed))
    source = f"sim:{spec.name}:{int(seed)}"
    frame = blocks_to_frame(canonical_blocks(models), calendar.ts_ms, source=source)
    truth: list[TruthRow] = [row for model in models for row in model.truth]
    incidents = incidents_frame(truth, calendar)
    logger.info("simulated %s: %d rows, %d incidents", spec.name, frame.height, incidents.height)
    return SimulationResult(
        frame=frame, incidents=incidents, spec=spec, seed=int(seed), calendar=calendar, models=models
    )


def store_simulation(result: SimulationResult, *, dataset: str | None = None, store: Any = None) -> Any:
    """Append a simulation (frame, incidents, manifest parameters and seed) to the store.

    Parameters
    ----------
    result : SimulationResult
        What :func:`simulate` returned.
    dataset : str, optional
        Dataset name (default ``sim-<scenario>-<seed>``).
    store : workbench.store.Store, optional
        Target store (default: the configured one).

    Returns
    -------
    workbench.store.AppendResult
        Rows offered, added and already stored (appending the same run twice adds nothing).

    Examples
    --------
    >>> import tempfile
    >>> from workbench.store import Store
    >>> store = Store(tempfile.mkdtemp())
    >>> appended = store_simulation(simulate("memory-alarm", days=0.1, seed=2), store=store)
    >>> appended.dataset, store.manifest(appended.dataset).seed
    ('sim-memory-alarm-2', 2)
    """
    from workbench.store import Store

    target = store if store is not None else Store()
    name = dataset or f"sim-{result.spec.name}-{result.seed}"
    incidents = result.incidents
    if name in target.names():
        # rows are appended idempotently by the store; do the same for the ground truth
        known = target.read_incidents(name).select("start", "end", "kind", "cluster")
        incidents = incidents.join(known, on=["start", "end", "kind", "cluster"], how="anti")
    return target.append(
        name,
        result.frame,
        source=result.source,
        parameters=result.parameters,
        seed=result.seed,
        incidents=incidents if incidents.height else None,
    )
