"""Plotly figures built from precomputed frames (no statistics are computed here).

Modules: :mod:`workbench.figures.overview` (health heatmap, topology graph) and
:mod:`workbench.figures.entity` (metric panels with anomaly highlights, lag-status
timeline, decomposition, forecast band, live lines).
"""
