"""Tests for tools.builtin.xlsx.xlsx_render (tools.studio.xlsx.render)."""

import hashlib
import re

import openpyxl
import pytest

from tools.builtin import BUILTIN_IMPLEMENTATIONS
from tools.context import ToolExecutionError

RENDER = "tools.studio.xlsx.render"

ALLOCATION = {
    "name": "Allocation",
    "columns": ["Product", "Direct", "Shared", "Total"],
    "rows": [["Atlas", 50000, 7500, 57500], ["Beacon", 30000, 4500.5, 34500.5]],
    "number_formats": {"Direct": "#,##0.00", "Shared": "#,##0.00", "Total": "#,##0.00"},
}
VARIANCE = {
    "name": "Variance",
    "columns": ["Product", "Delta %", "Flagged"],
    "rows": [["Beacon", 15.0, True], ["Cirrus", -2.13, None]],
    "number_formats": {"Delta %": "0.00"},
}


@pytest.fixture
def pack(call_tool, workspace):
    """Renders the two-sheet pack and returns (result, opened workbook)."""
    result = call_tool(RENDER, {"path": "cost-pack.xlsx", "sheets": [ALLOCATION, VARIANCE]})
    return result, openpyxl.load_workbook(workspace / "cost-pack.xlsx")


def test_render_describes_the_file_and_its_sheets(pack, workspace):
    result, _ = pack
    data = (workspace / "cost-pack.xlsx").read_bytes()
    assert result == {
        "path": "cost-pack.xlsx",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "sheets": [
            {"name": "Allocation", "rows": 2, "columns": 4},
            {"name": "Variance", "rows": 2, "columns": 3},
        ],
    }


def test_render_records_the_workbook_as_an_artifact(pack, ctx):
    assert [item.path for item in ctx.written] == ["cost-pack.xlsx"]


def test_the_workbook_has_the_sheets_and_values(pack):
    _, workbook = pack
    assert workbook.sheetnames == ["Allocation", "Variance"]
    assert [list(row) for row in workbook["Allocation"].iter_rows(values_only=True)] == [
        ["Product", "Direct", "Shared", "Total"],
        ["Atlas", 50000, 7500, 57500],
        ["Beacon", 30000, 4500.5, 34500.5],
    ]
    assert [list(row) for row in workbook["Variance"].iter_rows(values_only=True)] == [
        ["Product", "Delta %", "Flagged"],
        ["Beacon", 15.0, True],
        ["Cirrus", -2.13, None],
    ]


def test_the_header_row_is_bold_filled_and_frozen(pack):
    _, workbook = pack
    sheet = workbook["Allocation"]
    header = sheet[1]
    assert [cell.font.bold for cell in header] == [True, True, True, True]
    assert {(cell.fill.fill_type, cell.fill.fgColor.rgb) for cell in header} == {
        ("solid", "FFD9E1F2")
    }
    assert sheet["A2"].font.bold is False
    assert sheet.freeze_panes == "A2"


def test_number_formats_apply_to_their_columns_only(pack):
    _, workbook = pack
    allocation, variance = workbook["Allocation"], workbook["Variance"]
    assert [cell.number_format for cell in allocation[2]] == [
        "General", "#,##0.00", "#,##0.00", "#,##0.00",
    ]  # fmt: skip
    assert [cell.number_format for cell in variance[3]] == ["General", "0.00", "General"]


def test_column_widths_fit_the_content_within_bounds(call_tool, workspace):
    sheet = {"name": "W", "columns": ["id", "text"], "rows": [["x", "y" * 30], ["z", "w" * 500]]}
    call_tool(RENDER, {"path": "w.xlsx", "sheets": [sheet]})
    dimensions = openpyxl.load_workbook(workspace / "w.xlsx")["W"].column_dimensions
    assert (dimensions["A"].width, dimensions["B"].width) == (8, 60)


def test_text_that_looks_like_a_formula_stays_text(call_tool, workspace):
    sheet = {"name": "Data", "columns": ["note"], "rows": [['=HYPERLINK("http://x")'], ["#N/A"]]}
    call_tool(RENDER, {"path": "t.xlsx", "sheets": [sheet]})
    cells = openpyxl.load_workbook(workspace / "t.xlsx")["Data"]["A"]
    assert [(cell.value, cell.data_type) for cell in cells[1:]] == [
        ('=HYPERLINK("http://x")', "s"),
        ("#N/A", "s"),
    ]


def test_short_rows_leave_the_remaining_cells_empty(call_tool, workspace):
    sheet = {"name": "S", "columns": ["a", "b"], "rows": [["only a"]]}
    call_tool(RENDER, {"path": "s.xlsx", "sheets": [sheet]})
    rows = openpyxl.load_workbook(workspace / "s.xlsx")["S"].iter_rows(values_only=True)
    assert list(rows) == [("a", "b"), ("only a", None)]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("x" * 32, "is longer than Excel's 31 characters"),
        ("Q1/Q2", "contains /, which Excel does not allow"),
        ("'quoted'", "starts or ends with an apostrophe"),
        ("History", "is reserved by Excel"),
        ("   ", "is empty"),
    ],
)
def test_sheet_names_excel_refuses_are_tool_errors(ctx, name, message):
    sheets = [{"name": name, "columns": ["a"], "rows": []}]
    with pytest.raises(ToolExecutionError, match=message):
        BUILTIN_IMPLEMENTATIONS[RENDER](ctx, {"path": "x.xlsx", "sheets": sheets})
    assert ctx.written == []


def test_sheet_names_must_be_unique_ignoring_case(ctx):
    sheets = [{"name": "Data", "columns": ["a"], "rows": []}] * 1 + [
        {"name": "DATA", "columns": ["a"], "rows": []}
    ]
    with pytest.raises(ToolExecutionError, match="'DATA' is used twice"):
        BUILTIN_IMPLEMENTATIONS[RENDER](ctx, {"path": "x.xlsx", "sheets": sheets})


def test_a_row_longer_than_the_columns_is_a_tool_error(ctx):
    sheets = [{"name": "Data", "columns": ["a"], "rows": [["1"], ["2", "3"]]}]
    with pytest.raises(ToolExecutionError, match="row 2 has 2 values but the sheet has 1"):
        BUILTIN_IMPLEMENTATIONS[RENDER](ctx, {"path": "x.xlsx", "sheets": sheets})


def test_a_number_format_for_an_unknown_column_is_a_tool_error(ctx):
    sheets = [{"name": "D", "columns": ["a"], "rows": [], "number_formats": {"Total": "0.00"}}]
    with pytest.raises(ToolExecutionError, match="number_formats names 'Total', which is not"):
        BUILTIN_IMPLEMENTATIONS[RENDER](ctx, {"path": "x.xlsx", "sheets": sheets})


def test_the_path_must_name_an_xlsx_file(ctx):
    sheets = [{"name": "D", "columns": ["a"], "rows": []}]
    with pytest.raises(ToolExecutionError, match=re.escape("'pack.xls' must end in .xlsx")):
        BUILTIN_IMPLEMENTATIONS[RENDER](ctx, {"path": "pack.xls", "sheets": sheets})


def test_render_refuses_a_path_outside_the_workspace(ctx, tmp_path):
    sheets = [{"name": "D", "columns": ["a"], "rows": []}]
    with pytest.raises(ToolExecutionError, match="must be relative to the run workspace"):
        BUILTIN_IMPLEMENTATIONS[RENDER](ctx, {"path": "../pack.xlsx", "sheets": sheets})
    assert not (tmp_path / "pack.xlsx").exists()
