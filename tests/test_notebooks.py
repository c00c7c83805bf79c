"""Every notebook in notebooks/ is a thin, parameterised shell, and runs under papermill.

Structure: exactly one ``parameters`` cell whose every assignment papermill can read, a
kernelspec with a language, ``import workbench``, no functions or classes, no stored outputs.
Execution: each notebook runs through :func:`workbench.reports.run_report` on simulated (or
bundled real NAB) data, small parameters to keep CI fast; the HTML must hold the expected figures
and findings. The fleet report also runs on a real RabbitMQ scraped by a real Prometheus.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import polars as pl
import pytest

from workbench.config import settings
from workbench.errors import ParameterError
from workbench.reports import (
    ReportError,
    ReportResult,
    read_index,
    report_names,
    report_parameters,
    run_report,
)

NOTEBOOKS = sorted(settings().notebooks_dir.glob("*.ipynb"))
EXPECTED = {"fleet_exploration", "learning_patterns", "simulation_validation", "incident_review"}

#: Small runs: one cluster, hours instead of days (the defaults are analyst-sized).
RUNS: dict[str, dict[str, Any]] = {
    "fleet_exploration": {"days": 0.5, "cluster": "rabbit-prod-1"},
    "learning_patterns": {
        "days": 1.5,
        "cluster": "rabbit-prod-1",
        "level": "queue",
        "entity": "emails",
        "metric": "messages_in_per_s",
        "horizon_hours": 2.0,
    },
    "simulation_validation": {"start": "2014-09-01T00:00Z", "end": "2014-09-22T00:00Z", "holdout_days": 7.0},
    "incident_review": {
        "source": "sim:poison-message:1",
        "days": 2.0,
        "cluster": "rabbit-prod-1",
        "start": "2026-01-06T00:00Z",
        "end": "2026-01-06T12:00Z",
    },
}


def test_the_four_notebooks_exist() -> None:
    assert set(report_names()) >= EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_a_thin_parameterised_shell(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    assert nb.metadata["kernelspec"]["language"] == "python"
    assert nb.cells[0].cell_type == "markdown"
    assert nb.cells[0].source.startswith("# ")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assigned = [n for n in ast.parse(tagged[0].source).body if isinstance(n, ast.Assign | ast.AnnAssign)]
    assert len(assigned) == len(report_parameters(path.stem)), "papermill could not read every parameter"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert any("import workbench" in c.source for c in code)
    for cell in code:
        tree = ast.parse(cell.source)
        defined = [
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        assert not defined, f"{path.stem}: notebooks define no functions or classes"
        assert not cell.get("outputs"), f"{path.stem}: committed without outputs"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ReportResult]:
    """Run every notebook as cron would, ``workbench report NAME -p ...``, two at a time."""
    reports = tmp_path_factory.mktemp("nb-reports")
    env = {**os.environ, "WORKBENCH_REPORTS_DIR": str(reports)}
    pending = list(RUNS.items())
    running: list[tuple[str, subprocess.Popen[str]]] = []
    outputs: dict[str, str] = {}
    while pending or running:
        while pending and len(running) < 2:  # two kernels at a time on two cores
            name, params = pending.pop(0)
            words = [w for key, value in params.items() for w in ("-p", key, str(value))]
            command = [sys.executable, "-m", "workbench.cli", "report", name, *words]
            running.append(
                (
                    name,
                    subprocess.Popen(
                        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                    ),
                )
            )
        name, process = running.pop(0)
        outputs[name] = process.communicate(timeout=600)[0]
        assert process.returncode == 0, f"workbench report {name} failed:\n{outputs[name][-3000:]}"
    index = read_index(reports)
    results = {}
    for name in RUNS:
        row = index.filter(pl.col("name") == name).row(0, named=True)
        saved = json.loads((reports / row["findings_json"]).read_text())
        results[name] = ReportResult(
            name=name,
            run_id=row["run_id"],
            directory=reports / name / row["run_id"],
            notebook=reports / row["notebook"],
            html=reports / row["html"],
            findings_path=reports / row["findings_json"],
            status=row["status"],
            parameters=saved["parameters"],
            findings=saved["findings"],
            seconds=row["seconds"],
        )
    return results


def _html(result: ReportResult) -> str:
    assert result.html is not None
    return result.html.read_text(encoding="utf-8")


def test_every_notebook_runs_and_renders(runs: dict[str, ReportResult]) -> None:
    assert set(runs) == EXPECTED
    for name, result in runs.items():
        assert result.status == "ok", name
        html = _html(result)
        assert "plotly-graph-div" in html, name
        assert '<span class="n">import</span>' not in html, name  # code hidden
        saved = json.loads(result.findings_path.read_text())
        assert saved["findings"] == result.findings
        assert result.findings, name


def test_fleet_exploration_report(runs: dict[str, ReportResult]) -> None:
    result = runs["fleet_exploration"]
    html = _html(result)
    assert "Fleet exploration" in html
    assert "rabbit-prod-1 messages_in_per_s" in html  # the traffic figure
    assert "What happened, in words" in html
    assert "Topology, coloured by latest health" in html
    assert 0 <= result.findings["mean_health"] <= 100
    assert result.findings["worst_health"][0]["explanation"] in html
    found = result.findings
    assert {row["level"] for row in found["inventory"]} == {"cluster", "node", "queue"}
    assert found["findings_total"] == sum(row["findings"] for row in found["findings_by_kind"])
    assert found["findings_total"] > 0
    for row in found["top_findings"]:
        assert row["explanation"] in html or row["explanation"][:40] in html


def test_learning_patterns_report(runs: dict[str, ReportResult]) -> None:
    result = runs["learning_patterns"]
    found = result.findings
    assert found["cycle"]["kind"] in ("daily", "weekly", "none")
    assert found["cycle"]["step_s"] == 60.0
    assert found["profile"]["base_level"] > 0
    assert found["forecast"]["horizon_hours"] == 2.0
    assert found["forecast"]["lower_min"] <= found["forecast"]["mean_next"] <= found["forecast"]["upper_max"]
    html = _html(result)
    assert "Hour-of-week profile" in html
    assert "messages_in_per_s forecast, 2 h" in html
    assert f"Detected cycle: <strong>{found['cycle']['kind']}</strong>" in html


def test_simulation_validation_report(runs: dict[str, ReportResult]) -> None:
    result = runs["simulation_validation"]
    found = result.findings
    statistics = {row["statistic"] for row in found["learned_verdicts"]}
    assert {"ks_test", "acf_distance", "discriminative_auc"} <= statistics
    assert {row["verdict"] for row in found["learned_verdicts"]} <= {"pass", "fail", "n/a"}
    assert 0 <= found["learned_passed"] <= found["learned_applicable"]
    assert found["scenario"] == "steady-week"
    assert found["scenario_verdicts"]
    html = _html(result)
    assert "Held-out real series and its simulation" in html
    assert "QQ plot" in html
    assert f"passes <strong>{found['learned_passed']} of" in html


def test_incident_review_report(runs: dict[str, ReportResult]) -> None:
    result = runs["incident_review"]
    found = result.findings
    assert [row["kind"] for row in found["incidents"]] == ["poison_message"]
    assert found["incidents"][0]["cluster"] == "rabbit-prod-1"
    assert found["entity"]
    html = _html(result)
    assert "Known incidents" in html
    assert "a partner sends invoices with a broken schema" in html
    title = f"{found['entity']}: {found['entity_findings']} findings"
    # plotly's JSON inside the HTML escapes "/" (as \u002f)
    assert any(form in html for form in (title, title.replace("/", "\\u002f"), title.replace("/", "\\/")))


def test_bad_parameters_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="expected a parameter of report 'incident_review'"):
        run_report("incident_review", {"clusterr": "x"}, reports_dir=tmp_path)
    with pytest.raises(ParameterError, match="parameter 'days': expected a number"):
        run_report("fleet_exploration", {"days": "a week"}, reports_dir=tmp_path)
    # a value only the notebook can judge: the run fails in its first cell, and says why
    with pytest.raises(ReportError) as caught:
        run_report("fleet_exploration", {"days": 0.1, "cluster": "no-such-cluster"}, reports_dir=tmp_path)
    err = caught.value
    assert err.ename == "ParameterError"
    assert "parameter 'cluster': expected filters that match rows of sim:default:1" in err.evalue
    assert "load_source" in err.cell_source
    assert err.result.notebook.exists()


@pytest.mark.services
def test_fleet_report_on_real_prometheus_and_rabbitmq(
    rabbitmq: Any, prometheus_factory: Any, tmp_path: Path
) -> None:
    import pika

    target = f"127.0.0.1:{rabbitmq.prometheus_port}"
    prom = prometheus_factory(
        [{"job_name": "rabbitmq", "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}],
        scrape_interval="1s",
    )
    params = pika.ConnectionParameters(
        "127.0.0.1", rabbitmq.amqp_port, credentials=pika.PlainCredentials("guest", "guest")
    )
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.queue_declare("wb.report.orders", durable=True)
        channel.queue_purge("wb.report.orders")
        for step in range(20):
            for i in range(5 + step):
                channel.basic_publish(
                    "",
                    "wb.report.orders",
                    f"order-{step}-{i}".encode(),
                    pika.BasicProperties(delivery_mode=2),
                )
            time.sleep(0.5)
    finally:
        connection.close()
    time.sleep(3)  # a few more scrapes
    result = run_report(
        "fleet_exploration",
        {"source": f"prometheus:{prom.url}", "days": 0.01, "provider": "rabbitmq"},
        reports_dir=tmp_path,
    )
    assert result.status == "ok"
    levels = {row["level"] for row in result.findings["inventory"]}
    assert "queue" in levels
    html = _html(result)
    assert f"prometheus:127.0.0.1:{prom.url.rsplit(':', 1)[1]}" in html
