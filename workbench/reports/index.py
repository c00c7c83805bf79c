"""The reports index (``reports/index.json``, :func:`read_index` for the Dash app) and retention."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from workbench.config import settings
from workbench.errors import ParameterError

__all__ = [
    "INDEX_SCHEMA",
    "apply_retention",
    "read_index",
    "resolve_reports_dir",
    "write_index",
    "write_json",
]

logger = logging.getLogger(__name__)

INDEX_SCHEMA: dict[str, Any] = {
    "name": pl.String,
    "run_id": pl.String,
    "status": pl.String,
    "started": pl.Datetime("ms", "UTC"),
    "seconds": pl.Float64,
    "source": pl.String,
    "parameters": pl.String,
    "findings": pl.Int64,
    "error": pl.String,
    "html": pl.String,
    "notebook": pl.String,
    "findings_json": pl.String,
}


def resolve_reports_dir(path: Path | None = None) -> Path:
    """``path``, or the configured reports folder (``WORKBENCH_REPORTS_DIR``, default ``reports/``)."""
    return Path(path) if path is not None else settings().reports_dir


def write_json(path: Path, payload: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.chmod(tmp, 0o644)  # served by the Dash app and web servers, like the HTML beside it
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, default=str)
    os.replace(tmp, path)


def _records(root: Path) -> list[dict[str, Any]]:
    records = []
    for path in root.glob("*/*/run.json"):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as err:
            logger.warning("skipping unreadable run record %s: %s", path, err)
    return records


def read_index(reports_dir: Path | None = None) -> pl.DataFrame:
    """Every report run, newest first (the Dash app's reports table).

    Built from each run's ``run.json``, so it is right even if ``index.json`` is stale.

    Returns
    -------
    DataFrame
        :data:`INDEX_SCHEMA`: name, run_id, status, started, seconds, source, parameters (JSON),
        findings (count), error, and paths relative to the reports folder: html, notebook,
        findings_json.
    """
    root = resolve_reports_dir(reports_dir)
    rows = [
        {
            **r,
            "parameters": json.dumps(r.get("parameters", {}), sort_keys=True, default=str),
            "started": dt.datetime.fromisoformat(r["started"]),
        }
        for r in _records(root)
    ]
    frame = pl.DataFrame(rows, schema=INDEX_SCHEMA) if rows else pl.DataFrame(schema=INDEX_SCHEMA)
    return frame.sort("started", "run_id", descending=True)


def write_index(reports_dir: Path | None = None) -> Path:
    """Rewrite ``reports/index.json`` (atomically) from the run records."""
    root = resolve_reports_dir(reports_dir)
    root.mkdir(parents=True, exist_ok=True)
    index = read_index(root).with_columns(pl.col("started").dt.to_string("%Y-%m-%dT%H:%M:%S%.3fZ"))
    path = root / "index.json"
    write_json(path, {"reports": index.to_dicts()})
    return path


def apply_retention(
    reports_dir: Path | None = None,
    *,
    name: str | None = None,
    keep: int | None = None,
    keep_days: float | None = None,
    now: dt.datetime | None = None,
    protect: Path | None = None,
) -> list[Path]:
    """Delete old report runs: keep the newest ``keep`` per report and/or the last ``keep_days``.

    Parameters
    ----------
    reports_dir : Path, optional
        Reports folder.
    name : str, optional
        Only this report (default: every report).
    keep : int, optional
        Runs to keep per report (newest first).
    keep_days : float, optional
        Keep runs that started within this many days of ``now``.
    now : datetime, optional
        Reference time (default: now, UTC).
    protect : Path, optional
        A run directory never deleted (the run just made).

    Returns
    -------
    list of Path
        The run directories deleted.

    Raises
    ------
    ParameterError
        For ``keep`` < 1 or ``keep_days`` <= 0.
    """
    if keep is not None and keep < 1:
        raise ParameterError("keep", allowed="an integer >= 1", received=keep)
    if keep_days is not None and not keep_days > 0:
        raise ParameterError("keep_days", allowed="a number of days > 0", received=keep_days)
    root = resolve_reports_dir(reports_dir)
    index = read_index(root)
    if name is not None:
        index = index.filter(pl.col("name") == name)
    cutoff = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=keep_days) if keep_days else None
    ranked = index.with_columns(rank=pl.col("started").rank("ordinal", descending=True).over("name"))
    doomed = ranked.filter(
        (pl.col("rank") > keep if keep is not None else pl.lit(False))
        | (pl.col("started") < cutoff if cutoff is not None else pl.lit(False))
    )
    removed = []
    for run_name, run_id in doomed.select("name", "run_id").iter_rows():
        directory = root / run_name / run_id
        if protect is not None and directory.resolve() == protect.resolve():
            continue
        shutil.rmtree(directory, ignore_errors=True)
        removed.append(directory)
        logger.info("retention: removed %s", directory)
    write_index(root)
    return removed
