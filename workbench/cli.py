"""The ``workbench`` command line: a thin shell over the package's public functions.

Each command parses its options, calls one package function and presents the result
with rich. Errors the package raises on purpose print as one line and exit non-zero;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from workbench.config import settings
from workbench.display import frame_table
from workbench.errors import WorkbenchError

app = typer.Typer(
    name="workbench",
    help="Queue Workbench: analytics for Kafka, RabbitMQ and SQS fleets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)
_state: dict[str, Any] = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    """Queue Workbench: analytics for Kafka, RabbitMQ and SQS fleets."""
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not (debug or verbose):
        # Each retry would print a long urllib3 warning; the final error names the URL once.
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)


@app.command()
def datasets(
    store_dir: Annotated[
        Path | None, typer.Option(help="Store directory (default: WORKBENCH_STORE_DIR or data/store).")
    ] = None,
) -> None:
    """List what the store holds: rows, time range and source of each dataset."""
    from workbench.store import Store

    store = Store(store_dir)
    summary = store.datasets()
    if summary.height == 0:
        console.print(f"The store at {store.root} holds no datasets yet. Try: workbench demo")
        return
    # ISO timestamps to the minute (UTC); a narrow terminal gets the columns that matter most.
    times = [c for c in ("start", "end", "updated") if c in summary.columns]
    summary = summary.with_columns(pl.col(times).str.slice(0, 16).str.replace("T", " "))
    if console.width < 110:
        keep = [c for c in ("dataset", "rows", "start", "end", "incidents", "source") if c in summary.columns]
        summary = summary.select(keep).rename({"incidents": "inc."}, strict=False)
    console.print(frame_table(summary, title=f"Datasets in {store.root} (times UTC)"))


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="A canonical frame as Parquet or CSV.")],
    quarantine_out: Annotated[
        Path | None, typer.Option(help="Write quarantined rows (with reasons) here as CSV.")
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit with status 1 if any row is quarantined.")] = False,
) -> None:
    """Validate a frame file and print the quarantine summary."""
    from workbench.frames import quarantine, read_frame_file

    frame = read_frame_file(path)
    split = quarantine(frame)
    console.print(
        f"{path}: {split.rows_in} rows in, {split.kept.height} kept, {split.quarantined.height} quarantined"
    )
    if split.quarantined.height:
        console.print(frame_table(split.summary(), title="Quarantined rows by reason"))
        if quarantine_out is not None:
            split.quarantined.write_csv(quarantine_out)
            console.print(f"Quarantined rows written to {quarantine_out}")
        if strict:
            raise typer.Exit(1)


@app.command()
def demo(
    serve: Annotated[bool, typer.Option(help="End by serving the Dash app on 127.0.0.1:8050.")] = True,
    days: Annotated[float, typer.Option(min=0.5, max=60, help="Days of simulated history.")] = 7,
    seed: Annotated[int, typer.Option(help="Random seed of the simulation.")] = 1,
) -> None:
    """Run the main job on the embedded default: simulate, learn, validate, report, serve."""
    from workbench.demo import run_demo

    run_demo(console=console, serve=serve, days=days, seed=seed)


@app.command()
def discover(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig (default: $KUBECONFIG or ~/.kube/config).")
    ] = None,
    context: Annotated[
        list[str] | None, typer.Option("--context", help="Only this context (repeatable; default: all).")
    ] = None,
    all_namespaces: Annotated[
        bool, typer.Option("--all-namespaces", "-A", help="Ignore each context's namespace.")
    ] = False,
    selectors: Annotated[bool, typer.Option(help="Also print PromQL selectors per cluster.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Poll and print changes until interrupted.")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between polls with --watch.")] = 30.0,
    polls: Annotated[int | None, typer.Option(help="Stop --watch after this many polls.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Contexts queried in parallel.")] = 8,
) -> None:
    """Discover Kafka and RabbitMQ clusters in every kubeconfig context (exit 1 if a context failed)."""
    from workbench.sources import kubernetes as k8s

    kwargs: dict[str, Any] = {
        "contexts": context or None,
        "all_namespaces": all_namespaces,
        "max_workers": workers,
    }
    if watch:
        try:
            for event in k8s.watch(kubeconfig, interval=interval, max_polls=polls, **kwargs):
                failed = event.discovery.contexts.filter(pl.col("status") == "failed")["context"].to_list()
                note = f" (contexts failing: {', '.join(failed)})" if failed else ""
                if event.changes.height == 0:
                    console.print(f"poll {event.poll}: 0 changes{note}", highlight=False)
                    continue
                console.print(
                    frame_table(
                        event.changes.with_columns(pl.col("fields").list.join(",")),
                        title=f"poll {event.poll}: {event.changes.height} changes{note}",
                        max_rows=100,
                    )
                )
        except KeyboardInterrupt:
            console.print("watch stopped")
        return
    found = k8s.discover(kubeconfig, **kwargs)
    console.print(frame_table(found.contexts.with_columns(pl.col("seconds").round(2)), title="Contexts"))
    clusters = found.clusters.drop("pod_names").with_columns(
        pl.col("metrics_ports").cast(pl.List(pl.String)).list.join(",")
    )
    if clusters.height:
        console.print(frame_table(clusters, title="Queue clusters", max_rows=200))
    else:
        console.print("No Kafka or RabbitMQ clusters found.")
    if selectors:
        console.print(
            frame_table(k8s.promql_selectors(found.inventory).drop("matchers"), title="PromQL selectors")
        )
    for p in found.problems.iter_rows(named=True):
        colour = {"error": "red", "warning": "yellow"}.get(p["severity"], "dim")
        console.print(
            f"[{colour}]{p['severity']}[/] {p['context']} {p['resource']}: {p['problem']}: {p['message']}",
            highlight=False,
            soft_wrap=True,
        )
    if found.errors.height:
        raise typer.Exit(1)


ingest_app = typer.Typer(help="Pull real metrics into the store (Prometheus, exposition, CSV, Parquet, NAB).")
app.add_typer(ingest_app, name="ingest")


def _print_ingest(report: Any, quarantine_out: Path | None) -> None:
    result, stored = report.result, report.stored
    counts = result.counts
    console.print(
        f"exporters: {', '.join(result.exporters) or 'none detected'} | samples in {counts['samples_in']}: "
        f"mapped {counts['samples_mapped']}, ignored {counts['samples_ignored']}, unknown {counts['samples_unknown']}"
        f" | rows kept {result.frame.height}, quarantined {result.quarantined.height}"
        f", rejected input {result.rejected.height}",
        highlight=False,
    )
    console.print(frame_table(result.summary(), title="Outcome by reason (quarantine summary)"))
    if result.unknown.height:
        console.print(frame_table(result.unknown, title="Exporter names no mapping table knows", max_rows=20))
    if result.rejected.height:
        console.print(frame_table(result.rejected, title="Rejected input", max_rows=10))
    if quarantine_out is not None and result.quarantined.height:
        result.quarantined.write_csv(quarantine_out)
        console.print(f"Quarantined rows written to {quarantine_out}")
    console.print(
        f"dataset {stored.dataset}: {stored.added} rows added, {stored.already_stored} already stored, "
        f"{stored.rows} in all (manifest written)",
        highlight=False,
    )
    conflicting = getattr(stored, "conflicting", 0)
    if conflicting:
        console.print(
            f"[yellow]warning[/] {conflicting} of the already-stored rows had a different value at the same "
            "series and time; the stored values were kept (exposition files without timestamps: pass --timestamp)",
            highlight=False,
        )


@ingest_app.command("prometheus")
def ingest_prometheus_command(
    url: Annotated[str, typer.Option(envvar="WORKBENCH_PROMETHEUS_URL", help="Prometheus base URL.")],
    since: Annotated[str, typer.Option(help="How far back, e.g. 2h, 7d.")] = "7d",
    step: Annotated[str, typer.Option(help="Resolution of the range pull, e.g. 15s, 1m.")] = "60s",
    provider: Annotated[
        str | None, typer.Option(help="Only this provider's exporters: kafka, rabbitmq, sqs.")
    ] = None,
    cluster: Annotated[str | None, typer.Option(help="Cluster name when the labels name none.")] = None,
    selector: Annotated[str, typer.Option(help='Extra label matchers, e.g. job="rabbitmq".')] = "",
    counters: Annotated[
        str, typer.Option(help="raw (rate per raw series here) or promql (rate() in Prometheus).")
    ] = "raw",
    rate_window: Annotated[str | None, typer.Option(help="Range of rate() with --counters promql.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset to append to (default: from the URL).")] = None,
    timeout: Annotated[float, typer.Option(help="Read timeout per request, seconds.")] = 60.0,
    workers: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 4,
    quarantine_out: Annotated[Path | None, typer.Option(help="Write quarantined rows here as CSV.")] = None,
) -> None:
    """Pull exporter metrics from Prometheus, map them to canonical rows and store them.

    Auth from the environment: WORKBENCH_PROMETHEUS_TOKEN (or _TOKEN_FILE),
    WORKBENCH_PROMETHEUS_USERNAME/_PASSWORD, WORKBENCH_PROMETHEUS_CA_BUNDLE,
    WORKBENCH_PROMETHEUS_INSECURE=1.
    """
    from workbench.sources.prometheus import ingest_prometheus

    with console.status(f"pulling {since} from {url} ..."):
        report = ingest_prometheus(
            url,
            since=since,
            step=step,
            provider=provider,
            cluster=cluster,
            selector=selector,
            counters=counters,  # type: ignore[arg-type]
            rate_window=rate_window,
            dataset=dataset,
            timeout=timeout,
            max_workers=workers,
        )
    _print_ingest(report, quarantine_out)


@ingest_app.command("file")
def ingest_file_command(
    path: Annotated[Path, typer.Argument(help="Exposition (.prom/.om/.txt), CSV, Parquet or NAB CSV file.")],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset to append to (default: the file name).")
    ] = None,
    provider: Annotated[
        str | None, typer.Option(help="Only this provider's exporters (or a NAB file's provider).")
    ] = None,
    cluster: Annotated[str | None, typer.Option(help="Cluster name when the data names none.")] = None,
    timestamp: Annotated[
        str | None,
        typer.Option(help="Scrape time of exposition samples, ISO 8601 with zone (default: file mtime)."),
    ] = None,
    period: Annotated[
        float | None, typer.Option(help="YACE period in seconds for per-period values.")
    ] = None,
    quarantine_out: Annotated[Path | None, typer.Option(help="Write quarantined rows here as CSV.")] = None,
) -> None:
    """Read a metrics file, map it to canonical rows and store it; print the quarantine summary."""
    from workbench.sources.files import ingest_file
    from workbench.times import parse_utc_time

    when = None if timestamp is None else parse_utc_time(timestamp, parameter="timestamp")
    with console.status(f"reading {path} ..."):
        report = ingest_file(
            path, dataset=dataset, provider=provider, cluster=cluster, timestamp=when, period_s=period
        )
    _print_ingest(report, quarantine_out)


@app.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to bind (default: WORKBENCH_APP_HOST or 127.0.0.1); anything but loopback requires WORKBENCH_APP_USER/PASSWORD."
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="TCP port (default: WORKBENCH_APP_PORT or 8050).")
    ] = None,
    store_dir: Annotated[
        Path | None, typer.Option(help="Store directory (default: WORKBENCH_STORE_DIR or data/store).")
    ] = None,
) -> None:
    """Serve the Dash analytics app (waitress) until interrupted."""
    from workbench.app import serve as serve_app
    from workbench.store import Store

    config = settings()
    serve_app(
        host or config.app_host, port or config.app_port, store=Store(store_dir), announce=console.print
    )


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def report(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="Notebook name in notebooks/ (see `workbench reports --available`).")
    ],
    source: Annotated[
        str | None,
        typer.Option(
            help="Data source: sim:<scenario>[:seed], store:<dataset>, file:<path>, prometheus:<url>."
        ),
    ] = None,
    show_code: Annotated[bool, typer.Option(help="Keep code cells in the HTML.")] = False,
    keep: Annotated[
        int | None, typer.Option(min=1, help="Afterwards keep only the newest N runs of this report.")
    ] = None,
    keep_days: Annotated[float | None, typer.Option(help="Afterwards delete runs older than N days.")] = None,
) -> None:
    """Run a report notebook with papermill: reports/NAME/<UTC time>/ with .ipynb, HTML and findings JSON.

    Notebook parameters: -p KEY VALUE (repeatable), e.g. `workbench report fleet_exploration -p days 3`.
    A failing cell keeps the partial notebook, is named in the error, and exits 1.
    """
    from workbench.reports import parse_parameter_args, run_report

    result = run_report(
        name,
        parse_parameter_args(ctx.args),
        source=source,
        show_code=show_code,
        keep=keep,
        keep_days=keep_days,
    )
    console.print(
        f"report {name}: {result.status} in {result.seconds:.1f}s, {len(result.findings)} findings",
        highlight=False,
    )
    console.print(
        f"  HTML:     {result.html}\n  notebook: {result.notebook}\n  findings: {result.findings_path}",
        highlight=False,
    )


@app.command()
def reports(
    available: Annotated[
        bool, typer.Option("--available", help="List the report notebooks and their parameters instead.")
    ] = False,
    name: Annotated[str | None, typer.Option(help="Only runs of this report.")] = None,
    keep: Annotated[
        int | None, typer.Option(min=1, help="Prune: keep only the newest N runs per report.")
    ] = None,
    keep_days: Annotated[float | None, typer.Option(help="Prune: delete runs older than N days.")] = None,
) -> None:
    """List report runs (newest first), or prune them with --keep / --keep-days."""
    from workbench import reports as rp

    if available:
        for report_name in rp.report_names():
            params = ", ".join(f"{k}={v['default']!r}" for k, v in rp.report_parameters(report_name).items())
            console.print(f"[bold]{report_name}[/]  {params}", highlight=False, soft_wrap=True)
        return
    if keep is not None or keep_days is not None:
        removed = rp.apply_retention(name=name, keep=keep, keep_days=keep_days)
        console.print(f"removed {len(removed)} old runs")
    index = rp.read_index()
    if name is not None:
        index = index.filter(pl.col("name") == name)
    if index.is_empty():
        console.print("No report runs yet (try: workbench report fleet_exploration)")
        return
    shown = index.select("name", "run_id", "status", pl.col("seconds").round(1), "findings", "error", "html")
    if console.width < 120 and shown["error"].null_count() == shown.height:
        # The HTML sits at reports/<name>/<run_id>/report.html; a narrow terminal names the folder.
        shown = shown.drop("error", "html")
        console.print(f"HTML: {settings().reports_dir}/<name>/<run_id>/report.html")
    console.print(frame_table(shown, title="Report runs", max_rows=50))


@app.command()
def health(
    dataset: Annotated[str, typer.Argument(help="Dataset in the store.")],
    top: Annotated[int, typer.Option(help="How many of the worst entities to show.")] = 20,
    every: Annotated[
        str | None, typer.Option(help="Score per window, e.g. '1h' (default: whole range).")
    ] = None,
    cluster: Annotated[str | None, typer.Option(help="Only this cluster.")] = None,
    store_dir: Annotated[Path | None, typer.Option(help="Store directory.")] = None,
) -> None:
    """Health scores (0-100) of a dataset's entities and rollups, worst first, with components."""
    from workbench.analysis.health import COMPONENTS, dataset_health
    from workbench.store import Store

    scores = dataset_health(dataset, store=Store(store_dir), every=every, cluster=cluster)
    shown = ["ts"] if every else []
    short = {
        c: c.replace("_", " ").replace("lag status", "status").replace("replication", "repl")
        for c in COMPONENTS
    }
    view = scores.select(
        *shown,
        "level",
        "entity",
        pl.col("score").round(1),
        *(pl.col(f"{c}_penalty").round(1).alias(f"-{short[c]}") for c in COMPONENTS),
        "explanation",
    )
    if console.width < 140:  # the explanation already lists every non-zero penalty
        view = view.select(*shown, "level", "entity", "score", "explanation")
    console.print(
        frame_table(view, title=f"Health of {dataset} (worst first; penalties in points)", max_rows=top)
    )


