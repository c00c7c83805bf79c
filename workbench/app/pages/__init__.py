"""The app's pages: each module has ``PATH``, ``TITLE``, ``layout(ctx, query)`` and ``register(app, ctx)``."""

from __future__ import annotations

from workbench.app.pages import entity, fidelity, lab, overview, reports

PAGES = (overview, entity, fidelity, lab, reports)

__all__ = ["PAGES", "entity", "fidelity", "lab", "overview", "reports"]
