"""Scheduled reports: run a parameterised notebook with papermill, render HTML, index the runs.

``run_report("fleet_exploration", {"days": 2})`` executes ``notebooks/fleet_exploration.ipynb``
and writes ``reports/fleet_exploration/<UTC timestamp>/`` with

* ``report.ipynb``: the executed notebook (kept, partly executed, when a cell fails);
* ``report.html``: an nbconvert rendering, code hidden unless ``show_code=True``;
* ``findings.json``: the key findings the notebook published with :func:`publish`, the
  parameters, timings and, for a failed run, the failing cell;
* ``run.json``: the index record of the run.

``reports/index.json`` lists every run (newest first); :func:`read_index` is what the Dash app
reads. Retention (:func:`apply_retention`) keeps the newest N runs per report and/or the runs of
the last N days. A failed run keeps its partial notebook and HTML, names the failing cell and
raises :class:`ReportError`.

Notebooks use three helpers from here: :func:`setup_notebook` (figure and table display),
:func:`load_source` (a ``source`` parameter string to canonical frames) and :func:`publish`.

Examples
--------
>>> coerce_value("days", "3", declared="int")
3
>>> coerce_value("threshold", "0.5", declared="float")
0.5
>>> coerce_value("days", "three", declared="int")
Traceback (most recent call last):
...
workbench.errors.ParameterError: parameter 'days': expected an integer (the notebook's default is an int), got 'three'
"""

from __future__ import annotations

import ast
import datetime as dt
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import settings
from workbench.errors import ConfigError, NotFoundError, ParameterError, WorkbenchError
from workbench.reports.index import apply_retention, resolve_reports_dir, write_index, write_json
from workbench.reports.notebook import collect_findings

__all__ = [
    "ReportError",
    "ReportResult",
    "check_kernel",
    "coerce_value",
    "parse_parameter_args",
    "render_html",
    "report_names",
    "report_parameters",
    "run_report",
]

logger = logging.getLogger(__name__)

_STAMP = "%Y%m%dT%H%M%SZ"


class ReportError(WorkbenchError, RuntimeError):
    """A report's notebook failed; the partial notebook and HTML are kept.

    Attributes
    ----------
    name : str
        Report name.
    cell_index : int or None
        Index of the failing cell in the executed notebook.
    cell_source : str
        The failing cell's code.
    ename, evalue : str
        Exception class and message raised in the notebook.
    result : ReportResult
        The failed run (paths of the partial notebook, HTML and findings).
    """

    def __init__(
        self,
        name: str,
        *,
        cell_index: int | None,
        cell_source: str,
        ename: str,
        evalue: str,
        result: ReportResult,
    ) -> None:
        self.name = name
        self.cell_index = cell_index
        self.cell_source = cell_source
        self.ename = ename
        self.evalue = evalue
        self.result = result
        first = next((ln for ln in cell_source.splitlines() if ln.strip()), "")
        super().__init__(
            f"report {name!r} failed in cell {cell_index} ({first.strip()[:80]!r}): {ename}: {evalue} "
            f"| partial notebook kept: {result.notebook}"
        )


@dataclass(frozen=True)
class ReportResult:
    """One report run: where its files are and what it found."""

    name: str
    run_id: str
    directory: Path
    notebook: Path
    html: Path | None
    findings_path: Path
    status: str
    parameters: dict[str, Any]
    findings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _notebooks_dir(notebooks_dir: Path | None) -> Path:
    return Path(notebooks_dir) if notebooks_dir is not None else settings().notebooks_dir


def report_names(notebooks_dir: Path | None = None) -> list[str]:
    """Names of the runnable reports: the notebooks in ``notebooks/`` (without ``.ipynb``)."""
    return sorted(p.stem for p in _notebooks_dir(notebooks_dir).glob("*.ipynb"))


def _notebook(name: str, notebooks_dir: Path | None) -> Path:
    path = _notebooks_dir(notebooks_dir) / f"{name}.ipynb"
    if not path.is_file():
        raise NotFoundError("report", name, report_names(notebooks_dir))
    return path


