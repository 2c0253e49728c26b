"""Reads and writes the CSV tables the data tools work on, always through the ToolContext."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

from tools.context import ToolContext, ToolExecutionError, WrittenFile

CANDIDATE_DELIMITERS = ",;\t|"
SNIFF_SAMPLE_CHARS = 64 * 1024


@dataclass(frozen=True)
class Table:
    """A CSV file read whole: its header record, the column names (the header cells without
    surrounding spaces) and the data records. Data row N (1-based) is `rows[N - 1]`."""

    dataset: str
    header: list[str]
    columns: list[str]
    rows: list[list[str]]
    delimiter: str

    def column_index(self, name: str) -> int:
        """The position of a column; a ToolExecutionError naming it when there is none."""
        try:
            return self.columns.index(name)
        except ValueError:
            available = ", ".join(self.columns)
            raise ToolExecutionError(
                f"{self.dataset!r} has no column {name!r}; its columns are: {available}."
            ) from None

    def column_values(self, name: str) -> list[str]:
        index = self.column_index(name)
        return [row[index] for row in self.rows]


def table_read(ctx: ToolContext, dataset: str) -> Table:
    """Reads a UTF-8 CSV with a header row from the workspace, sniffing the delimiter."""
    text = _decode(dataset, ctx.read_bytes(dataset))
    delimiter = _sniff_delimiter(text)
    records = _records(dataset, text, delimiter)
    if not records:
        raise ToolExecutionError(
            f"{dataset!r} is empty; a CSV needs a header row naming its columns."
        )
    header = records[0]
    columns = [name.strip() for name in header]
    _check_header(dataset, columns)
    rows = records[1:]
    for number, row in enumerate(rows, start=1):
        if len(row) != len(columns):
            raise ToolExecutionError(
                f"{dataset!r}: data row {number} has {len(row)} fields but the header has "
                f"{len(columns)}; quote values that contain {delimiter!r}."
            )
    return Table(dataset, header, columns, rows, delimiter)


def table_write(
    ctx: ToolContext, relative: str, table: Table, rows: Sequence[Sequence[str]]
) -> WrittenFile:
    """Writes the table's header and the given rows as UTF-8 CSV with the same delimiter."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=table.delimiter, lineterminator="\n")
    writer.writerow(table.header)
    writer.writerows(rows)
    return ctx.write_file(relative, buffer.getvalue().encode("utf-8"), "text/csv")


def _decode(dataset: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ToolExecutionError(
            f"{dataset!r} is not UTF-8 text (byte {exc.start} is invalid); export it as "
            "'CSV UTF-8' and upload it again."
        ) from None


def _sniff_delimiter(text: str) -> str:
    sample = text[:SNIFF_SAMPLE_CHARS]
    if len(text) > SNIFF_SAMPLE_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # a cut record would mislead the sniffer
    try:
        return csv.Sniffer().sniff(sample, delimiters=CANDIDATE_DELIMITERS).delimiter
    except csv.Error:
        return ","  # one column, or nothing to go on: the ordinary comma


def _records(dataset: str, text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        return [record for record in reader if not _is_blank_line(record)]
    except csv.Error as exc:
        raise ToolExecutionError(
            f"{dataset!r} is not valid CSV near line {reader.line_num}: {exc}."
        ) from None


def _is_blank_line(record: list[str]) -> bool:
    return not record or (len(record) == 1 and not record[0].strip())


def _check_header(dataset: str, columns: list[str]) -> None:
    seen: set[str] = set()
    for position, name in enumerate(columns, start=1):
        if not name:
            raise ToolExecutionError(
                f"{dataset!r}: header cell {position} is empty; the first row must name "
                "every column."
            )
        if name in seen:
            raise ToolExecutionError(
                f"{dataset!r}: the header names column {name!r} twice; column names must be unique."
            )
        seen.add(name)
