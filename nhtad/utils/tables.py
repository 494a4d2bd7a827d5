"""Result tables as text: one markdown/CSV formatter and the cells of the seed studies' tables.

Every table of nhtad goes through :func:`format_table`: the median-significance table of the
power studies (:func:`median_significance_table`), the studies' ``.md`` and ``.csv`` files
(:func:`nhtad.studies.run_sacwola_study`, :func:`nhtad.studies.run_nplm_study`) and
``nhtad study``'s printout. :func:`format_median_range` writes the "median (min to max)" cell of
a quantity over realisations.

The module lives in :mod:`nhtad.utils`, the bottom layer, because formatting text needs nothing
from the rest of the package (a median significance is read by its fields, not its class), so
plotting, the studies and the command line can all use it without an import running back up.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
from collections.abc import Mapping

import numpy as np

from .validation import check_positive_int

__all__ = ["format_table", "median_significance_table", "format_median_range"]

_FORMATS = ("markdown", "csv")
_RULES = {None: "---", "left": ":---", "right": "---:", "center": ":---:"}


def format_table(rows, columns=None, *, fmt="markdown", align=None, lineterminator="\n"):
    """A table as GitHub-flavoured markdown or CSV text.

    Parameters
    ----------
    rows : sequence of mapping or sequence of sequence
        One entry per row: a mapping ``{column: cell}`` (records; every record has the
        columns of the first) or a sequence of cells in the order of ``columns``.
    columns : sequence of str, optional
        The header. Default: the keys of the first record; required for rows given as
        sequences.
    fmt : {"markdown", "csv"}, default="markdown"
        Markdown cells are ``str(cell)`` with ``|`` escaped; CSV cells are written by
        :mod:`csv` (quoted where needed, None as an empty field).
    align : sequence of {None, "left", "right", "center"}, optional
        Markdown alignment per column; None (the default for all) leaves it to the renderer.
        Ignored for CSV.
    lineterminator : str, default="\\n"
        Line ending of the CSV text (the studies' published ``.csv`` files use ``"\\r\\n"``,
        the :mod:`csv` module's default). Markdown lines always end with ``"\\n"``.

    Returns
    -------
    str
        The markdown lines joined by newlines, without a final one; or the CSV text, each
        line terminated. Empty when there is no row and no ``columns``.

    Raises
    ------
    ValueError
        On an unknown ``fmt`` or ``align`` value, rows given as sequences without ``columns``,
        or a row or ``align`` whose length differs from the header.

    Examples
    --------
    >>> print(format_table([{"S/B": 0.01, "Z": "2.31"}, {"S/B": 0.02, "Z": "4.60"}]))
    | S/B | Z |
    |---|---|
    | 0.01 | 2.31 |
    | 0.02 | 4.60 |
    """
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be 'markdown' or 'csv'; got {fmt!r}.")
    rows = list(rows)
    if columns is None:
        if not rows:
            return ""
        if not isinstance(rows[0], Mapping):
            raise ValueError("rows given as sequences of cells need the header: pass columns=.")
        columns = list(rows[0])
    columns = list(columns)
    body = [_cells(row, columns, i) for i, row in enumerate(rows)]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=lineterminator)
        writer.writerow(columns)
        writer.writerows(body)
        return out.getvalue()
    align = [None] * len(columns) if align is None else list(align)
    if len(align) != len(columns) or any(a not in _RULES for a in align):
        raise ValueError(
            f"align must hold one of None, 'left', 'right', 'center' per column "
            f"({len(columns)}); got {align!r}."
        )
    rule = "|" + "".join(_RULES[a] + "|" for a in align)
    return "\n".join([_markdown_row(columns), rule, *(_markdown_row(r) for r in body)])


def _cells(row, columns, i):
    """The cells of one row in header order: a record's values, or a sequence as given."""
    if isinstance(row, Mapping):
        lacking = [c for c in columns if c not in row]
        if lacking:
            raise ValueError(f"row {i} lacks the columns {lacking}; it has {list(row)}.")
        return [row[c] for c in columns]
    cells = list(row)
    if len(cells) != len(columns):
        raise ValueError(f"row {i} has {len(cells)} cells for {len(columns)} columns: {cells!r}.")
    return cells


def _markdown_row(cells):
    # An unescaped "|" inside a cell would split it into two columns.
    return "| " + " | ".join(str(c).replace("|", r"\|") for c in cells) + " |"


# -- cells ----------------------------------------------------------------------------------
def format_median_range(values, fmt="{:.2f}") -> str:
    """``"median (min to max)"`` of the finite values; ``"-"`` when there are none.

    Missing entries (NaN: a failed fit) are left out and counted: ``"1.20 (0.9 to 1.5) [1 -]"``.
    A single finite value is written alone.

    Parameters
    ----------
    values : array-like of float
        The quantity over realisations.
    fmt : str, default="{:.2f}"
        :meth:`str.format` pattern of each number.

    Returns
    -------
    str
    """
    v = np.asarray(values, dtype=float)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return "-"
    # + 0.0 turns -0.0 (a Z clipped at zero from below) into 0.0 before formatting.
    text = fmt.format(np.median(finite) + 0.0)
    if finite.size > 1:
        text += f" ({fmt.format(finite.min() + 0.0)} to {fmt.format(finite.max() + 0.0)})"
    missing = v.size - finite.size
    return text + (f" [{missing} -]" if missing else "")


def _format_number(value):
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{value:g}"
    return str(value)


def _median_cell(value, where):
    if hasattr(value, "significance") and hasattr(value, "low") and hasattr(value, "high"):
        triple = (value.significance, value.low, value.high)
    else:
        try:
            triple = tuple(value)
        except TypeError:
            triple = ()
        if len(triple) != 3:
            raise ValueError(
                f"{where} must be a MedianSignificance or a (median, low, high) triple; got "
                f"{value!r}."
            )
    try:
        triple = tuple(float(v) for v in triple)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must hold numbers; got {value!r}.") from None
    if any(math.isnan(v) for v in triple):
        raise ValueError(f"{where} holds NaN: {value!r}.")
    return triple


def median_significance_table(rows, *, fmt="markdown", digits=2):
    """Table of median significances "median (low–high)" per strategy and injection.

    The summary table of the power studies of Grosso & Letizia, arXiv:2408.12296: one row
    per test or combination, one column per signal injection, each cell the Z of the median
    signal toy with its interval (:class:`~nhtad.calibration.MedianSignificance`).

    Parameters
    ----------
    rows : mapping of str to mapping
        ``{strategy: {injection: MedianSignificance or (median, low, high)}}``. Columns are the
        injections in order of first appearance; a missing cell is written "—".
    fmt : {"markdown", "csv"}, default="markdown"
        A GitHub-flavoured markdown table (Z columns right-aligned) or CSV text (the first
        column is "strategy").
    digits : int, default=2
        Decimals of every Z.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        On an unknown ``fmt``, an empty or malformed ``rows``, or NaN values.

    Examples
    --------
    >>> print(median_significance_table({"MI": {"S/B=0.005": (2.314, 1.9, 2.71)}}))
    | strategy | S/B=0.005 |
    |---|---:|
    | MI | 2.31 (1.90–2.71) |
    """
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be 'markdown' or 'csv'; got {fmt!r}.")
    digits = check_positive_int(digits, "digits", minimum=0)
    if not isinstance(rows, Mapping) or not rows:
        raise ValueError("rows must be a non-empty mapping {strategy: {injection: value}}.")
    columns = []
    cells = {}
    for strategy, row in rows.items():
        if not isinstance(row, Mapping):
            raise ValueError(
                f"rows[{strategy!r}] must be a mapping {{injection: value}}; got "
                f"{type(row).__name__}."
            )
        for injection, value in row.items():
            if injection not in columns:
                columns.append(injection)
            median, low, high = _median_cell(value, f"rows[{strategy!r}][{injection!r}]")
            cells[strategy, injection] = f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"
    if not columns:
        raise ValueError("rows holds no cell: every strategy maps to an empty mapping.")
    body = [[str(strategy), *(cells.get((strategy, c), "—") for c in columns)] for strategy in rows]
    return format_table(
        body,
        ["strategy", *(_format_number(c) for c in columns)],
        fmt=fmt,
        align=[None, *(["right"] * len(columns))],
    )
