"""Sources produce canonical frames: the simulator, Prometheus, exposition files, Kubernetes.

A small registry maps a source name to the dotted path of the function that produces
frames, so the CLI, the app and reports can list and resolve sources without importing
every optional dependency up front.

Examples
--------
>>> from workbench.sources import get_source, source_names
>>> "simulator" in source_names()
True
>>> get_source("simulator").__name__
'simulate'
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from workbench.errors import NotFoundError

__all__ = ["get_source", "register_source", "source_names"]

_SOURCES: dict[str, str | Callable[..., Any]] = {
    "simulator": "workbench.sources.simulator:simulate",
    # file: a MappingResult (.frame + quarantine/unknown); prometheus: pull, map and store (IngestReport)
    "prometheus": "workbench.sources.prometheus:ingest_prometheus",
    "file": "workbench.sources.files:read_metrics_file",
}


def register_source(name: str, target: str | Callable[..., Any]) -> None:
    """Register a source: a callable or a ``"module:function"`` path (replaces ``name``)."""
    _SOURCES[name] = target


def source_names() -> list[str]:
    """Registered source names, sorted."""
    return sorted(_SOURCES)


def get_source(name: str) -> Callable[..., Any]:
    """Resolve a registered source to its callable.

    Raises
    ------
    NotFoundError
        If no source has that name.
    """
    if name not in _SOURCES:
        raise NotFoundError("source", name, _SOURCES)
    target = _SOURCES[name]
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    function: Callable[..., Any] = getattr(import_module(module), attr)
    return function
