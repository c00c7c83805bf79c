"""Fleet overview figures: health heatmap and topology graph.

Figures take precomputed frames (health scores, topology edges) and only shape
them for display. The one reduction done here is *display downsampling*: a
heatmap cell covering several samples shows the worst (lowest) health score
inside it, so a short dip stays visible, the same idea as MinMax downsampling
of a line. No statistic is computed.

Examples
--------
>>> import datetime as dt
>>> import polars as pl
>>> health = pl.DataFrame({
...     "ts": [dt.datetime(2026, 1, 1, 0, m, tzinfo=dt.timezone.utc) for m in range(4)] * 2,
...     "cluster": ["c1"] * 8, "level": ["topic"] * 8,
...     "entity": ["orders"] * 4 + ["billing"] * 4,
...     "score": [100.0, 90.0, 40.0, 95.0, 80.0, 80.0, 85.0, 90.0],
... })
>>> fig = health_heatmap(health, max_columns=4)
>>> fig.data[0].z.shape
(2, 4)
>>> float(fig.data[0].z.min())
40.0
"""

from __future__ import annotations

import html
import logging
from typing import Any

import numpy as np
import plotly.graph_objects as go
import polars as pl

from workbench.errors import ParameterError, SchemaError

__all__ = [
    "HEALTH_COLORSCALE",
    "LEVEL_ORDER",
    "bucket_every",
    "entity_label",
    "health_heatmap",
    "heatmap_figure",
    "heatmap_matrix",
    "topology_graph",
]

logger = logging.getLogger(__name__)

#: Red (0) through amber (50) to green (100): the health score scale.
HEALTH_COLORSCALE: list[list[Any]] = [
    [0.0, "#b2182b"],
    [0.35, "#ef8a62"],
    [0.6, "#fddbc7"],
    [0.8, "#a6d96a"],
    [1.0, "#1a9850"],
]

#: Depth of each entity level in the topology graph, left to right.
LEVEL_ORDER: dict[str, int] = {
    "cluster": 0,
    "broker": 1,
    "node": 1,
    "topic": 2,
    "queue": 2,
    "partition": 3,
    "consumer_group": 4,
}

_DURATIONS_MS = [
    (60_000, "1m"),
    (300_000, "5m"),
    (600_000, "10m"),
    (900_000, "15m"),
    (1_800_000, "30m"),
    (3_600_000, "1h"),
    (7_200_000, "2h"),
    (21_600_000, "6h"),
    (43_200_000, "12h"),
    (86_400_000, "1d"),
]


