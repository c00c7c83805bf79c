"""``workbench demo``: the main job on the embedded default.

The demo runs every step the package offers, in the order of the data flow, and says
plainly which steps are not available yet instead of faking them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

__all__ = ["DemoStep", "run_demo"]


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo: a title, the module it needs, and what it runs."""

    title: str
    requires: str
    run: Callable[[Console, dict[str, object]], None]


def _available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _steps() -> list[DemoStep]:
    return []


def run_demo(*, console: Console, serve: bool = True, days: int = 7, seed: int = 1) -> dict[str, object]:
    """Run the demo steps; return the context they shared (dataset names, paths, ...)."""
    context: dict[str, object] = {"days": days, "seed": seed, "serve": serve}
    steps = _steps()
    if not steps:
        console.print("[yellow]No demo steps are available yet.[/]")
    for step in steps:
        if not _available(step.requires):
            console.print(f"[yellow]- {step.title}: not available yet ({step.requires} is not built)[/]")
            continue
        console.rule(step.title)
        step.run(console, context)
    return context