def report_parameters(name: str, notebooks_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """The parameters a report's notebook declares in its ``parameters`` cell.

    Returns
    -------
    dict
        ``name -> {"type": inferred type name, "default": value, "help": comment}``.
    """
    import papermill

    declared = papermill.inspect_notebook(str(_notebook(name, notebooks_dir)))
    out: dict[str, dict[str, Any]] = {}
    for key, info in declared.items():
        try:
            default = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            default = info["default"]
        kind = info["inferred_type_name"]
        if kind == "None" and isinstance(default, bool | int | float | str):
            kind = type(default).__name__  # no annotation: the default's type
        out[key] = {"type": kind, "default": default, "help": info.get("help", "")}
    return out


_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def coerce_value(parameter: str, value: Any, *, declared: str) -> Any:
    """Convert a parameter value (often a CLI string) to the type the notebook declares.

    Parameters
    ----------
    parameter : str
        Parameter name (for the error message).
    value : object
        The value given; strings are parsed, other values are type-checked.
    declared : str
        The notebook's inferred type name (``int``, ``float``, ``bool``, ``str``, ``None`` ...).

    Raises
    ------
    ParameterError
        When the value cannot be read as the declared type.
    """
    optional = "None" in declared or "Optional" in declared
    kinds = [
        k.strip() for k in declared.replace("Optional[", "").rstrip("]").split("|") if k.strip() != "None"
    ]
    declared = kinds[0] if len(kinds) == 1 else "any"
    if optional and (
        value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", ""))
    ):
        return None
    allowed = f"{_TYPE_WORDS.get(declared, 'a value')} (the notebook's default is an {declared})"
    if not isinstance(value, str):
        ok = {
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, int | float) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "str": isinstance(value, str),
        }.get(declared, True)
        if not ok and value is not None:
            raise ParameterError(parameter, allowed=allowed, received=value)
        return value
    text = value.strip()
    try:
        if declared == "int":
            return int(text)
        if declared == "float":
            return float(text)
    except ValueError as err:
        raise ParameterError(parameter, allowed=allowed, received=value) from err
    if declared == "bool":
        lowered = text.lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise ParameterError(parameter, allowed=allowed, received=value)
    if declared == "str":
        return value
    import yaml

    try:
        return yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return value


def parse_parameter_args(args: list[str]) -> dict[str, str]:
    """Parse ``-p KEY VALUE`` pairs (papermill's form) from extra command-line words.

    Examples
    --------
    >>> parse_parameter_args(["-p", "days", "3", "--parameter", "entity", "orders"])
    {'days': '3', 'entity': 'orders'}

    Raises
    ------
    ParameterError
        For a word that is not ``-p``/``--parameter`` or a ``-p`` without KEY and VALUE.
    """
    out: dict[str, str] = {}
    i = 0
    while i < len(args):
        if args[i] not in ("-p", "--parameter"):
            raise ParameterError("arguments", allowed="-p KEY VALUE pairs", received=args[i])
        if len(args) - i < 3:
            raise ParameterError("-p", allowed="a KEY and a VALUE after -p", received=" ".join(args[i:]))
        out[args[i + 1]] = args[i + 2]
        i += 3
    return out