def _require(frame: pl.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(missing[0], f"{name} needs columns {columns}; has {frame.columns}")


def entity_label(cluster: str, level: str, entity: str) -> str:
    """Return the display label of an entity, HTML-escaped for Plotly text.

    Plotly renders a subset of HTML tags in text and hover labels, so user text
    (queue names) is escaped before it reaches a figure.

    Examples
    --------
    >>> entity_label("c1", "queue", "<b>x</b>")
    'c1 · queue · &lt;b&gt;x&lt;/b&gt;'
    """
    return html.escape(f"{cluster} · {level} · {entity}")


def bucket_every(span_ms: int, max_columns: int) -> str:
    """The narrowest bucket width (``1m`` … ``1d``) that fits ``span_ms`` in ``max_columns``.

    Examples
    --------
    >>> bucket_every(7 * 86_400_000, 200)
    '1h'
    """
    for width, every in _DURATIONS_MS:
        if span_ms / width <= max_columns:
            return every
    return "1d"


def heatmap_matrix(
    health: pl.DataFrame, *, max_columns: int = 400, score_column: str = "score"
) -> tuple[list[str], np.ndarray, np.ndarray, pl.DataFrame]:
    """Shape a long health frame into an entity × time matrix for display.

    Parameters
    ----------
    health : pl.DataFrame
        Columns ``ts``, ``cluster``, ``level``, ``entity`` and ``score_column``.
    max_columns : int
        Most time columns to send to the browser; samples are grouped into
        fixed-width buckets (1m, 5m, … 1d) and each cell shows the worst score.
    score_column : str
        Name of the 0–100 score column.

    Returns
    -------
    tuple
        ``(labels, times, matrix, keys)``: row labels (escaped), bucket start
        times, the matrix (rows × columns, NaN where no sample) and a frame of
        ``cluster, level, entity`` in row order.

    Examples
    --------
    >>> import datetime as dt
    >>> h = pl.DataFrame({"ts": [dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)],
    ...     "cluster": ["c"], "level": ["queue"], "entity": ["q"], "score": [50.0]})
    >>> labels, times, matrix, keys = heatmap_matrix(h)
    >>> matrix.tolist()
    [[50.0]]
    """
    if max_columns < 1:
        raise ParameterError("max_columns", allowed="an integer >= 1", received=max_columns)
    _require(health, ["ts", "cluster", "level", "entity", score_column], "health_heatmap")
    keys_cols = ["cluster", "level", "entity"]
    if health.is_empty():
        return [], np.array([]), np.zeros((0, 0)), health.select(keys_cols)
    frame = health.select(
        pl.col("ts"),
        *(pl.col(c).cast(pl.String) for c in keys_cols),
        pl.col(score_column).cast(pl.Float64).alias("score"),
    )
    bounds = frame.select(pl.col("ts").min().alias("lo"), pl.col("ts").max().alias("hi")).row(0)
    span_ms = int((bounds[1] - bounds[0]).total_seconds() * 1000) + 1
    every = bucket_every(span_ms, max_columns)
    cells = (
        frame.lazy()
        .with_columns(pl.col("ts").dt.truncate(every).alias("bucket"))
        .group_by([*keys_cols, "bucket"])
        .agg(pl.col("score").min())
        .collect()
    )
    times = cells.get_column("bucket").unique().sort()
    keys = cells.select(keys_cols).unique().sort(keys_cols).with_row_index("row")
    col_index = pl.DataFrame({"bucket": times}).with_row_index("col")
    placed = cells.join(keys, on=keys_cols).join(col_index, on="bucket")
    matrix = np.full((keys.height, times.len()), np.nan)
    matrix[placed.get_column("row").to_numpy(), placed.get_column("col").to_numpy()] = placed.get_column(
        "score"
    ).to_numpy()
    labels = [entity_label(c, lv, e) for c, lv, e in keys.select(keys_cols).iter_rows()]
    return labels, times.to_numpy(), matrix, keys.select(keys_cols)


def health_heatmap(
    health: pl.DataFrame,
    *,
    max_columns: int = 400,
    score_column: str = "score",
    height: int | None = None,
) -> go.Figure:
    """Health heatmap: one row per entity, one column per time bucket.

    Parameters
    ----------
    health : pl.DataFrame
        Long frame with ``ts, cluster, level, entity`` and a 0–100 score.
    max_columns : int
        Most time columns sent to the browser (see :func:`heatmap_matrix`).
    score_column : str
        The score column.
    height : int, optional
        Pixel height; by default grows with the number of rows (capped).

    Returns
    -------
    plotly.graph_objects.Figure
        A heatmap whose row labels come from :func:`entity_label`; a click's
        ``y`` maps back to its entity through :func:`heatmap_matrix`'s keys
        (no per-cell custom data, which would multiply the payload).
    """
    labels, times, matrix, _ = heatmap_matrix(health, max_columns=max_columns, score_column=score_column)
    return heatmap_figure(labels, times, matrix, height=height)


def heatmap_figure(
    labels: list[str], times: np.ndarray, matrix: np.ndarray, *, height: int | None = None
) -> go.Figure:
    """The heatmap figure of a matrix made by :func:`heatmap_matrix`.

    Examples
    --------
    >>> heatmap_figure(["a"], np.array([0]), np.array([[50.0]])).data[0].zmax
    100
    """
    rows = len(labels)
    fig = go.Figure(
        go.Heatmap(
            # float32 halves the payload (scores are 0-100; no precision is lost that a colour shows)
            z=matrix.astype(np.float32),
            x=times,
            y=np.array(labels, dtype=object),
            zmin=0,
            zmax=100,
            colorscale=HEALTH_COLORSCALE,
            colorbar={"title": {"text": "health"}},
            hovertemplate="%{y}<br>%{x}<br>health %{z:.0f}<extra></extra>",
            hoverongaps=False,
        )
    )
    fig.update_layout(
        height=height or int(min(900, max(260, 60 + rows * 14))),
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        yaxis={"automargin": True, "autorange": "reversed", "showticklabels": rows <= 60},
        xaxis={"title": None},
        title={"text": f"Health, {rows} entities (cell = worst score in bucket)", "x": 0},
        uirevision="heatmap",
    )
    return fig


def topology_graph(
    nodes: pl.DataFrame,
    edges: pl.DataFrame,
    *,
    score_column: str = "score",
    height: int = 520,
) -> go.Figure:
    """Topology graph (cluster → brokers/nodes → topics/queues → groups), coloured by health.

    Parameters
    ----------
    nodes : pl.DataFrame
        One row per entity: ``cluster, level, entity`` and ``score_column``
        (latest health, may be null when unknown).
    edges : pl.DataFrame
        ``cluster, parent_level, parent, child_level, child``.
    score_column : str
        The health column of ``nodes``.
    height : int
        Pixel height.

    Returns
    -------
    plotly.graph_objects.Figure
        Nodes laid out in columns by level depth; each node's ``customdata`` is
        ``[provider, cluster, level, entity]`` for click-through (provider is
        empty when ``nodes`` has no ``provider`` column).

    Examples
    --------
    >>> nodes = pl.DataFrame({"cluster": ["c", "c"], "level": ["cluster", "topic"],
    ...     "entity": ["c", "orders"], "score": [90.0, 40.0]})
    >>> edges = pl.DataFrame({"cluster": ["c"], "parent_level": ["cluster"], "parent": ["c"],
    ...     "child_level": ["topic"], "child": ["orders"]})
    >>> [t.mode for t in topology_graph(nodes, edges).data]
    ['lines', 'markers']
    """
    _require(nodes, ["cluster", "level", "entity", score_column], "topology_graph nodes")
    _require(edges, ["cluster", "parent_level", "parent", "child_level", "child"], "topology_graph edges")
    key = ["cluster", "level", "entity"]
    if "provider" not in nodes.columns:
        nodes = nodes.with_columns(pl.lit("").alias("provider"))
    placed = (
        nodes.select(
            pl.col("provider").cast(pl.String),
            *(pl.col(c).cast(pl.String) for c in key),
            pl.col(score_column).cast(pl.Float64).alias("score"),
        )
        .unique(subset=key, keep="last")
        .with_columns(
            pl.col("level").replace_strict(LEVEL_ORDER, default=5, return_dtype=pl.Int64).alias("x")
        )
        .sort(["x", "cluster", "entity"])
        .with_columns(pl.int_range(pl.len()).over("x").alias("rank"), pl.len().over("x").alias("n"))
        .with_columns(((pl.col("rank") + 0.5) / pl.col("n")).alias("y"))
    )
    pos = placed.select(*key, "x", "y")
    segs = (
        edges.select(
            pl.col("cluster").cast(pl.String),
            pl.col("parent_level").cast(pl.String),
            pl.col("parent").cast(pl.String),
            pl.col("child_level").cast(pl.String),
            pl.col("child").cast(pl.String),
        )
        .join(
            pos.rename({"level": "parent_level", "entity": "parent", "x": "x0", "y": "y0"}),
            on=["cluster", "parent_level", "parent"],
        )
        .join(
            pos.rename({"level": "child_level", "entity": "child", "x": "x1", "y": "y1"}),
            on=["cluster", "child_level", "child"],
        )
    )
    nan = np.full(segs.height, np.nan)
    ex = np.column_stack([segs["x0"].to_numpy(), segs["x1"].to_numpy(), nan]).ravel()
    ey = np.column_stack([segs["y0"].to_numpy(), segs["y1"].to_numpy(), nan]).ravel()
    labels = [entity_label(c, lv, e) for c, lv, e in placed.select(key).iter_rows()]
    scores = placed.get_column("score").to_numpy()
    fig = go.Figure(
        [
            go.Scatter(
                x=ex,
                y=ey,
                mode="lines",
                line={"width": 0.6, "color": "#adb5bd"},
                hoverinfo="skip",
                showlegend=False,
            ),
            go.Scatter(
                x=placed["x"].to_numpy(),
                y=placed["y"].to_numpy(),
                mode="markers",
                marker={
                    "size": 9 if placed.height < 300 else 5,
                    "color": np.where(np.isnan(scores), -1.0, scores),
                    "cmin": 0,
                    "cmax": 100,
                    "colorscale": HEALTH_COLORSCALE,
                    "line": {"width": 0.5, "color": "#495057"},
                    "showscale": False,
                },
                # numpy arrays: plotly validates lists element by element (slow for thousands)
                text=np.array(labels, dtype=object),
                customdata=placed.select("provider", *key).to_numpy().astype(object),
                hovertemplate="%{text}<br>health %{marker.color:.0f}<extra></extra>",
                showlegend=False,
            ),
        ]
    )
    present = sorted(set(placed["x"].to_list()))
    names = {v: k for k, v in reversed(list(LEVEL_ORDER.items()))}
    names[1] = "broker / node"
    names[2] = "topic / queue"
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 30, "b": 30},
        xaxis={
            "tickvals": present,
            "ticktext": [names.get(v, "other") for v in present],
            "showgrid": False,
            "zeroline": False,
        },
        yaxis={"visible": False, "range": [0, 1]},
        title={"text": "Topology, coloured by latest health (grey = unknown)", "x": 0},
        plot_bgcolor="white",
    )
    return fig
