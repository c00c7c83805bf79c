"""Exporter-native metrics → canonical frames.

Mapping tables are data files (``workbench/mapping/tables/*.yaml`` plus the user's
directories in ``WORKBENCH_MAPPING_DIRS``); :func:`map_samples` applies the ones a
source speaks, with counters turned into rates per raw series
(:mod:`workbench.mapping.rates`).
"""

from __future__ import annotations

from workbench.mapping.detect import Detection, detect_exporters
from workbench.mapping.normalize import MappingResult, map_samples
from workbench.mapping.samples import SampleSet, concat_sample_sets
from workbench.mapping.tables import MappingTable, Rule, get_table, load_table, register, table_names, tables

__all__ = [
    "Detection",
    "MappingResult",
    "MappingTable",
    "Rule",
    "SampleSet",
    "concat_sample_sets",
    "detect_exporters",
    "get_table",
    "load_table",
    "map_samples",
    "register",
    "table_names",
    "tables",
]
