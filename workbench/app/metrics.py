"""The app server's own Prometheus metrics (``/metrics``), on an injectable registry.

Each app gets its own :class:`AppMetrics`; tests pass a fresh
``CollectorRegistry`` so runs never share counters.

Examples
--------
>>> from prometheus_client import CollectorRegistry
>>> m = AppMetrics(CollectorRegistry())
>>> with m.time_callback("overview"):
...     pass
>>> b"workbench_app_callback_seconds_count" in m.exposition()[0]
True
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

__all__ = ["AppMetrics"]


class AppMetrics:
    """Request, callback and scenario-lab metrics of one app.

    Parameters
    ----------
    registry : CollectorRegistry
        Where the metrics are registered (inject a fresh one per app/test).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.requests = Counter(
            "workbench_app_requests", "HTTP requests served", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "workbench_app_request_seconds",
            "HTTP request latency",
            ["route"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
        )
        self.callbacks = Histogram(
            "workbench_app_callback_seconds",
            "Dash callback latency",
            ["callback"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
        )
        self.callback_errors = Counter(
            "workbench_app_callback_errors", "Dash callbacks that raised", ["callback"], registry=registry
        )
        self.lab_running = Gauge(
            "workbench_app_lab_running", "1 while a scenario-lab run is active", registry=registry
        )
        self.lab_ticks = Counter(
            "workbench_app_lab_ticks", "Scenario-lab simulation ticks", registry=registry
        )

    @contextlib.contextmanager
    def time_callback(self, name: str) -> Iterator[None]:
        """Observe the duration of one callback call (and count it if it raises)."""
        start = time.perf_counter()
        try:
            yield
        except Exception:
            self.callback_errors.labels(name).inc()
            raise
        finally:
            self.callbacks.labels(name).observe(time.perf_counter() - start)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition of the registry and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def install(self, server: Flask) -> None:
        """Time every request and serve ``/metrics`` on the Flask server."""

        @server.before_request
        def _start() -> None:
            g.workbench_start = time.perf_counter()

        @server.after_request
        def _observe(response: Response) -> Response:
            rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
            self.requests.labels(request.method, rule, str(response.status_code)).inc()
            started = g.get("workbench_start")
            if started is not None:
                self.latency.labels(rule).observe(time.perf_counter() - started)
            return response

        @server.route("/metrics")
        def _metrics() -> Response:
            body, content_type = self.exposition()
            return Response(body, mimetype=content_type.split(";")[0], headers={"Content-Type": content_type})
