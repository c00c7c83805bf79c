"""Detect which exporter dialects a source speaks, from the metric names present.

Examples
--------
>>> import datetime as dt
>>> from workbench.mapping.samples import NAME, SampleSet
>>> from workbench.mapping.detect import detect_exporters
>>> t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
>>> s = SampleSet.from_records(
...     [("kafka_consumergroup_lag", {"consumergroup": "g", "topic": "t", "partition": "0"}, t, 3.0)],
...     source="file:x",
... )
>>> [d.table for d in detect_exporters(s)]
['kafka_exporter']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from workbench.errors import ParameterError
from workbench.frames import PROVIDERS
from workbench.mapping.samples import NAME, SampleSet
from workbench.mapping.tables import MappingTable, tables

__all__ = ["Detection", "detect_exporters"]


@dataclass(frozen=True)
class Detection:
    """One detected dialect.

    Attributes
    ----------
    table : str
        Mapping table name.
    provider : str
        Its provider.
    hits : list of str
        The table's ``detect`` names found in the input.
    priority : int
        The table's priority (ties between tables mapping the same name).
    """

    table: str
    provider: str
    hits: list[str]
    priority: int


def _labels_ok(series: pl.DataFrame, name: str, table: MappingTable) -> bool:
    rows = series.filter(pl.col(NAME) == name)
    for label in table.detect_require_labels.get(name, []):
        if label not in rows.columns:
            return False
        rows = rows.filter(pl.col(label).is_not_null() & (pl.col(label) != ""))
    for label in table.detect_absent_labels.get(name, []):
        if label in rows.columns:
            rows = rows.filter(pl.col(label).is_null() | (pl.col(label) == ""))
    return rows.height > 0


def detect_exporters(
    samples: SampleSet,
    *,
    known: Mapping[str, MappingTable] | None = None,
    provider: str | None = None,
) -> list[Detection]:
    """Return the dialects whose ``detect`` names appear in ``samples``.

    Parameters
    ----------
    samples : SampleSet
        Raw exporter samples.
    known : mapping of str to MappingTable, optional
        Tables to consider (default: :func:`workbench.mapping.tables.tables`).
    provider : str, optional
        Keep only tables of this provider.

    Returns
    -------
    list of Detection
        Highest priority first, then most hits, then name.
    """
    if provider is not None and provider not in PROVIDERS:
        raise ParameterError("provider", allowed=f"one of {PROVIDERS}", received=provider)
    candidates = known if known is not None else tables()
    present = set(samples.metric_names)
    found: list[Detection] = []
    for table in candidates.values():
        if provider is not None and table.provider != provider:
            continue
        hits = [n for n in table.detect if n in present and _labels_ok(samples.series, n, table)]
        if hits:
            found.append(Detection(table.name, table.provider, hits, table.priority))
    return sorted(found, key=lambda d: (-d.priority, -len(d.hits), d.table))
