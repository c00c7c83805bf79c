"""What every page and callback of one app instance shares (built by the factory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

from workbench.app.lab import ScenarioLab
from workbench.app.metrics import AppMetrics
from workbench.app.services import Services
from workbench.store import Store

__all__ = ["AppContext"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class AppContext:
    """The injected state of one app: store access, cache, lab, metrics, reports folder."""

    store: Store
    services: Services
    lab: ScenarioLab
    metrics: AppMetrics
    reports_dir: Path

    def timed(self, name: str) -> Callable[[F], F]:
        """Decorator: observe a callback's duration in the app's metrics."""

        def wrap(fn: F) -> F:
            @wraps(fn)
            def inner(*args: Any, **kwargs: Any) -> Any:
                with self.metrics.time_callback(name):
                    return fn(*args, **kwargs)

            return inner  # type: ignore[return-value]

        return wrap
