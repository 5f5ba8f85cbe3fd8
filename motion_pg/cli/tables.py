"""Tables that stay readable at 80 columns and in pipes, and never cut a name.

:func:`print_rows` prints a table when its columns fit the console's width (a pipe's is 80, or
``$COLUMNS``), letting only ``text`` columns wrap; when even that does not fit, one record per row:
the row's name on a line, then ``header: value`` pairs packed into indented lines. Names (triggers,
classes, relations) are always printed whole, so they stay greppable.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import Literal

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

Kind = Literal["name", "number", "text"]
_GAP = 2  # spaces between two columns
_MIN_TEXT = 10  # a wrapping text column is never narrower


def print_rows(
    console: Console,
    columns: Sequence[tuple[str, Kind]],
    rows: Sequence[Sequence[str]],
    title: str | None = None,
) -> None:
    """Print ``rows`` under ``columns`` ((header, kind) pairs): ``name`` and ``number`` cells are
    never wrapped nor cut, ``text`` cells wrap at spaces."""
    if title:
        console.print(f"[bold]{escape(title)}[/bold]", soft_wrap=True)
    # gaps between columns, and the padding rich leaves after the last one
    spare = console.width - _GAP * len(columns) + 1
    whole = _widths(columns, rows, lambda header: [header])
    # else a header may wrap at its spaces ("infer errors" over two lines); cells never do
    words = _widths(columns, rows, str.split)
    for widths, wrap_headers in ((whole, False), (words, True)):
        if _least(columns, widths) <= spare:
            console.print(_table(columns, rows, widths, wrap_headers), soft_wrap=False)
            return
    for row in rows:
        for line in _record(columns, row, console.width):
            console.print(escape(line), soft_wrap=True, highlight=False)


def _widths(
    columns: Sequence[tuple[str, Kind]],
    rows: Sequence[Sequence[str]],
    parts: Callable[[str], list[str]],
) -> list[int]:
    return [
        max([*(len(p) for p in parts(header)), *(len(row[i]) for row in rows)])
        for i, (header, _) in enumerate(columns)
    ]


def _least(columns: Sequence[tuple[str, Kind]], widths: Sequence[int]) -> int:
    """The narrowest the columns can be: text columns wrap down to _MIN_TEXT."""
    return sum(
        min(w, _MIN_TEXT) if kind == "text" else w
        for w, (_, kind) in zip(widths, columns, strict=True)
    )


def _table(
    columns: Sequence[tuple[str, Kind]],
    rows: Sequence[Sequence[str]],
    widths: Sequence[int],
    wrap_headers: bool,
) -> Table:
    # SIMPLE_HEAD separates columns with one space; a right padding of one makes the gap
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, _GAP - 1, 0, 0))
    for (header, kind), width in zip(columns, widths, strict=True):
        if kind == "text":
            table.add_column(header, overflow="fold", min_width=min(width, _MIN_TEXT))
        elif kind == "number" and wrap_headers:
            # wrappable only so that the header may: no cell is wider than width
            table.add_column(header, min_width=width, max_width=width, justify="right")
        else:  # never wrapped: rich then shrinks only the text columns
            table.add_column(header, no_wrap=True, min_width=width,
                             justify="right" if kind == "number" else "left")  # fmt: skip
    for row in rows:
        table.add_row(*(escape(cell) for cell in row))
    return table


def _record(columns: Sequence[tuple[str, Kind]], row: Sequence[str], width: int) -> list[str]:
    """One row as a name line and packed ``header: value`` lines."""
    (first, kind), rest = columns[0], columns[1:]
    lines = [row[0] if kind == "name" else f"{first} {row[0]}"]
    line = ""
    for (header, kind), cell in zip(rest, row[1:], strict=True):
        item = f"{header}: {cell if cell != '' else '-'}"
        if line and 2 + len(line) + _GAP + len(item) > width:
            lines.append("  " + line)
            line = ""
        if kind == "text" and 2 + len(item) > width:
            if line:
                lines.append("  " + line)
                line = ""
            lines += textwrap.wrap(item, width, initial_indent="  ", subsequent_indent="    ",
                                   break_on_hyphens=False)  # fmt: skip
            continue
        line = f"{line}{' ' * _GAP}{item}" if line else item
    if line:
        lines.append("  " + line)
    return lines
