"""``workbench demo``: every step is built, and (soak) the whole job runs on the default."""

from __future__ import annotations

import importlib

import pytest
from rich.console import Console

from workbench.demo import DEMO_DATASETS, demo_steps, run_demo
from workbench.store import Store


def test_every_demo_step_is_available():
    steps = demo_steps()
    assert len(steps) >= 6
    for step in steps:
        importlib.import_module(step.requires)  # a missing room would show "not available yet"


@pytest.mark.soak
def test_demo_runs_end_to_end_without_serving(isolated_settings):
    console = Console(record=True, width=200)
    ctx = run_demo(console=console, serve=False, days=1, seed=2)
    text = console.export_text()
    assert "not available" not in text
    store = Store()
    assert set(DEMO_DATASETS.values()) <= set(store.names())
    assert store.read_findings(DEMO_DATASETS["fleet"]).height > 0
    assert (ctx["fidelity_report"] / "report.html").exists()
