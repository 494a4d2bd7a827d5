"""nhtad.utils.tables: the one markdown/CSV formatter and the tables built on it."""

import json
from pathlib import Path

import numpy as np
import pytest

from nhtad.calibration import MedianSignificance, median_significance
from nhtad.utils.tables import format_median_range, format_table, median_significance_table

STUDIES = Path(__file__).resolve().parents[1] / "docs" / "studies"


# -- format_table ----------------------------------------------------------------------------
def test_records_give_the_header_from_the_first_row():
    rows = [{"S/B": 0.01, "Z": "2.31"}, {"S/B": 0.02, "Z": None}]
    assert format_table(rows).splitlines() == [
        "| S/B | Z |",
        "|---|---|",
        "| 0.01 | 2.31 |",
        "| 0.02 | None |",
    ]
    # csv writes None as an empty field and quotes what needs it.
    rows.append({"S/B": "a,b", "Z": 'say "x"'})
    assert format_table(rows, fmt="csv") == 'S/B,Z\n0.01,2.31\n0.02,\n"a,b","say ""x"""\n'
    assert format_table(rows, fmt="csv", lineterminator="\r\n").count("\r\n") == 4


def test_sequences_with_a_header_alignment_and_escaped_pipes():
    text = format_table([["a|b", 1.5]], ["name", "Z"], align=[None, "right"])
    assert text == "| name | Z |\n|---|---:|\n| a\\|b | 1.5 |"
    assert format_table([], ["x"], align=["center"]) == "| x |\n|:---:|"
    assert format_table([]) == "" and format_table([], fmt="csv") == ""


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([{"a": 1}],), {"fmt": "latex"}, r"fmt must be 'markdown' or 'csv'"),
        (([[1, 2]],), {}, r"need the header: pass columns="),
        (([[1, 2]], ["a"]), {}, r"row 0 has 2 cells for 1 columns"),
        (([{"a": 1, "b": 2}, {"a": 3}],), {}, r"row 1 lacks the columns \['b'\]"),
        (([[1]], ["a"]), {"align": ["middle"]}, r"align must hold one of"),
        (([[1]], ["a"]), {"align": [None, None]}, r"align must hold one of"),
    ],
)
def test_format_table_bad_input(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        format_table(*args, **kwargs)


@pytest.mark.parametrize("name", ["sacwola/sacwola_table", "nplm/nplm_table"])
def test_published_study_tables_are_reproduced_byte_for_byte(name):
    """The studies' .md and .csv files come from format_table of the JSON's table."""
    table = json.loads((STUDIES / f"{name}.json").read_text())["table"]
    assert format_table(table) in (STUDIES / f"{name}.md").read_text()
    csv_bytes = (STUDIES / f"{name}.csv").read_bytes()
    assert format_table(table, fmt="csv", lineterminator="\r\n").encode() == csv_bytes


# -- format_median_range ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, fmt, expected",
    [
        ([1.2, 0.9, 1.5], "{:.2f}", "1.20 (0.90 to 1.50)"),
        ([1.2, np.nan, 0.9, 1.5], "{:.1f}", "1.2 (0.9 to 1.5) [1 -]"),
        ([-0.0, -0.0], "{:.2f}", "0.00 (0.00 to 0.00)"),
        ([7.0], "{:.0f} s", "7 s"),
        ([np.nan], "{:.2f}", "-"),
        ([], "{:.2f}", "-"),
    ],
)
def test_format_median_range(values, fmt, expected):
    assert format_median_range(values, fmt) == expected


# -- median_significance_table ---------------------------------------------------------------
def test_median_significance_table_markdown_and_csv():
    rng = np.random.default_rng(5)
    null = rng.normal(size=2000)
    ms = median_significance(null, rng.normal(2.0, 1.0, size=300))
    assert isinstance(ms, MedianSignificance)
    rows = {"MI": {0.005: ms, 0.01: (3.456, 3.0, 3.9)}, "bump hunt": {0.01: (1.0, 0.5, 1.5)}}
    table = median_significance_table(rows)
    lines = table.splitlines()
    assert lines[0] == "| strategy | 0.005 | 0.01 |"
    assert lines[1] == "|---|---:|---:|"
    cell = f"{ms.significance:.2f} ({ms.low:.2f}–{ms.high:.2f})"
    assert lines[2] == f"| MI | {cell} | 3.46 (3.00–3.90) |"
    assert lines[3] == "| bump hunt | — | 1.00 (0.50–1.50) |"

    text = median_significance_table(rows, fmt="csv", digits=1)
    assert text.splitlines() == [
        "strategy,0.005,0.01",
        f"MI,{ms.significance:.1f} ({ms.low:.1f}–{ms.high:.1f}),3.5 (3.0–3.9)",
        "bump hunt,—,1.0 (0.5–1.5)",
    ]


@pytest.mark.parametrize(
    "rows, kwargs, match",
    [
        ({"MI": {1: (1.0, 0.5, 1.5)}}, {"fmt": "latex"}, r"fmt must be 'markdown' or 'csv'"),
        ({}, {}, r"non-empty mapping"),
        ({"MI": {1: (1.0, 0.5)}}, {}, r"rows\['MI'\]\[1\] must be a MedianSignificance"),
        ({"MI": {1: (np.nan, 0.5, 1.5)}}, {}, r"rows\['MI'\]\[1\] holds NaN"),
        ({"MI": [1.0]}, {}, r"rows\['MI'\] must be a mapping"),
        ({"MI": {}}, {}, r"rows holds no cell"),
    ],
)
def test_median_significance_table_bad_input(rows, kwargs, match):
    with pytest.raises(ValueError, match=match):
        median_significance_table(rows, **kwargs)


def test_plotting_alias_is_deprecated_and_gives_the_same_text():
    from nhtad import plotting

    rows = {"MI": {0.01: (3.456, 3.0, 3.9)}}
    with pytest.warns(FutureWarning, match=r"use nhtad\.utils\.tables\.median_significance_table"):
        old = plotting.median_significance_table(rows, fmt="csv", digits=1)
    assert old == median_significance_table(rows, fmt="csv", digits=1)
    assert "median_significance_table" in plotting.__all__
