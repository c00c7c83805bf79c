"""The papermill report runner, the index, retention and the CLI, on small test notebooks.

The notebooks here are built in a temporary folder (the real ones are executed in
tests/test_notebooks.py); each run is a real papermill execution in a real kernel.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import polars as pl
import pytest
from typer.testing import CliRunner

from workbench.config import settings
from workbench.errors import ConfigError, NotFoundError, ParameterError
from workbench.reports import (
    FINDING_MIME,
    ReportError,
    apply_retention,
    coerce_value,
    collect_findings,
    load_source,
    parse_parameter_args,
    read_index,
    render_html,
    report_names,
    report_parameters,
    run_report,
)

PARAMETERS = 'title = "Queue depth"\nrows: int = 5\nscale = 2.0\nfail = False\nnote = None\n'
CELLS = [
    "import plotly.express as px\nimport polars as pl\nimport workbench.reports as wr\nwr.setup_notebook()",
    "frame = pl.DataFrame({'x': list(range(rows)), 'depth': [scale * i for i in range(rows)]})\n"
    "wr.publish('rows', frame.height)\nwr.publish('peak_depth', frame['depth'].max())\nwr.publish('table', frame.head(2))",
    "px.line(frame.to_pandas(), x='x', y='depth', title=title)",
    "if fail:\n    raise ValueError(f'asked to fail after {rows} rows')",
    "print('done')",
]


def write_notebook(path: Path, parameters: str = PARAMETERS, cells: list[str] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Test report\nSome narrative."),
        params,
        *[nbformat.v4.new_code_cell(c) for c in (cells or CELLS)],
    ]
    nbformat.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("reports")
    notebooks = root / "notebooks"
    notebooks.mkdir()
    write_notebook(notebooks / "depth.ipynb")
    return notebooks, root / "reports"


@pytest.fixture(scope="module")
def ok_run(dirs: tuple[Path, Path]) -> Any:
    notebooks, reports = dirs
    return run_report(
        "depth", {"rows": "7", "title": "Depth of orders"}, notebooks_dir=notebooks, reports_dir=reports
    )


@pytest.fixture(scope="module")
def failed_run(dirs: tuple[Path, Path], ok_run: Any) -> ReportError:
    notebooks, reports = dirs
    with pytest.raises(ReportError) as caught:
        run_report("depth", {"fail": True}, notebooks_dir=notebooks, reports_dir=reports)
    return caught.value


def test_run_writes_notebook_html_and_findings(ok_run: Any, dirs: tuple[Path, Path]) -> None:
    _, reports = dirs
    assert ok_run.status == "ok"
    assert ok_run.directory.parent == reports / "depth"
    dt.datetime.strptime(ok_run.run_id, "%Y%m%dT%H%M%SZ")  # the folder is a UTC timestamp
    assert ok_run.findings == {
        "rows": 7,
        "peak_depth": 12.0,
        "table": [{"x": 0, "depth": 0.0}, {"x": 1, "depth": 2.0}],
    }
    saved = json.loads(ok_run.findings_path.read_text())
    assert saved["findings"] == ok_run.findings
    assert saved["parameters"] == {"rows": 7, "title": "Depth of orders"}
    assert saved["status"] == "ok"
    assert saved["error"] is None
    executed = nbformat.read(str(ok_run.notebook), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    html = ok_run.html.read_text()
    assert "Depth of orders" in html  # the figure's title
    assert "plotly-graph-div" in html  # rendered as a Plotly figure, plotly.js embedded
    assert "Some narrative." in html
    assert '<span class="n">publish</span>' not in html  # code hidden by default
    assert FINDING_MIME not in html


def test_show_code_keeps_the_code(ok_run: Any, tmp_path: Path) -> None:
    html = render_html(ok_run.notebook, tmp_path / "with_code.html", show_code=True).read_text()
    assert '<span class="n">publish</span>' in html


def test_failed_run_keeps_partial_notebook_and_names_the_cell(failed_run: ReportError) -> None:
    err = failed_run
    assert err.ename == "ValueError"
    assert "asked to fail after 5 rows" in err.evalue
    assert "if fail:" in err.cell_source
    assert "failed in cell" in str(err)
    assert "'if fail:'" in str(err)
    assert err.result.status == "failed"
    executed = nbformat.read(str(err.result.notebook), as_version=4)
    ran = [c for c in executed.cells if c.cell_type == "code" and c.get("outputs")]
    assert any(FINDING_MIME in o.get("data", {}) for c in ran for o in c.outputs)  # earlier cells ran
    assert executed.cells[-1].source == "print('done')"
    assert executed.cells[-1].outputs == []  # later cells did not run
    saved = json.loads(err.result.findings_path.read_text())
    assert saved["status"] == "failed"
    assert saved["error"]["ename"] == "ValueError"
    assert saved["error"]["cell_index"] == err.cell_index
    assert saved["findings"]["rows"] == 5  # what was published before the failure is kept
    assert err.result.html is not None
    assert "asked to fail" in err.result.html.read_text()


def test_index_lists_runs_newest_first(failed_run: ReportError, ok_run: Any, dirs: tuple[Path, Path]) -> None:
    _, reports = dirs
    index = read_index(reports)
    assert index["status"].to_list()[:2] == ["failed", "ok"]
    ok_row = index.filter(pl.col("run_id") == ok_run.run_id).row(0, named=True)
    assert ok_row["html"] == f"depth/{ok_run.run_id}/report.html"
    assert (reports / ok_row["html"]).exists()
    assert ok_row["findings"] == 3
    assert json.loads(ok_row["parameters"]) == {"rows": 7, "title": "Depth of orders"}
    on_disk = json.loads((reports / "index.json").read_text())["reports"]
    assert [r["run_id"] for r in on_disk] == index["run_id"].to_list()
    assert "ValueError" in index["error"][0]


def test_bad_parameters_fail_before_running(dirs: tuple[Path, Path]) -> None:
    notebooks, reports = dirs
    before = sorted((reports / "depth").iterdir()) if (reports / "depth").exists() else []
    with pytest.raises(
        ParameterError,
        match=r"parameter 'rowz': expected a parameter of report 'depth': "
        r"fail, note, rows, scale, title",
    ):
        run_report("depth", {"rowz": 3}, notebooks_dir=notebooks, reports_dir=reports)
    with pytest.raises(ParameterError, match=r"parameter 'rows': expected an integer"):
        run_report("depth", {"rows": "many"}, notebooks_dir=notebooks, reports_dir=reports)
    with pytest.raises(ParameterError, match=r"parameter 'scale': expected a number"):
        run_report("depth", {"scale": [1]}, notebooks_dir=notebooks, reports_dir=reports)
    with pytest.raises(ConfigError, match="no Jupyter kernel named 'nope'; register this environment's"):
        run_report("depth", notebooks_dir=notebooks, reports_dir=reports, kernel_name="nope")
    with pytest.raises(NotFoundError, match="no report named 'dept'; available: depth"):
        run_report("dept", notebooks_dir=notebooks, reports_dir=reports)
    after = sorted((reports / "depth").iterdir()) if (reports / "depth").exists() else []
    assert after == before  # nothing was run or written


def test_parameters_are_inspected_and_coerced(dirs: tuple[Path, Path]) -> None:
    notebooks, _ = dirs
    declared = report_parameters("depth", notebooks)
    assert {k: v["type"] for k, v in declared.items()} == {
        "title": "str",
        "rows": "int",
        "scale": "float",
        "fail": "bool",
        "note": "None",
    }
    assert declared["scale"]["default"] == 2.0
    assert report_names(notebooks) == ["depth"]
    assert coerce_value("fail", "yes", declared="bool") is True
    assert coerce_value("note", "null", declared="None") is None
    assert coerce_value("note", "[a, b]", declared="None") == ["a", "b"]
    with pytest.raises(ParameterError, match="true or false"):
        coerce_value("fail", "maybe", declared="bool")
    assert parse_parameter_args(["-p", "rows", "-3"]) == {"rows": "-3"}
    with pytest.raises(ParameterError, match="KEY and a VALUE"):
        parse_parameter_args(["-p", "rows"])


def _fake_run(reports: Path, name: str, started: dt.datetime) -> Path:
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    directory = reports / name / run_id
    directory.mkdir(parents=True)
    (directory / "run.json").write_text(
        json.dumps(
            {
                "name": name,
                "run_id": run_id,
                "status": "ok",
                "started": started.isoformat(),
                "seconds": 1.0,
                "source": "",
                "parameters": {},
                "findings": 0,
                "error": None,
                "html": f"{name}/{run_id}/report.html",
                "notebook": f"{name}/{run_id}/report.ipynb",
                "findings_json": f"{name}/{run_id}/findings.json",
            }
        )
    )
    return directory


def test_retention_keep_n_and_days(tmp_path: Path) -> None:
    now = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    runs = {
        name: [_fake_run(tmp_path, name, now - dt.timedelta(days=d)) for d in (0, 1, 2, 5, 9)]
        for name in ("fleet", "incident")
    }
    removed = apply_retention(tmp_path, name="fleet", keep=3, now=now)
    assert sorted(removed) == sorted(runs["fleet"][3:])
    assert all(d.exists() for d in runs["incident"])  # other reports untouched
    removed = apply_retention(tmp_path, keep_days=4.5, now=now, protect=runs["incident"][4])
    assert sorted(removed) == [runs["incident"][3]]  # 9 days old but protected
    assert read_index(tmp_path).height == 3 + 4
    with pytest.raises(ParameterError, match="keep"):
        apply_retention(tmp_path, keep=0)


def test_load_source_forms_and_errors(tmp_path: Path) -> None:
    data = load_source("sim:default:2", days=0.25, cluster="rabbit-prod-1")
    assert data.label == "sim:default:2"
    assert set(data.frame["cluster"].unique()) == {"rabbit-prod-1"}
    path = tmp_path / "frame.parquet"
    data.frame.write_parquet(path)
    again = load_source(f"file:{path}", entity=data.frame["entity"][0])
    assert again.frame.height > 0
    assert again.incidents.is_empty()
    with pytest.raises(ParameterError, match="parameter 'source': expected 'sim:<scenario>"):
        load_source("simulator")
    with pytest.raises(ParameterError, match="parameter 'cluster': expected filters that match rows"):
        load_source("sim:default:2", days=0.25, cluster="no-such-cluster")
    with pytest.raises(ParameterError, match="parameter 'start': expected an ISO time"):
        load_source("sim:default:2", days=0.25, start="yesterday-ish")
    with pytest.raises(ParameterError, match="non-negative integer seed"):
        load_source("sim:default:x")


def test_collect_findings_ignores_other_outputs() -> None:
    nb = {
        "cells": [
            {"outputs": [{"data": {"text/plain": "x"}}, {"data": {FINDING_MIME: {"key": "a", "value": 1}}}]},
            {"cells": []},
            {"outputs": [{"data": {FINDING_MIME: {"key": "a", "value": 2}}}]},
        ]
    }
    assert collect_findings(nb) == {"a": 2}


@pytest.fixture
def report_env(dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    notebooks, reports = dirs
    monkeypatch.setenv("WORKBENCH_NOTEBOOKS_DIR", str(notebooks))
    monkeypatch.setenv("WORKBENCH_REPORTS_DIR", str(reports))
    settings(refresh=True)
    yield reports
    monkeypatch.undo()
    settings(refresh=True)


def test_cli_report_and_reports(report_env: Path, failed_run: ReportError) -> None:
    from workbench.cli import app

    runner = CliRunner()
    result = runner.invoke(
        app, ["report", "depth", "-p", "rows", "3", "-p", "title", "From the CLI", "--keep", "2"]
    )
    assert result.exit_code == 0, result.output
    assert "report depth: ok" in result.output
    assert "3 findings" in result.output
    assert len(list((report_env / "depth").iterdir())) == 2  # --keep 2 pruned the oldest
    listing = runner.invoke(app, ["reports"])
    assert listing.exit_code == 0, listing.output
    assert "depth" in listing.output
    assert "ok" in listing.output
    available = runner.invoke(app, ["reports", "--available"])
    assert "rows=5" in available.output
    bad = runner.invoke(app, ["report", "depth", "-p", "rows", "lots"])
    assert isinstance(bad.exception, ParameterError)
    stray = runner.invoke(app, ["report", "depth", "rows", "3"])
    assert isinstance(stray.exception, ParameterError)


# ---------------------------------------------------------------- deploy/ recipes
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _check_command(words: list[str]) -> None:
    """``workbench report NAME [options] [-p KEY VALUE]...`` names a real report and declared parameters."""
    at = words.index("report")
    name, rest = words[at + 1], words[at + 2 :]
    assert name in report_names(), f"deploy/ schedules unknown report {name!r}"
    options = {"--source": 1, "--keep": 1, "--keep-days": 1, "--show-code": 0}
    pairs: list[str] = []
    i = 0
    while i < len(rest):
        if rest[i] in options:
            i += 1 + options[rest[i]]
        elif rest[i].startswith("$"):  # systemd's $WORKBENCH_REPORT_ARGS
            i += 1
        else:
            pairs += rest[i : i + 3]
            i += 3
    declared = report_parameters(name)
    for key in parse_parameter_args(pairs):
        assert key in declared, f"deploy/ passes {key!r}, which report {name!r} does not declare"


def test_cron_lines_run_real_reports() -> None:
    text = (DEPLOY / "cron" / "workbench-reports.cron").read_text()
    jobs = [
        ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#") and "=" not in ln.split()[0]
    ]
    assert len(jobs) >= 1
    ranges = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]
    for line in jobs:
        fields = line.split()
        for field, (low, high) in zip(fields[:5], ranges, strict=True):
            assert field == "*" or low <= int(field) <= high, line
        command = " ".join(fields[5:])
        assert ".venv/bin/workbench report" in command
        _check_command(command.split("&&", 1)[1].split(">>", 1)[0].split())  # without the log redirection


def test_systemd_units_verify(tmp_path: Path) -> None:
    import configparser
    import shutil
    import subprocess

    repo = DEPLOY.parent
    service = (DEPLOY / "systemd" / "workbench-report@.service").read_text()
    timer = (DEPLOY / "systemd" / "workbench-report@.timer").read_text()
    for text in (service, timer):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(text)
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read_string(service)
    exec_start = parser["Service"]["ExecStart"].replace("%i", "fleet_exploration").split()
    _check_command(exec_start)
    local = service.replace(
        "/opt/queue-workbench/.venv/bin/workbench", str(repo / ".venv" / "bin" / "workbench")
    )
    local = local.replace("WorkingDirectory=/opt/queue-workbench", f"WorkingDirectory={repo}")
    (tmp_path / "workbench-report@.service").write_text(local)
    (tmp_path / "workbench-report@.timer").write_text(timer)
    for suffix in ("service", "timer"):
        (tmp_path / f"workbench-report@fleet_exploration.{suffix}").symlink_to(f"workbench-report@.{suffix}")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # the structural checks above still ran
        return
    done = subprocess.run(
        [
            analyze,
            "verify",
            "--man=no",
            str(tmp_path / "workbench-report@fleet_exploration.service"),
            str(tmp_path / "workbench-report@fleet_exploration.timer"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (done.stdout + done.stderr).strip() == "", "systemd-analyze verify complained"


def test_kubernetes_cronjob_is_accepted_by_the_official_client() -> None:
    import asyncio
    import threading

    import kmock
    from kubernetes import client as k8s_client
    from kubernetes import utils as k8s_utils

    ready, state = threading.Event(), {}

    async def serve() -> None:
        async with kmock.KubernetesEmulator() as emu, kmock.Server(emu, host="127.0.0.1", port=0) as srv:
            emu.resources[kmock.resource("batch", "v1", "cronjobs")] = {}
            emu.resources[kmock.resource("", "v1", "persistentvolumeclaims")] = {}
            state.update(url=str(srv.url).rstrip("/"), loop=asyncio.get_running_loop(), stop=asyncio.Event())
            ready.set()
            await state["stop"].wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)
    thread.start()
    assert ready.wait(20), "kmock did not start"
    api = k8s_client.ApiClient(k8s_client.Configuration(host=state["url"]))
    try:
        created = k8s_utils.create_from_yaml(api, str(DEPLOY / "kubernetes" / "report-cronjob.yaml"))
        kinds = [type(group[0]).__name__ for group in created]
        assert kinds == ["V1PersistentVolumeClaim", "V1CronJob"]
        job = k8s_client.BatchV1Api(api).read_namespaced_cron_job(
            "workbench-report-fleet-exploration", "queue-workbench"
        )
        assert job.spec.concurrency_policy == "Forbid"
        container = job.spec.job_template.spec.template.spec.containers[0]
        _check_command([*container.command, *container.args])
        mounts = {m.mount_path for m in container.volume_mounts}
        env = {e.name: e.value for e in container.env}
        assert env["WORKBENCH_REPORTS_DIR"] in mounts
    finally:
        api.close()
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)
