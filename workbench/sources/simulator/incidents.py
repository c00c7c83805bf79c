"""Incident windows, effect helpers and the ground-truth incidents frame.

Provider models apply incidents to their mechanics (a slow consumer lowers capacity; a lost
broker shrinks ISRs and moves leaders) and report what moved as :class:`TruthRow` records.
The ground truth names only cascades that the mechanics really produced: a load spike lists
consumer lag only if the lag actually rose.

Examples
--------
>>> import datetime as dt
>>> from workbench.sources.simulator.incidents import step_window
>>> from workbench.sources.simulator.load import Calendar
>>> from workbench.sources.simulator.spec import IncidentSpec
>>> cal = Calendar.build(dt.datetime(2026, 1, 5, tzinfo=dt.UTC), steps=1440, step_seconds=60)
>>> spec = IncidentSpec(kind="slow_consumer", cluster="c", target="g", start="2h", duration="30m")
>>> step_window(spec, cal)
(120, 150)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from workbench.errors import ConfigError
from workbench.frames import INCIDENT_SCHEMA, empty_incidents
from workbench.sources.simulator.load import Calendar
from workbench.sources.simulator.spec import INCIDENT_TARGETS, IncidentSpec

__all__ = [
    "TruthRow",
    "incidents_frame",
    "recovery_index",
    "rose",
    "step_window",
    "target_error",
]

F64 = NDArray[np.float64]


def step_window(spec: IncidentSpec, calendar: Calendar) -> tuple[int, int]:
    """Step indices ``[i0, i1)`` covered by the incident's cause (clipped to the grid).

    Step ``t`` covers ``(start + t*step, start + (t+1)*step]``; the cause starting at offset
    ``s`` first shows in the step that contains ``s``.
    """
    step = calendar.step_seconds
    i0 = int(np.floor(spec.start.total_seconds() / step + 1e-9))
    i1 = int(np.ceil((spec.start + spec.duration).total_seconds() / step - 1e-9))
    i0 = min(max(i0, 0), calendar.steps)
    i1 = min(max(i1, i0 + 1), calendar.steps)
    return i0, i1


def target_error(spec: IncidentSpec, available: Sequence[str]) -> ConfigError:
    """Error for an incident whose target does not exist in its cluster."""
    shown = ", ".join(list(available)[:15])
    return ConfigError(
        f"incident {spec.kind!r} in cluster {spec.cluster!r}: target {spec.target!r} not found; "
        f"expected {INCIDENT_TARGETS[spec.kind]}; available: {shown}"
    )


def recovery_index(series: F64, i0: int, i1: int, *, floor: float = 1.0) -> int:
    """First step at or after ``i1`` where every row is back near its pre-incident level.

    "Near" means at most the 99th percentile of the two hours before ``i0`` times 1.2, plus
    ``floor``. Returns the grid length if the series never recovers.
    """
    if series.ndim == 1:
        series = series.reshape(1, -1)
    steps = int(series.shape[1])
    lo = max(0, i0 - 120)
    before = series[:, lo:i0] if i0 > lo else series[:, :1]
    baseline = np.nanpercentile(before, 99, axis=1) * 1.2 + floor
    after = series[:, i1:]
    if after.shape[1] == 0:
        return steps
    ok = np.all((after <= baseline.reshape(-1, 1)) | np.isnan(after), axis=0)
    hits = np.flatnonzero(ok)
    return int(i1 + hits[0]) if hits.size else steps


def rose(series: F64, i0: int, i1: int, *, factor: float = 1.5, floor: float = 1.0) -> bool:
    """Did any row rise clearly above its pre-incident level during ``[i0, i1)``?"""
    if series.ndim == 1:
        series = series.reshape(1, -1)
    lo = max(0, i0 - 120)
    before = series[:, lo:i0] if i0 > lo else series[:, :1]
    during = series[:, i0 : max(i1, i0 + 1)]
    if during.size == 0:
        return False
    base = np.nanmax(before, axis=1) if before.size else np.zeros(series.shape[0])
    peak = np.nanmax(during, axis=1)
    return bool(np.any(peak > base * factor + floor))


def fell(series: F64, i0: int, i1: int, *, factor: float = 0.7) -> bool:
    """Did any row drop clearly below its pre-incident median during ``[i0, i1)``?"""
    if series.ndim == 1:
        series = series.reshape(1, -1)
    lo = max(0, i0 - 120)
    before = series[:, lo:i0] if i0 > lo else series[:, :1]
    during = series[:, i0 : max(i1, i0 + 1)]
    base = np.nanmedian(before, axis=1)
    low = np.nanmin(during, axis=1)
    return bool(np.any((base > 0) & (low < base * factor)))


@dataclass
class TruthRow:
    """One ground-truth incident: the cause's window extended to when its effects ended."""

    spec: IncidentSpec
    provider: str
    i0: int
    end_index: int
    entities: list[str]
    metrics: list[str]

    def to_dict(self, calendar: Calendar) -> dict[str, object]:
        """Row for :func:`incidents_frame` (times in UTC)."""
        step_ms = round(calendar.step_seconds * 1000)
        start_ms = int(calendar.ts_ms[0] - step_ms + self.i0 * step_ms)
        end_ms = int(calendar.ts_ms[0] - step_ms + min(self.end_index, calendar.steps) * step_ms)
        return {
            "start": dt.datetime.fromtimestamp(start_ms / 1000, tz=dt.UTC),
            "end": dt.datetime.fromtimestamp(end_ms / 1000, tz=dt.UTC),
            "kind": self.spec.kind,
            "severity": self.spec.severity,
            "provider": self.provider,
            "cluster": self.spec.cluster,
            "entities": list(dict.fromkeys(self.entities)),
            "metrics": list(dict.fromkeys(self.metrics)),
            "description": self.spec.description or _describe(self.spec),
        }


def _describe(spec: IncidentSpec) -> str:
    where = f" on {spec.target}" if spec.target else ""
    return f"{spec.kind.replace('_', ' ')}{where} (magnitude {spec.magnitude:g})"


def incidents_frame(rows: Sequence[TruthRow], calendar: Calendar) -> pl.DataFrame:
    """Ground truth as a frame (:data:`workbench.frames.INCIDENT_SCHEMA`), sorted by start."""
    data = [row.to_dict(calendar) for row in rows]
    if not data:
        return empty_incidents()
    return pl.DataFrame(data, schema=INCIDENT_SCHEMA).sort("start", "cluster", "kind")
