"""The Excel tool: renders sheets of rows into an .xlsx workbook in the run workspace."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from tools.context import ToolContext, ToolExecutionError, guess_content_type

XLSX_CONTENT_TYPE = guess_content_type("book.xlsx")
MAX_SHEET_NAME_LENGTH = 31  # Excel counts UTF-16 code units
FORBIDDEN_SHEET_NAME_CHARACTERS = frozenset("[]:*?/\\")
RESERVED_SHEET_NAMES = frozenset({"history"})  # Excel keeps it for change tracking
MAX_CELL_TEXT = 32_767
MIN_COLUMN_WIDTH = 8
MAX_COLUMN_WIDTH = 60
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill(fill_type="solid", start_color="FFD9E1F2", end_color="FFD9E1F2")

Cell = str | int | float | bool | None


def xlsx_render(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """One worksheet per sheet: a bold, filled, frozen header row, the rows below it,
    number formats per column and column widths fitted to the content."""
    relative = arguments["path"]
    if not relative.lower().endswith(".xlsx"):
        raise ToolExecutionError(f"{relative!r} must end in .xlsx; the tool writes Excel files.")
    sheets = arguments["sheets"]
    _check_sheet_names([sheet["name"] for sheet in sheets])
    workbook = Workbook()
    workbook.remove(workbook.active)
    summaries = [_add_sheet(workbook, sheet) for sheet in sheets]
    buffer = io.BytesIO()
    workbook.save(buffer)
    written = ctx.write_file(relative, buffer.getvalue(), XLSX_CONTENT_TYPE)
    return {
        "path": written.path,
        "size": written.size,
        "sha256": written.sha256,
        "content_type": written.content_type,
        "sheets": summaries,
    }


def sheet_name_problem(name: str) -> str | None:
    """Why Excel would refuse `name` as a sheet name, or None when it is fine."""
    if not name.strip():
        return "is empty"
    if len(name.encode("utf-16-le")) // 2 > MAX_SHEET_NAME_LENGTH:
        return f"is longer than Excel's {MAX_SHEET_NAME_LENGTH} characters"
    forbidden = sorted(FORBIDDEN_SHEET_NAME_CHARACTERS.intersection(name))
    if forbidden:
        return f"contains {' '.join(forbidden)}, which Excel does not allow in sheet names"
    if name.startswith("'") or name.endswith("'"):
        return "starts or ends with an apostrophe, which Excel does not allow"
    if name.casefold() in RESERVED_SHEET_NAMES:
        return "is reserved by Excel"
    return None


def _check_sheet_names(names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        problem = sheet_name_problem(name)
        if problem:
            raise ToolExecutionError(f"Sheet name {name!r} {problem}.")
        if name.casefold() in seen:
            raise ToolExecutionError(
                f"Sheet name {name!r} is used twice; Excel sheet names are unique "
                "regardless of case."
            )
        seen.add(name.casefold())


def _add_sheet(workbook: Workbook, sheet: dict[str, Any]) -> dict[str, Any]:
    name, columns, rows = sheet["name"], sheet["columns"], sheet["rows"]
    formats = _column_formats(name, columns, sheet.get("number_formats", {}))
    worksheet = workbook.create_sheet(title=name)
    widths = [len(str(column)) for column in columns]
    for position, column in enumerate(columns, start=1):
        cell = _write_cell(worksheet, 1, position, column)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
    for number, row in enumerate(rows, start=1):
        if len(row) > len(columns):
            raise ToolExecutionError(
                f"Sheet {name!r}: row {number} has {len(row)} values but the sheet has "
                f"{len(columns)} columns."
            )
        for position, value in enumerate(row, start=1):
            cell = _write_cell(worksheet, number + 1, position, value)
            if position in formats:
                cell.number_format = formats[position]
            widths[position - 1] = max(widths[position - 1], _display_width(value))
    worksheet.freeze_panes = "A2"
    for position, width in enumerate(widths, start=1):
        fitted = min(max(width + 2, MIN_COLUMN_WIDTH), MAX_COLUMN_WIDTH)
        worksheet.column_dimensions[get_column_letter(position)].width = fitted
    return {"name": name, "rows": len(rows), "columns": len(columns)}


def _column_formats(sheet: str, columns: list[str], formats: dict[str, str]) -> dict[int, str]:
    """Number format by 1-based column position; an unknown column name is an error."""
    unknown = sorted(set(formats) - set(columns))
    if unknown:
        raise ToolExecutionError(
            f"Sheet {sheet!r}: number_formats names {', '.join(map(repr, unknown))}, which "
            f"is not a column; the columns are: {', '.join(columns)}."
        )
    return {
        position: formats[column]
        for position, column in enumerate(columns, start=1)
        if column in formats
    }


def _write_cell(worksheet: Worksheet, row: int, column: int, value: Cell) -> Any:
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if len(value) > MAX_CELL_TEXT:
            raise ToolExecutionError(
                f"Sheet {worksheet.title!r}, cell {get_column_letter(column)}{row} holds "
                f"{len(value)} characters; Excel allows {MAX_CELL_TEXT}."
            )
    cell = worksheet.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        # Text stays text: "=HYPERLINK(...)" or "#N/A" from a dataset is never a formula.
        cell.data_type = "s"
    return cell


def _display_width(value: Cell) -> int:
    """Roughly how many characters wide the value shows (its longest line)."""
    if value is None:
        return 0
    if isinstance(value, float):
        shown = f"{value:,.2f}"
    elif isinstance(value, int) and not isinstance(value, bool):
        shown = f"{value:,}"
    else:
        shown = str(value)
    return max((len(line) for line in shown.splitlines()), default=0)
