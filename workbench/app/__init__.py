"""The Dash analytics app: fleet overview, entity drill-down, simulation vs real,
scenario lab with its REST API, reports and annotations.

Build an app with :func:`create_app` (all state injected) and serve it with
:func:`serve` (waitress) or ``workbench serve``.
"""

from __future__ import annotations

from workbench.app.factory import create_app, serve

__all__ = ["create_app", "serve"]
