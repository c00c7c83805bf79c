"""Rich renderings of small frames, shared by the CLI and the demo."""

from __future__ import annotations

import polars as pl
from rich import box
from rich.table import Table

__all__ = ["frame_table"]


def frame_table(
    frame: pl.DataFrame, title: str | None = None, max_rows: int = 30, *, first_column_no_wrap: bool = False
) -> Table:
    """Render a small Polars frame as a rich table (datetimes to the minute).

    Parameters
    ----------
    frame : pl.DataFrame
        The rows to show.
    title : str, optional
        Table title.
    max_rows : int
        Rows shown; a caption says how many there were.
    first_column_no_wrap : bool
        Keep the first column (usually a name) on one line.

    Examples
    --------
    >>> import polars as pl
    >>> frame_table(pl.DataFrame({"a": [1, 2, 3]}), max_rows=2).caption
    '2 of 3 rows shown'
    """
    table = Table(title=title, show_lines=False, box=box.SIMPLE_HEAD, pad_edge=False)
    for i, column in enumerate(frame.columns):
        table.add_column(column, overflow="fold", no_wrap=first_column_no_wrap and i == 0)
    shown = frame.head(max_rows).with_columns(pl.col(pl.Datetime).dt.strftime("%Y-%m-%d %H:%M"))
    for row in shown.iter_rows():
        table.add_row(*["" if v is None else str(v) for v in row])
    if frame.height > max_rows:
        table.caption = f"{max_rows} of {frame.height} rows shown"
    return table
