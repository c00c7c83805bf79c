"""The canonical metric catalogue, read from ``workbench/data/catalog.yaml``.

Examples
--------
>>> from workbench.catalog import get_metric
>>> m = get_metric("consumer_lag_messages")
>>> (m.unit, m.kind, m.aggregate)
('messages', 'gauge', 'sum')
>>> "queue" in get_metric("queue_depth_messages").levels
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

import yaml

from workbench.errors import NotFoundError, SchemaError

__all__ = ["KINDS", "Metric", "get_metric", "metric_names", "metrics"]

Kind = Literal["gauge", "counter", "per_period", "derived"]
KINDS: tuple[str, ...] = ("gauge", "counter", "per_period", "derived")
AGGREGATES: tuple[str, ...] = ("sum", "max", "min", "mean", "last")
_LEVELS = ("cluster", "broker", "node", "topic", "partition", "queue", "consumer_group")


@dataclass(frozen=True)
class Metric:
    """One canonical metric.

    Attributes
    ----------
    name : str
        Canonical name, e.g. ``consumer_lag_messages``.
    unit : str
        Unit of ``value`` in canonical frames.
    kind : {"gauge", "counter", "per_period", "derived"}
        How the source is turned into the canonical value.
    aggregate : {"sum", "max", "min", "mean", "last"}
        How values combine across entities in a rollup.
    levels : tuple of str
        Entity levels the metric may be reported at.
    description : str
        One sentence for people.
    """

    name: str
    unit: str
    kind: Kind
    aggregate: str
    levels: tuple[str, ...]
    description: str


def _parse(text: str) -> dict[str, Metric]:
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not isinstance(raw.get("metrics"), dict):
        raise SchemaError("metrics", "catalogue file must hold a mapping under 'metrics'")
    out: dict[str, Metric] = {}
    for name, spec in raw["metrics"].items():
        kind = spec.get("kind")
        if kind not in KINDS:
            raise SchemaError("kind", f"metric {name!r} has kind {kind!r}; allowed: {KINDS}")
        aggregate = spec.get("aggregate")
        if aggregate not in AGGREGATES:
            raise SchemaError(
                "aggregate", f"metric {name!r} has aggregate {aggregate!r}; allowed: {AGGREGATES}"
            )
        levels = tuple(spec.get("levels") or ())
        bad = [lv for lv in levels if lv not in _LEVELS]
        if bad or not levels:
            raise SchemaError("levels", f"metric {name!r} has levels {levels}; allowed: {_LEVELS}")
        out[name] = Metric(
            name=name,
            unit=str(spec["unit"]),
            kind=kind,
            aggregate=aggregate,
            levels=levels,
            description=str(spec.get("description", "")),
        )
    return out


@lru_cache(maxsize=1)
def metrics() -> dict[str, Metric]:
    """Return every canonical metric by name (read once from the data file)."""
    text = resources.files("workbench").joinpath("data/catalog.yaml").read_text(encoding="utf-8")
    return _parse(text)


def metric_names() -> list[str]:
    """Return the canonical metric names, sorted."""
    return sorted(metrics())


def get_metric(name: str) -> Metric:
    """Return one metric, or raise :class:`NotFoundError` listing the known names."""
    try:
        return metrics()[name]
    except KeyError:
        raise NotFoundError("canonical metric", name, metrics()) from None
