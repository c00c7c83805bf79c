"""Scheduled reports: papermill runs of the notebooks, HTML renderings, an index, retention.

``run_report("fleet_exploration", {"days": 2})`` executes ``notebooks/fleet_exploration.ipynb``
into ``reports/fleet_exploration/<UTC timestamp>/`` (executed ``report.ipynb``, ``report.html``
with code hidden, ``findings.json``, ``run.json``); :func:`read_index` lists every run for the
Dash app and ``reports/index.json`` mirrors it; :func:`apply_retention` prunes old runs.
Notebooks call :func:`setup_notebook`, :func:`load_source` and :func:`publish`.
"""

from __future__ import annotations

from workbench.reports.index import INDEX_SCHEMA, apply_retention, read_index, write_index
from workbench.reports.notebook import (
    FINDING_MIME,
    SourceData,
    collect_findings,
    load_source,
    publish,
    setup_notebook,
)
from workbench.reports.runner import (
    ReportError,
    ReportResult,
    coerce_value,
    parse_parameter_args,
    render_html,
    report_names,
    report_parameters,
    run_report,
)

__all__ = [
    "FINDING_MIME",
    "INDEX_SCHEMA",
    "ReportError",
    "ReportResult",
    "SourceData",
    "apply_retention",
    "coerce_value",
    "collect_findings",
    "load_source",
    "parse_parameter_args",
    "publish",
    "read_index",
    "render_html",
    "report_names",
    "report_parameters",
    "run_report",
    "setup_notebook",
    "write_index",
]
