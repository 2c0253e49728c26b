"""The payload as people read it, from the view a registered renderer gives
(approvals.context): rules as a table, an HTTP request as method, URL, headers and body, a
message as text. Without a renderer, a list of records in the payload is a table; anything
else is left to the pretty JSON beside it. Every value is escaped here."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agentstudio.accounts.admin import json_block, pretty_json
from approvals.context import approval_payload_view
from approvals.models import Approval

TABLE_MAX_ROWS = 50


def records_table_view(payload: Any) -> dict[str, Any] | None:
    """The first list of records (objects) in a payload, as a table: `{"rules": [{...}]}`
    reads as the rules, one a row, their keys the columns."""
    if not isinstance(payload, dict):
        return None
    for key, value in payload.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            columns: list[str] = []
            for item in value:
                columns += [name for name in item if name not in columns]
            rows = [[item.get(name) for name in columns] for item in value]
            return {"kind": "table", "caption": key, "columns": columns, "rows": rows}
    return None


def payload_view(approval: Approval) -> dict[str, Any] | None:
    return approval_payload_view(approval) or records_table_view(approval.payload)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        return ", ".join(str(item) for item in value)
    return value if isinstance(value, str) else pretty_json(value)


def _table_html(view: dict[str, Any]) -> SafeString:
    rows = view["rows"][:TABLE_MAX_ROWS]
    more = len(view["rows"]) - len(rows)
    head = format_html_join("", "<th>{}</th>", ((column,) for column in view["columns"]))
    body = format_html_join(
        "\n",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((_cell(cell),) for cell in row)),) for row in rows),
    )
    return format_html(
        '<table class="as-payload-table"><caption>{}</caption><thead><tr>{}</tr></thead>'
        "<tbody>{}</tbody></table>{}",
        view.get("caption", ""),
        head,
        body,
        format_html('<p class="as-note">and {} more</p>', more) if more > 0 else "",
    )


def _request_html(view: dict[str, Any]) -> SafeString:
    headers = view.get("headers") or {}
    header_rows = format_html_join("\n", "<tr><th>{}</th><td>{}</td></tr>", sorted(headers.items()))
    return format_html(
        '<div class="as-request"><p><strong class="as-method">{}</strong> <code>{}</code></p>'
        "{}{}</div>",
        view.get("method", ""),
        view.get("url", ""),
        format_html('<table class="as-payload-table">{}</table>', header_rows) if headers else "",
        json_block(view.get("body")),
    )


def _text_html(view: dict[str, Any]) -> SafeString:
    to = view.get("to")
    return format_html(
        '{}<blockquote class="as-message">{}</blockquote>',
        format_html("<p>To <strong>{}</strong>:</p>", to) if to else "",
        view.get("text", ""),
    )


RENDERERS = {"table": _table_html, "request": _request_html, "text": _text_html}


def payload_view_html(approval: Approval) -> SafeString | None:
    view = payload_view(approval)
    if view is None or view.get("kind") not in RENDERERS:
        return None
    return RENDERERS[view["kind"]](view)


def _merge_groups_html(result: dict[str, Any]) -> SafeString:
    """The rows each group would merge, the kept row marked, under the file's columns."""
    columns = result.get("columns") or []
    head = format_html_join("", "<th>{}</th>", ((column,) for column in ["row", *columns]))
    groups = format_html_join(
        "\n",
        '<tbody class="as-merge-group"><tr><th colspan="{}">{} (rule {})</th></tr>{}</tbody>',
        (
            (
                len(columns) + 1,
                f"Group {number}: {len(group['rows'])} rows become 1",
                group.get("rule", ""),
                format_html_join(
                    "\n",
                    '<tr class="{}"><td>{}</td>{}</tr>',
                    (
                        (
                            "as-kept" if row["kept"] else "as-merged",
                            f"{row['row']}{' (kept)' if row['kept'] else ''}",
                            format_html_join("", "<td>{}</td>", ((v,) for v in row["values"])),
                        )
                        for row in group["rows"]
                    ),
                ),
            )
            for number, group in enumerate(result.get("groups") or [], start=1)
        ),
    )
    shown = len(result.get("groups") or [])
    return format_html(
        "<p>{} rows in, {} rows out; groups that would merge: {}{}.</p>"
        '<table class="as-payload-table" id="merge-preview"><thead><tr>{}</tr></thead>{}</table>',
        result.get("rows_in"),
        result.get("rows_out"),
        result.get("merged_groups"),
        f" (the first {shown} shown)" if shown < (result.get("merged_groups") or 0) else "",
        head,
        groups,
    )


def preview_html(preview: dict[str, Any] | None, blocker: str) -> SafeString | None:
    """The next step's dry run: merge groups as a table, anything else as JSON."""
    if not preview:
        return None
    result = preview.get("result")
    warning = (
        format_html('<p class="as-warning">The dry run of the next step fails: {}.</p>', blocker)
        if blocker
        else ""
    )
    body = (
        _merge_groups_html(result)
        if isinstance(result, dict) and isinstance(result.get("groups"), list) and not blocker
        else json_block(result)
    )
    return format_html(
        '<div id="next-step-preview"><p>Dry run of the next step, “{}” ({}), with this payload:'
        "</p>{}{}</div>",
        preview.get("step", ""),
        preview.get("tool", ""),
        warning,
        body,
    )