def _coerce(name: str, given: Mapping[str, Any], declared: dict[str, dict[str, Any]]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise ParameterError(
            unknown[0],
            allowed=f"a parameter of report {name!r}: {', '.join(sorted(declared))}",
            received=given[unknown[0]],
        )
    return {k: coerce_value(k, v, declared=declared[k]["type"]) for k, v in given.items()}


def render_html(notebook_path: Path, html_path: Path, *, show_code: bool = False) -> Path:
    """Render an executed notebook to HTML with nbconvert (code and prompts hidden by default)."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(  # type: ignore[no-untyped-call]
        template_name="lab",
        exclude_input=not show_code,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    notebook = nbformat.read(str(notebook_path), as_version=4)  # type: ignore[no-untyped-call]
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": html_path.stem}})
    html_path.write_text(body, encoding="utf-8")
    return html_path


def _new_run_dir(base: Path, now: dt.datetime) -> Path:
    stamp = now.strftime(_STAMP)
    for attempt in range(1000):
        candidate = base / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise WorkbenchError(f"cannot create a run directory under {base}")


def check_kernel(kernel_name: str) -> Path:
    """Return the kernelspec folder papermill will use, or raise a clear error.

    Raises
    ------
    ConfigError
        When no kernel of that name is installed, or its interpreter is not this one
        (``import workbench`` would then fail in the notebook).
    """
    import sys

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    hint = f"register this environment's: {sys.executable} -m ipykernel install --sys-prefix --name {kernel_name}"
    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel as err:
        raise ConfigError(f"no Jupyter kernel named {kernel_name!r}; {hint}") from err
    program = spec.argv[0] if spec.argv else ""
    # jupyter_client runs a bare "python" as the current interpreter
    if (
        program not in ("python", "python3", sys.executable)
        and Path(program).resolve() != Path(sys.executable).resolve()
    ):
        raise ConfigError(f"Jupyter kernel {kernel_name!r} runs {program}, not {sys.executable}; {hint}")
    return Path(spec.resource_dir)


def run_report(
    name: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    source: str | None = None,
    reports_dir: Path | None = None,
    notebooks_dir: Path | None = None,
    kernel_name: str | None = None,
    timeout: float = 900.0,
    show_code: bool = False,
    keep: int | None = None,
    keep_days: float | None = None,
) -> ReportResult:
    """Execute a report notebook with papermill and write its run directory.

    Parameters
    ----------
    name : str
        Notebook name in ``notebooks/`` (see :func:`report_names`).
    parameters : mapping, optional
        Values for the notebook's ``parameters`` cell; strings are converted to the
        declared type (:func:`coerce_value`).
    source : str, optional
        Shortcut for ``parameters["source"]`` (see :func:`load_source`).
    reports_dir, notebooks_dir : Path, optional
        Default: ``settings().reports_dir`` / ``settings().notebooks_dir``.
    kernel_name : str, optional
        Jupyter kernel (default: the notebook's, ``python3``).
    timeout : float
        Seconds allowed per cell.
    show_code : bool
        Keep code cells in the HTML.
    keep, keep_days : int or float, optional
        Retention applied to this report's runs after the run (see :func:`apply_retention`).

    Returns
    -------
    ReportResult

    Raises
    ------
    NotFoundError
        Unknown report name.
    ParameterError
        A parameter the notebook does not declare, or a value of the wrong type.
    ReportError
        A cell failed; the partial notebook, HTML and findings (with the error) are kept.
    """
    import nbformat
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook_in = _notebook(name, notebooks_dir)
    if kernel_name is None:
        metadata = nbformat.read(str(notebook_in), as_version=4).metadata  # type: ignore[no-untyped-call]
        kernel_name = str(metadata.get("kernelspec", {}).get("name", "python3"))
    check_kernel(kernel_name)
    given = dict(parameters or {})
    if source is not None:
        given["source"] = source
    declared = report_parameters(name, notebooks_dir)
    values = _coerce(name, given, declared)
    effective = {**{k: v["default"] for k, v in declared.items()}, **values}
    root = resolve_reports_dir(reports_dir)
    started = dt.datetime.now(dt.UTC)
    run_dir = _new_run_dir(root / name, started)
    out_nb, out_html = run_dir / "report.ipynb", run_dir / "report.html"
    findings_path = run_dir / "findings.json"
    error: dict[str, Any] | None = None
    clock = time.perf_counter()
    logger.info("running report %s -> %s", name, run_dir)
    try:
        papermill.execute_notebook(
            str(notebook_in),
            str(out_nb),
            parameters=values,
            kernel_name=kernel_name,
            progress_bar=False,
            cwd=str(notebook_in.parent),
            execution_timeout=timeout,
        )
    except PapermillExecutionError as err:
        error = {
            "cell_index": err.cell_index,
            "exec_count": err.exec_count,
            "source": err.source,
            "ename": err.ename,
            "evalue": err.evalue,
        }
    seconds = time.perf_counter() - clock
    executed: Any = {"cells": []}
    if out_nb.exists():
        executed = nbformat.read(str(out_nb), as_version=4)  # type: ignore[no-untyped-call]
    findings = collect_findings(executed)
    html: Path | None = None
    try:
        html = render_html(out_nb, out_html, show_code=show_code) if out_nb.exists() else None
    except Exception as err:  # a rendering failure must not lose the run record
        logger.warning("report %s: HTML rendering failed: %s", name, err)
    status = "failed" if error else "ok"
    record = {
        "name": name,
        "run_id": run_dir.name,
        "status": status,
        "started": started.isoformat(),
        "seconds": round(seconds, 3),
        "source": str(effective.get("source") or ""),
        "parameters": values,
        "findings": len(findings),
        "error": f"{error['ename']}: {error['evalue']} (cell {error['cell_index']})" if error else None,
        "html": str(out_html.relative_to(root)) if html else None,
        "notebook": str(out_nb.relative_to(root)),
        "findings_json": str(findings_path.relative_to(root)),
    }
    write_json(findings_path, {**record, "findings": findings, "error": error})
    write_json(run_dir / "run.json", record)
    result = ReportResult(
        name=name,
        run_id=run_dir.name,
        directory=run_dir,
        notebook=out_nb,
        html=html,
        findings_path=findings_path,
        status=status,
        parameters=values,
        findings=findings,
        seconds=seconds,
    )
    if keep is not None or keep_days is not None:
        apply_retention(root, name=name, keep=keep, keep_days=keep_days, protect=run_dir)
    else:
        write_index(root)
    if error:
        raise ReportError(
            name,
            cell_index=error["cell_index"],
            cell_source=str(error["source"]),
            ename=str(error["ename"]),
            evalue=str(error["evalue"]),
            result=result,
        )
    return result
