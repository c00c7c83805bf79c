"""``workbench demo``: the main job on the embedded default.

Steps, in the order the data flows (each calls the same package function the CLI,
notebooks and app use):

1. simulate the default fleet (Kafka, RabbitMQ, SQS with incidents) into the store;
2. load the bundled real data (a RabbitMQ 3.10.8 scrape, NAB's ``nyc_taxi`` series);
3. score health (Burrow-style lag status and named components) per entity;
4. learn seasonality, anomalies, forecasts and root causes; store the findings;
5. learn a simulation from the real series and validate it statistically;
6. run the fleet report notebook with papermill into ``reports/``;
7. serve the Dash app on http://127.0.0.1:8050 (unless ``--no-serve``).

A step whose room is not built says so plainly; the demo never fakes a step.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from workbench.config import settings
from workbench.display import frame_table
from workbench.store import Store

__all__ = ["DEMO_DATASETS", "DemoStep", "demo_steps", "run_demo"]

#: Store datasets the demo writes.
DEMO_DATASETS = {
    "fleet": "demo-fleet",
    "real_rabbitmq": "demo-real-rabbitmq",
    "real_series": "demo-real-nyc-taxi",
    "learned_sim": "demo-learned-nyc-taxi",
}

Context = dict[str, Any]


@dataclass(frozen=True)
class DemoStep:
    """One step of the demo: a title, the module it needs, and what it runs."""

    title: str
    requires: str
    run: Callable[[Console, Context], str]


def _available(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _small_table(frame: pl.DataFrame, title: str, rows: int = 8) -> Table:
    return frame_table(frame, title, rows, first_column_no_wrap=True)


def _simulate(console: Console, ctx: Context) -> str:
    from workbench.sources.simulator.commands import simulate_scenario

    summary = simulate_scenario(
        "default",
        days=ctx["days"],
        seed=ctx["seed"],
        dataset=DEMO_DATASETS["fleet"],
        store_dir=ctx["store"].root,
    )
    console.print(summary.headline, highlight=False)
    return f"{DEMO_DATASETS['fleet']}: {summary.incidents.height} ground-truth incidents"


def _load_real(console: Console, ctx: Context) -> str:
    from workbench.sources.files import ingest_file

    real = settings().real_data_dir
    capture = real / "exposition" / "rabbitmq-3.10.8-deb12__t1_metrics_per-object.prom"
    series = real / "nab" / "data" / "realKnownCause" / "nyc_taxi.csv"
    done = []
    for path, dataset in ((capture, DEMO_DATASETS["real_rabbitmq"]), (series, DEMO_DATASETS["real_series"])):
        report = ingest_file(path, dataset=dataset, store=ctx["store"])
        rows = ctx["store"].manifest(dataset).rows
        console.print(f"{path.name} → dataset {dataset} ({rows} rows)", highlight=False)
        done.append(report)
    depth = (
        ctx["store"]
        .scan(DEMO_DATASETS["real_rabbitmq"], metric="queue_depth_messages")
        .select("entity", "value")
        .collect()
        .sort("entity")
    )
    console.print(_small_table(depth, "RabbitMQ 3.10.8 queue depths (real scrape)"))
    return f"{len(done)} real datasets"


def _health(console: Console, ctx: Context) -> str:
    from workbench.analysis.health import dataset_health

    scores = dataset_health(DEMO_DATASETS["fleet"], store=ctx["store"])
    worst = scores.sort("score").select("level", "entity", pl.col("score").round(1), "explanation")
    console.print(_small_table(worst, "Least healthy entities (0-100)"))
    return f"{scores.height} entities scored; worst {worst['score'][0]:.0f}/100"


def _learn(console: Console, ctx: Context) -> str:
    from workbench.analysis.learn import learn

    store: Store = ctx["store"]
    with Progress(
        TextColumn("learning entities"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("learn", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        findings = learn(store.scan(DEMO_DATASETS["fleet"]), progress=progress)
    store.write_findings(DEMO_DATASETS["fleet"], findings)
    top = findings.sort("score", descending=True).select("kind", "entity", "explanation")
    console.print(_small_table(top, "Top findings"))
    return f"{findings.height} findings stored with {DEMO_DATASETS['fleet']}"


def _fidelity(console: Console, ctx: Context) -> str:
    from workbench.fidelity.commands import learn_sim, validate_sim
    from workbench.sources.simulator.commands import simulate_scenario

    real = DEMO_DATASETS["real_series"]
    _, spec = learn_sim(real, store_dir=ctx["store"].root)
    simulate_scenario(
        spec.name, seed=ctx["seed"], dataset=DEMO_DATASETS["learned_sim"], store_dir=ctx["store"].root
    )
    result, folder = validate_sim(real, DEMO_DATASETS["learned_sim"], store_dir=ctx["store"].root)
    summary = result.summary().with_columns(pl.col(pl.Float64).round(3))
    console.print(_small_table(summary, f"Fidelity of the learned simulation of {real}", rows=20))
    ctx["fidelity_report"] = folder
    return f"report {folder / 'report.html'}"


def _report(console: Console, ctx: Context) -> str:
    from workbench.reports import run_report

    result = run_report(
        "fleet_exploration", {"days": float(ctx["days"])}, source=f"store:{DEMO_DATASETS['fleet']}"
    )
    console.print(f"HTML report: {result.html}", highlight=False)
    return f"{result.status} in {result.seconds:.0f}s"


def demo_steps() -> list[DemoStep]:
    """The demo's steps, in data-flow order."""
    return [
        DemoStep("Simulate the default fleet", "workbench.sources.simulator.commands", _simulate),
        DemoStep("Load bundled real data", "workbench.sources.files", _load_real),
        DemoStep("Health scores and lag status", "workbench.analysis.health", _health),
        DemoStep("Learn patterns, anomalies, forecasts, root causes", "workbench.analysis.learn", _learn),
        DemoStep(
            "Learn a simulation from real data and validate it", "workbench.fidelity.commands", _fidelity
        ),
        DemoStep("Fleet report (papermill)", "workbench.reports", _report),
    ]


def run_demo(
    *, console: Console, serve: bool = True, days: float = 7, seed: int = 1, store: Store | None = None
) -> Context:
    """Run the demo steps; return the context they shared (datasets, timings, paths)."""
    ctx: Context = {"days": days, "seed": seed, "store": store or Store(), "timings": {}}
    outcomes: list[tuple[str, str, str]] = []
    for step in demo_steps():
        if not _available(step.requires):
            console.print(f"[yellow]{step.title}: not available yet ({step.requires} is not built)[/]")
            outcomes.append((step.title, "not available", ""))
            continue
        console.rule(step.title)
        began = time.perf_counter()
        outcome = step.run(console, ctx)
        ctx["timings"][step.title] = time.perf_counter() - began
        outcomes.append((step.title, f"{ctx['timings'][step.title]:.1f}s", outcome))
    table = Table(title="Demo summary", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("step", "time", "result"):
        table.add_column(column, overflow="fold")  # the result names report paths in full
    for row in outcomes:
        table.add_row(*row)
    console.print(table)
    if serve:
        from workbench.app import serve as serve_app

        console.rule("Dash app")
        serve_app("127.0.0.1", 8050, store=ctx["store"], announce=console.print)
    return ctx
