"""Write simulated exporter-native history as OpenMetrics for ``promtool`` backfill.

``promtool tsdb create-blocks-from openmetrics`` wants timestamps in seconds, each metric
family once (all its samples together), counters declared ``# TYPE x counter`` with
samples ``x_total``, and ``# EOF`` at the end. It re-reads its whole input once per 2-hour
block, so history is split into one file per window (``window="2h"``), each a complete
OpenMetrics document.

Examples
--------
>>> import tempfile, pathlib
>>> from workbench.sources.simulator import simulate
>>> from workbench.sources.simulator.openmetrics import write_openmetrics
>>> r = simulate("default", days=0.05, seed=1)
>>> paths = write_openmetrics(r.native_blocks, r.calendar.ts_ms, pathlib.Path(tempfile.mkdtemp()))
>>> paths[0].read_text().rstrip().endswith("# EOF")
True
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from numpy.typing import NDArray

from workbench.errors import ParameterError, StoreError
from workbench.sources.simulator.core import NativeBlock
from workbench.sources.simulator.spec import parse_duration

__all__ = ["write_openmetrics"]

logger = logging.getLogger(__name__)
_TYPES = {"counter": "counter", "gauge": "gauge", "untyped": "unknown"}


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _series_prefix(block: NativeBlock) -> list[str]:
    keys = sorted(block.labels)
    rows = block.values.shape[0]
    out = []
    for r in range(rows):
        inner = ",".join(f'{k}="{_escape_label(block.labels[k][r])}"' for k in keys)
        out.append(f"{block.name}{{{inner}}}" if inner else block.name)
    return out


def _family_text(blocks: Sequence[NativeBlock], ts_seconds: pl.Series, lo: int, hi: int) -> str:
    first = blocks[0]
    header = f"# HELP {first.family} {_escape_help(first.help)}\n# TYPE {first.family} {_TYPES[first.kind]}\n"
    prefixes = [p for b in blocks for p in _series_prefix(b)]
    values = np.concatenate([b.values[:, lo:hi] for b in blocks], axis=0)
    series = pl.DataFrame({"prefix": prefixes})
    times = pl.DataFrame({"t": ts_seconds[lo:hi]})
    lines = (
        series.lazy()
        .join(times.lazy(), how="cross", maintain_order="left_right")
        .with_columns(pl.Series("v", values.ravel(), dtype=pl.Float64))
        .filter(pl.col("v").is_not_nan())
        .select(
            pl.concat_str([pl.col("prefix"), pl.col("v").cast(pl.String), pl.col("t")], separator=" ").alias(
                "line"
            )
        )
        .collect()
    )
    if lines.height == 0:
        return header
    return header + "\n".join(lines["line"].to_list()) + "\n"


def write_openmetrics(
    blocks: Sequence[NativeBlock],
    ts_ms: NDArray[np.int64],
    path: str | Path,
    *,
    window: str | dt.timedelta = "2h",
) -> list[Path]:
    """Write native history as OpenMetrics files, one per ``window`` of time.

    Parameters
    ----------
    blocks : sequence of NativeBlock
        From :attr:`SimulationResult.native_blocks`.
    ts_ms : ndarray
        Sample times in milliseconds (``result.calendar.ts_ms``).
    path : path
        A directory (created if needed) for ``history-0000.om``, ``history-0001.om``, ...
    window : str or timedelta
        Time span per file (promtool makes one block per 2 h; one file per block is fastest).

    Returns
    -------
    list of Path
        The files written, in time order.

    Raises
    ------
    ParameterError
        For a non-positive window.
    StoreError
        If a file cannot be written.
    """
    span_ms = int(parse_duration(window).total_seconds() * 1000)
    if span_ms <= 0:
        raise ParameterError("window", allowed="a positive duration such as '2h'", received=window)
    directory = Path(path)
    families: dict[str, list[NativeBlock]] = {}
    for block in blocks:
        if block.values.shape[0]:
            families.setdefault(block.family, []).append(block)
    whole = bool(np.all(ts_ms % 1000 == 0))
    seconds = pl.Series("t", ts_ms // 1000 if whole else ts_ms / 1000.0).cast(pl.String)
    edges = np.flatnonzero(np.diff(ts_ms // span_ms)) + 1
    bounds = np.concatenate([[0], edges, [ts_ms.size]])
    written: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
            target = directory / f"history-{i:04d}.om"
            tmp = target.with_suffix(".om.tmp")
            with tmp.open("w", encoding="utf-8") as handle:
                for group in families.values():
                    handle.write(_family_text(group, seconds, int(lo), int(hi)))
                handle.write("# EOF\n")
            tmp.replace(target)
            written.append(target)
    except OSError as err:
        raise StoreError(f"cannot write OpenMetrics history to {directory}: {err}") from err
    logger.info("wrote %d OpenMetrics files to %s", len(written), directory)
    return written
