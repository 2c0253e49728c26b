"""The run page's artifacts: each file the run wrote, folded, with a preview where one helps a
person read it: Markdown rendered (raw HTML in it is escaped, never passed through), CSV and
xlsx as a table of their first rows, other text as text; and a download link."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path
from typing import Any

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt
from openpyxl import load_workbook

from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact, Run
from tools.paths import file_inside

PREVIEW_ROWS = 10
PREVIEW_COLUMNS = 20
PREVIEW_CELL_CHARS = 120
PREVIEW_TEXT_BYTES = 64 * 1024
MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")
TEXT_SUFFIXES = {".txt", ".json", ".yaml", ".yml", ".log"}


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= PREVIEW_CELL_CHARS else text[: PREVIEW_CELL_CHARS - 1] + "…"


def rows_table(rows: list[list[Any]]) -> SafeString:
    """The first row as the header, then the rest; cells cut to a readable length."""
    if not rows:
        return format_html('<p class="as-note">{}</p>', "The table is empty.")
    head, *body = [[_cell(value) for value in row[:PREVIEW_COLUMNS]] for row in rows]
    header = format_html_join("", "<th>{}</th>", ((cell,) for cell in head))
    lines = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in body),
    )
    return format_html(
        '<div class="as-table-preview"><table><thead><tr>{}</tr></thead><tbody>{}</tbody>'
        "</table></div>",
        header,
        lines,
    )


def csv_rows(path: Path) -> list[list[Any]]:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        return [row for _, row in zip(range(PREVIEW_ROWS + 1), reader, strict=False)]


def xlsx_rows(path: Path) -> list[list[Any]]:
    workbook = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = workbook.worksheets[0]
        rows = [
            list(row)
            for row in sheet.iter_rows(
                max_row=PREVIEW_ROWS + 1, max_col=PREVIEW_COLUMNS, values_only=True
            )
        ]
    finally:
        workbook.close()
    width = max(
        (index + 1 for row in rows for index, value in enumerate(row) if value is not None),
        default=0,
    )
    return [row[:width] for row in rows]


def read_text(path: Path) -> str:
    with path.open("rb") as handle:
        data = handle.read(PREVIEW_TEXT_BYTES + 1)
    text = data[:PREVIEW_TEXT_BYTES].decode("utf-8", errors="replace")
    return text + ("\n…" if len(data) > PREVIEW_TEXT_BYTES else "")


def artifact_preview(run: Run, artifact: Artifact) -> SafeString:
    """What the file holds, shown for reading; a note when there is no preview for it."""
    target = file_inside(run_workspace(run.pk), artifact.path)
    if target is None:
        return format_html('<p class="as-note">{}</p>', "The file is not in the workspace.")
    suffix = target.suffix.lower()
    try:
        if suffix in (".md", ".markdown"):
            rendered = MARKDOWN.render(read_text(target))
            return format_html('<div class="as-markdown">{}</div>', mark_safe(rendered))  # noqa: S308  (html disabled: markdown-it escapes raw HTML)
        if suffix == ".csv":
            return rows_table(csv_rows(target))
        if suffix == ".xlsx":
            return rows_table(xlsx_rows(target))
        if suffix in TEXT_SUFFIXES or artifact.content_type.startswith("text/"):
            return format_html('<pre class="as-code as-wrap">{}</pre>', read_text(target))
    except (OSError, csv.Error, zipfile.BadZipFile, KeyError, ValueError) as exc:
        return format_html('<p class="as-note">No preview: {}</p>', str(exc) or type(exc).__name__)
    return format_html('<p class="as-note">{}</p>', "No preview for this kind of file.")


def _size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def run_artifacts(run: Run) -> SafeString:
    artifacts = list(Artifact.objects.filter(run=run).order_by("path"))
    if not artifacts:
        return format_html('<p class="as-note">{}</p>', "The run wrote no files.")
    folds = [
        format_html(
            '<details class="as-fold as-artifact" data-path="{}"><summary><code>{}</code> '
            '<span class="as-note">{} · {} · step {}</span> '
            '<a href="{}" class="as-download">Download</a></summary>{}</details>',
            artifact.path,
            artifact.path,
            artifact.content_type or "unknown type",
            _size_text(artifact.size),
            artifact.step_id or "—",
            reverse("admin:playbooks_run_artifact", args=[run.pk, artifact.pk]),
            artifact_preview(run, artifact),
        )
        for artifact in artifacts
    ]
    return format_html_join("", "{}", ((fold,) for fold in folds))