@app.command()
def scenarios() -> None:
    """List the simulator's scenarios (built-in and imported)."""
    from workbench.sources.simulator import list_scenarios

    # Short numeric headers and a wrapping description keep the table readable at 80 columns.
    table = Table(title="Scenarios (workbench simulate NAME)", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", no_wrap=True)
    table.add_column("origin", no_wrap=True)
    for column in ("cl.", "inc.", "days"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("description", ratio=1, min_width=20)
    for row in list_scenarios().iter_rows(named=True):
        first_sentence = row["description"].split(". ")[0]
        table.add_row(
            row["name"],
            row["origin"],
            str(row["clusters"]),
            str(row["incidents"]),
            f"{row['days'] or 0:g}",
            first_sentence,
        )
    console.print(table)
    console.print("cl. = clusters, inc. = ground-truth incidents")


@app.command("simulate")
def simulate_command(
    scenario: Annotated[str, typer.Argument(help="Scenario name (see: workbench scenarios) or a YAML file.")],
    days: Annotated[float | None, typer.Option(help="Days to simulate (default: the scenario's).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; the same seed gives identical output.")] = 1,
    start: Annotated[
        str | None, typer.Option(help="Start time, ISO 8601 with zone (default: the scenario's).")
    ] = None,
    step: Annotated[
        str | None, typer.Option(help="Sample interval such as 1m (default: the scenario's).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Dataset name (default: sim-<scenario>-<seed>).")
    ] = None,
    store_dir: Annotated[
        Path | None, typer.Option(help="Store directory (default: WORKBENCH_STORE_DIR or data/store).")
    ] = None,
    serve: Annotated[
        str | None,
        typer.Option(help="Serve the live fleet as Prometheus /metrics on HOST:PORT instead of storing."),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Also write the exporter-native history as OpenMetrics files into this directory."),
    ] = None,
    speed: Annotated[float, typer.Option(help="With --serve: simulated seconds per second.")] = 1.0,
    horizon: Annotated[str, typer.Option(help="With --serve: simulated time after now.")] = "1d",
) -> None:
    """Simulate a scenario into the store (or serve it live with --serve)."""
    from workbench.sources.simulator.commands import serve_scenario, simulate_scenario

    if serve is not None:
        serve_scenario(
            scenario,
            address=serve,
            days=days,
            seed=seed,
            step=step,
            speed=speed,
            horizon=horizon,
            export=export,
            announce=console.print,
        )
        return
    summary = simulate_scenario(
        scenario,
        days=days,
        seed=seed,
        start=start,
        step=step,
        dataset=dataset,
        store_dir=store_dir,
        export=export,
    )
    console.print(summary.headline)
    if summary.incidents.height:
        console.print(frame_table(summary.incidents, title="Ground-truth incidents"))


@app.command("learn")
def learn_command(
    dataset: Annotated[str, typer.Argument(help="Dataset in the store (see: workbench datasets).")],
    cluster: Annotated[str | None, typer.Option(help="Only this cluster.")] = None,
    start: Annotated[str | None, typer.Option(help="From this time (ISO 8601 with zone).")] = None,
    end: Annotated[str | None, typer.Option(help="Until this time (ISO 8601 with zone).")] = None,
    jobs: Annotated[int, typer.Option(help="Parallel workers (-1 = all cores).")] = -1,
    backend: Annotated[
        str | None, typer.Option(help="joblib backend: loky (default), threading or dask.")
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="With --backend dask: scheduler address, e.g. tcp://host:8786 (default: DASK_SCHEDULER_ADDRESS, else a local Dask cluster)."
        ),
    ] = None,
    top: Annotated[int, typer.Option(help="How many findings to print.")] = 10,
    store_dir: Annotated[
        Path | None, typer.Option(help="Store directory (default: WORKBENCH_STORE_DIR or data/store).")
    ] = None,
) -> None:
    """Learn what is normal for every entity; store and print anomalies, forecasts and root causes."""
    from contextlib import ExitStack

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workbench.analysis.learn import learn_dataset, top_findings
    from workbench.errors import ParameterError
    from workbench.store import Store

    if backend not in (None, "loky", "threading", "dask"):
        raise ParameterError("backend", allowed="loky, threading or dask", received=backend)
    if scheduler is not None and backend != "dask":
        raise ParameterError("scheduler", allowed="only with --backend dask", received=scheduler)
    columns = (
        TextColumn("learning"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entities"),
        TimeElapsedColumn(),
    )
    with ExitStack() as stack, Progress(*columns, console=err_console, transient=True) as bar:
        if backend == "dask":  # joblib's dask backend needs a live Client in this process
            from distributed import Client

            if not _state["debug"] and logging.getLogger().level > logging.INFO:
                logging.getLogger("distributed").setLevel(logging.WARNING)  # dask logs its start-up at INFO
            client = stack.enter_context(Client(scheduler) if scheduler else Client())  # type: ignore[no-untyped-call]
            console.print(f"Dask scheduler {client.scheduler.address} (dashboard {client.dashboard_link})")
        task = bar.add_task("learn", total=None)
        findings = learn_dataset(
            dataset,
            store=Store(store_dir),
            cluster=cluster,
            start=start,
            end=end,
            n_jobs=jobs,
            backend=backend,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    counts = findings.group_by("kind").len().sort("len", descending=True)
    console.print(
        f"{findings.height} findings stored for {dataset}: "
        + ", ".join(f"{n} {k}" for k, n in counts.iter_rows())
    )
    for row in top_findings(findings, top).iter_rows(named=True):
        console.print(
            f"[bold]{row['severity']}[/bold] {row['kind']} {row['level']} {row['entity']} {row['metric']} ({row['start']:%Y-%m-%d %H:%M} UTC)"
        )
        console.print(f"  {row['explanation']}", highlight=False)


@app.command("learn-sim")
def learn_sim_command(
    dataset: Annotated[str, typer.Argument(help="Stored dataset with real data (see: workbench datasets).")],
    name: Annotated[str | None, typer.Option(help="Scenario name (default: learned-<dataset>).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Scenario YAML to write (default: the imported-scenarios folder).")
    ] = None,
    metric: Annotated[str | None, typer.Option(help="Learn only this metric.")] = None,
    store_dir: Annotated[
        Path | None, typer.Option(help="Store directory (default: WORKBENCH_STORE_DIR or data/store).")
    ] = None,
) -> None:
    """Learn a simulation from real data and write a scenario file that `workbench simulate` runs."""
    from workbench.fidelity.commands import learn_sim

    path, spec = learn_sim(dataset, name=name, path=out, store_dir=store_dir, metric=metric)
    topics = sum(len(c.topics) for c in spec.kafka)
    console.print(f"Learned {topics} series into scenario {spec.name!r}: {path}")
    console.print(f"Run it with: workbench simulate {spec.name} --days {spec.days:g}")


@app.command("validate-sim")
def validate_sim_command(
    real: Annotated[str | None, typer.Option(help="Stored dataset with the real data.")] = None,
    sim: Annotated[str | None, typer.Option(help="Stored dataset with the synthetic data.")] = None,
    scenarios: Annotated[
        bool,
        typer.Option("--scenarios", help="Score every built-in scenario against bundled real data instead."),
    ] = False,
    metric: Annotated[str | None, typer.Option(help="Compare only this real metric.")] = None,
    standardize: Annotated[
        bool, typer.Option(help="z-score both series first (compare shapes only).")
    ] = False,
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default: reports/fidelity/<UTC timestamp>/).")
    ] = None,
    store_dir: Annotated[
        Path | None, typer.Option(help="Store directory (default: WORKBENCH_STORE_DIR or data/store).")
    ] = None,
) -> None:
    """Compare a simulation with real data statistically: verdict table + HTML/JSON report."""
    from workbench.errors import ParameterError
    from workbench.fidelity.commands import validate_scenarios, validate_sim

    if scenarios:
        result, folder = validate_scenarios(out_dir=out)
    elif real is None or sim is None:
        raise ParameterError("--real/--sim", allowed="both datasets, or --scenarios", received=(real, sim))
    else:
        result, folder = validate_sim(
            real, sim, store_dir=store_dir, out_dir=out, metric=metric, standardize=standardize
        )
    verdicts = result.verdicts().select(
        "pair", "statistic", pl.col("value").round(4), "rule", "threshold", "verdict"
    )
    console.print(frame_table(verdicts, title="Fidelity verdicts per series", max_rows=400))
    console.print(frame_table(result.summary().with_columns(pl.col("mean").round(4)), title="Summary"))
    console.print(f"Report: {folder / 'report.html'} (and report.json)")


@app.command("scenario-export")
def scenario_export(
    name: Annotated[str, typer.Argument(help="Scenario to export.")],
    path: Annotated[Path, typer.Argument(help="File or directory to write the YAML to.")],
) -> None:
    """Write a scenario as YAML, to edit and import again."""
    from workbench.sources.simulator import export_scenario

    console.print(f"Wrote {export_scenario(name, path)}")


@app.command("scenario-import")
def scenario_import(
    path: Annotated[Path, typer.Argument(help="A scenario YAML file.")],
    overwrite: Annotated[bool, typer.Option(help="Replace an imported scenario of the same name.")] = False,
) -> None:
    """Validate a scenario file and add it to the library."""
    from workbench.sources.simulator import import_scenario

    spec = import_scenario(path, overwrite=overwrite)
    console.print(f"Imported scenario {spec.name!r}; run it with: workbench simulate {spec.name}")


def main() -> None:
    """Entry point of the ``workbench`` console script."""
    try:
        # Without standalone mode click returns a command's typer.Exit code instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except WorkbenchError as err:
        if _state["debug"]:
            raise
        # One line whatever the message holds (a YAML parser's problem mark spans several).
        message = " ".join(part.strip() for part in str(err).splitlines() if part.strip())
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except typer.Exit as exit_:
        sys.exit(exit_.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except Exception as err:  # click usage errors
        import click

        if isinstance(err, click.ClickException):
            err.show()
            sys.exit(err.exit_code)
        if _state["debug"]:
            raise
        message = " ".join(part.strip() for part in str(err).splitlines() if part.strip())
        err_console.print(
            f"[bold red]unexpected error:[/] {type(err).__name__}: {escape(message)} (rerun with --debug)",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)


if __name__ == "__main__":
    main()
