"""Write a :class:`~workbench.mapping.normalize.MappingResult` to the store, with its manifest.

The manifest's ``parameters`` record how the rows were made (source parameters, the
exporter tables applied) and what was *not* stored: quarantined rows by reason,
ignored and unknown exporter names with sample counts, rejected input lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workbench.errors import SourceError
from workbench.mapping.normalize import MappingResult
from workbench.store import AppendResult, Store

__all__ = ["IngestReport", "dataset_name", "save_result"]


@dataclass(frozen=True)
class IngestReport:
    """A mapping result and what the store made of it.

    Attributes
    ----------
    result : MappingResult
        Canonical rows, quarantine, unknown/ignored names, counts.
    stored : AppendResult
        The store's answer (rows added, already stored, manifest).
    """

    result: MappingResult
    stored: AppendResult


def dataset_name(text: str) -> str:
    """Turn any text (a URL, a file name) into a valid dataset name.

    Examples
    --------
    >>> dataset_name("prometheus:http://10.0.0.1:9090/")
    'prometheus-10.0.0.1-9090'
    """
    cleaned = re.sub(r"[a-z]+://", "", text)
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", cleaned).strip("-.")
    return (cleaned or "ingest")[:128]


def save_result(
    result: MappingResult,
    dataset: str,
    *,
    source: str,
    parameters: dict[str, Any] | None = None,
    store: Store | None = None,
) -> IngestReport:
    """Append the kept rows to ``dataset`` and record the accounting in its manifest.

    Raises
    ------
    SourceError
        If no row survived the mapping (the message says where the input went).
    """
    if result.frame.height == 0:
        counts = ", ".join(f"{k}={v}" for k, v in result.counts.items())
        unknown = result.unknown["name"].head(10).to_list()
        raise SourceError(
            f"nothing to store in {dataset!r}: no canonical rows came out ({counts}); "
            f"exporters detected: {result.exporters or 'none'}; unknown names: {unknown or 'none'}"
        )
    target = store if store is not None else Store()
    record = {
        **(parameters or {}),
        "exporters": result.exporters,
        "counts": result.counts,
        "quarantined_by_reason": dict(result.quarantined.group_by("reason").len().sort("reason").iter_rows()),
        "ignored_names": dict(result.ignored.select("name", "samples").iter_rows()),
        "unknown_names": dict(result.unknown.select("name", "samples").iter_rows()),
        "rejected_input": result.rejected.height,
    }
    stored = target.append(dataset, result.frame, source=source, parameters=record)
    return IngestReport(result=result, stored=stored)
