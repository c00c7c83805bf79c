"""Helpers the report notebooks call: display setup, the ``source`` parameter, key findings.

Examples
--------
>>> collect_findings({"cells": [{"outputs": [{"data": {FINDING_MIME: {"key": "n", "value": 3}}}]}]})
{'n': 3}
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from workbench.errors import ParameterError

__all__ = ["FINDING_MIME", "SourceData", "collect_findings", "load_source", "publish", "setup_notebook"]

#: MIME type of a finding published by a notebook (collected into findings.json).
FINDING_MIME = "application/vnd.workbench.finding+json"


@dataclass(frozen=True)
class SourceData:
    """Frames a notebook works on: canonical metrics, ground-truth incidents, a label."""

    frame: pl.DataFrame
    incidents: pl.DataFrame
    label: str


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if isinstance(value, pl.LazyFrame):
        value = value.collect()
    if isinstance(value, pl.DataFrame):
        return json.loads(value.write_json())
    if isinstance(value, pl.Series):
        return json.loads(value.to_frame().write_json())
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _jsonable(value.item())
    return value


def publish(key: str, value: Any) -> None:
    """Record a key finding of the running notebook (collected into ``findings.json``).

    The value is displayed as a JSON bundle of :data:`FINDING_MIME` with an empty text
    fallback, so it is invisible in the notebook and the HTML but travels in the ``.ipynb``.
    Frames become lists of row objects, datetimes ISO strings.

    Parameters
    ----------
    key : str
        Name of the finding, e.g. ``"critical_findings"``.
    value : object
        A number, string, list, dict or Polars frame.
    """
    from IPython.display import display

    display(
        {FINDING_MIME: {"key": key, "value": _jsonable(value)}, "text/plain": ""},  # type: ignore[no-untyped-call]
        raw=True,
    )


def collect_findings(notebook: Any) -> dict[str, Any]:
    """The findings an executed notebook published, in cell order (later keys win)."""
    found: dict[str, Any] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []) or []:
            bundle = (output.get("data") or {}).get(FINDING_MIME)
            if isinstance(bundle, dict) and "key" in bundle:
                found[str(bundle["key"])] = bundle.get("value")
    return found


def setup_notebook() -> None:
    """Display settings for notebooks and reports.

    Plotly figures render inline and self-contained (plotly.js embedded once, so the HTML
    report works offline); Polars tables show up to 20 rows and full column names.
    """
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype+notebook"
    pl.Config.set_tbl_rows(20)
    pl.Config.set_fmt_str_lengths(80)
    pl.Config.set_tbl_width_chars(160)
    pl.Config.set_tbl_hide_dataframe_shape(True)
    pl.Config.set_tbl_hide_column_data_types(True)
    pl.Config.set_float_precision(3)


def _parse_time(value: dt.datetime | str | None, parameter: str) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as err:
        raise ParameterError(
            parameter, allowed="an ISO time such as '2026-01-06T12:00Z'", received=value
        ) from err
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


_SOURCE_FORMS = "'sim:<scenario>[:<seed>]', 'store:<dataset>', 'file:<path>', 'nab:<folder>/<file>.csv' or 'prometheus:<url>'"


def load_source(
    source: str,
    *,
    days: float = 2.0,
    start: dt.datetime | str | None = None,
    end: dt.datetime | str | None = None,
    provider: str | None = None,
    cluster: str | None = None,
    level: str | None = None,
    entity: str | None = None,
) -> SourceData:
    """Resolve a notebook's ``source`` parameter into canonical frames.

    Parameters
    ----------
    source : str
        ``sim:<scenario>[:<seed>]`` (simulate ``days`` from the scenario's start), ``store:<dataset>``
        (the Parquet store), ``file:<path>`` (a canonical Parquet/CSV file) or
        ``nab:<folder>/<file>.csv`` (a bundled real NAB series) or ``prometheus:<url>`` (pull the
        last ``days`` up to ``end`` or now).
    days : float
        Length of a simulation or of a Prometheus pull.
    start, end : datetime or ISO string, optional
        Time range to keep (``end`` exclusive); a Prometheus pull covers it.
    provider, cluster, level, entity : str, optional
        Keep only these rows (``None`` or ``""`` keeps all).

    Returns
    -------
    SourceData

    Raises
    ------
    ParameterError
        For a source string of no known form, a bad time, or filters that leave no rows.
    """
    kind, _, rest = source.partition(":")
    t0, t1 = _parse_time(start, "start"), _parse_time(end, "end")
    incidents: pl.DataFrame | None = None
    if kind == "sim" and rest:
        from workbench.sources.simulator import simulate

        scenario, _, seed_text = rest.partition(":")
        if seed_text and not seed_text.isdigit():
            raise ParameterError(
                "source", allowed="sim:<scenario>:<non-negative integer seed>", received=source
            )
        seed = int(seed_text) if seed_text else 0
        result = simulate(scenario, days=days, seed=seed)  # from the scenario's own start; t0/t1 filter
        frame, incidents, label = result.frame, result.incidents, result.source
    elif kind == "store" and rest:
        from workbench.store import Store

        store = Store()
        frame = store.scan(rest, start=t0, end=t1).collect()
        incidents, label = store.read_incidents(rest), f"store:{rest}"
    elif kind == "file" and rest:
        from workbench.frames import read_frame_file

        frame, label = read_frame_file(rest), f"file:{Path(rest).name}"
    elif kind == "nab" and rest:
        from workbench.config import settings
        from workbench.sources.files import read_nab_csv

        nab_file = settings().real_data_dir / "nab" / "data" / rest
        if not nab_file.is_file():
            raise ParameterError(
                "source", allowed="nab:<folder>/<file>.csv under data/real/nab/data", received=source
            )
        frame, label = read_nab_csv(nab_file).frame, f"nab:{rest}"
    elif kind == "prometheus" and rest:
        from workbench.sources.prometheus import PrometheusSource

        stop = t1 or dt.datetime.now(dt.UTC)
        begin = t0 or stop - dt.timedelta(days=days)
        # about 1,500 points per series: 1 s steps for minutes of data, 60 s from a day up
        step_s = min(60.0, max(1.0, round((stop - begin).total_seconds() / 1500)))
        with PrometheusSource(rest) as prom:
            mapped = prom.ingest(begin, stop, f"{step_s:g}s", provider=provider or None)
        frame, label = mapped.frame, prom.source_name
    else:
        raise ParameterError("source", allowed=_SOURCE_FORMS, received=source)
    if incidents is None:
        from workbench.frames import empty_incidents

        incidents = empty_incidents()
    filters = [
        pl.col(c).cast(pl.String) == v
        for c, v in (("provider", provider), ("cluster", cluster), ("level", level), ("entity", entity))
        if v
    ]
    if t0 is not None:
        filters.append(pl.col("ts") >= t0)
    if t1 is not None:
        filters.append(pl.col("ts") < t1)
    if filters:
        frame = frame.filter(*filters)
    if frame.is_empty():
        chosen = {
            k: v
            for k, v in {
                "provider": provider,
                "cluster": cluster,
                "level": level,
                "entity": entity,
                "start": start,
                "end": end,
            }.items()
            if v
        }
        raise ParameterError(
            next(iter(chosen), "source"),
            allowed=f"filters that match rows of {label}",
            received=chosen or source,
        )
    if cluster:
        incidents = incidents.filter(pl.col("cluster") == cluster)
    return SourceData(frame=frame, incidents=incidents, label=label)
