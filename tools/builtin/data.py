"""Dataset tools: profile a CSV, and resolve duplicate entities in it into a cleaned CSV."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from tools.builtin.entities import EntityRule, entities_resolve, group_kept_row
from tools.builtin.tables import Table, table_read, table_write
from tools.context import ToolContext

MAX_DUPLICATE_CANDIDATES = 50
MAX_MERGED_GROUPS = 1_000
DEFAULT_OUTPUT_PATH = "cleaned.csv"

_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([T ].+)?")
_BOOLEANS = frozenset({"true", "false", "yes", "no"})
_KEY_NAME_TOKEN = re.compile(r"[a-z0-9]+")


def data_profile(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Row count, per-column type/nulls/distinct, and groups of rows equal on a key column."""
    table = table_read(ctx, arguments["dataset"])
    missing: list[str] = []
    if "key_columns" in arguments:
        key_columns = list(arguments["key_columns"])
        if arguments.get("on_missing_column") == "report":
            missing = [name for name in key_columns if name not in table.columns]
            key_columns = [name for name in key_columns if name in table.columns]
        for name in key_columns:
            table.column_index(name)
    else:
        key_columns = [name for name in table.columns if _looks_like_a_key(name)]
    candidates = [group for name in key_columns for group in _duplicate_groups(table, name)]
    return {
        "dataset": arguments["dataset"],
        "delimiter": table.delimiter,
        "rows": len(table.rows),
        "columns": [_column_profile(name, table.column_values(name)) for name in table.columns],
        "key_columns": key_columns,
        "missing_key_columns": missing,
        "duplicate_candidates": candidates[:MAX_DUPLICATE_CANDIDATES],
        "duplicate_candidates_total": len(candidates),
    }


def _looks_like_a_key(column: str) -> bool:
    """Columns named like an identifier, an email or a name: id, customer_id, E-mail,
    full_name, lastName."""
    tokens = _KEY_NAME_TOKEN.findall(re.sub(r"(?<=[a-z])(?=[A-Z])", "_", column).lower())
    return any(token == "id" or "email" in token or token.endswith("name") for token in tokens) or (
        "e-mail" in column.lower()
    )


def _duplicate_groups(table: Table, column: str) -> list[dict[str, Any]]:
    rows_by_value: dict[str, list[int]] = {}
    for number, value in enumerate(table.column_values(column), start=1):
        normalised = value.strip().lower()
        if normalised:
            rows_by_value.setdefault(normalised, []).append(number)
    return [
        {"columns": [column], "value": value, "rows": rows}
        for value, rows in rows_by_value.items()
        if len(rows) > 1
    ]


def _column_profile(name: str, values: list[str]) -> dict[str, Any]:
    present = [value.strip() for value in values if value.strip()]
    return {
        "name": name,
        "type": _column_type(present),
        "nulls": len(values) - len(present),
        "distinct": len(set(present)),
    }


def _column_type(present: list[str]) -> str:
    """The narrowest type every non-empty value fits: integer, number, boolean, date (ISO
    8601), else string; `empty` when the column has no value at all."""
    if not present:
        return "empty"
    if all(_INTEGER.fullmatch(value) for value in present):
        return "integer"
    if all(_NUMBER.fullmatch(value) for value in present):
        return "number"
    if all(value.lower() in _BOOLEANS for value in present):
        return "boolean"
    if all(_is_iso_date(value) for value in present):
        return "date"
    return "string"


def _is_iso_date(value: str) -> bool:
    if not _ISO_DATE.fullmatch(value):
        return False
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def data_resolve_entities(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Merges rows the rules say are one entity, keeping one row per entity, and writes the
    kept rows (same header, file order) to `output_path`. With `on_missing_column: report`
    a rule naming a column the CSV lacks is skipped and listed in `rules_skipped`."""
    table = table_read(ctx, arguments["dataset"])
    report = arguments.get("on_missing_column") == "report"
    rules: list[EntityRule] = []
    skipped: list[dict[str, Any]] = []
    for number, rule in enumerate(arguments["rules"], start=1):
        absent = [name for name in rule["fields"] if name not in table.columns]
        if report and absent:
            skipped.append(
                {
                    "id": rule.get("id") or f"rule_{number}",
                    "fields": list(rule["fields"]),
                    "missing_columns": absent,
                }
            )
            continue
        rules.append(EntityRule.from_arguments(table, number, rule))
    resolution = entities_resolve(table, rules)
    dropped: set[int] = set()
    merged: list[dict[str, Any]] = []
    for group in resolution.groups:
        kept = group_kept_row(group, rules)
        others = [index for index in group.members if index != kept]
        dropped.update(others)
        contributing = [rules[position].id for position in sorted(group.rule_positions)]
        merged.append(
            {
                "kept_row": kept + 1,
                "merged_rows": [index + 1 for index in others],
                "rule": contributing[0],
                "rules": contributing,
            }
        )
    kept_rows = [row for index, row in enumerate(table.rows) if index not in dropped]
    written = table_write(ctx, arguments.get("output_path", DEFAULT_OUTPUT_PATH), table, kept_rows)
    return {
        "dataset": arguments["dataset"],
        "output_path": written.path,
        "rows_in": len(table.rows),
        "rows_out": len(kept_rows),
        "merged": merged[:MAX_MERGED_GROUPS],
        "merged_groups": len(merged),
        "rules_applied": [
            {
                "id": rule.id,
                "fields": list(rule.fields),
                "normalize": list(rule.normalize),
                "keep": rule.keep,
                "rows_merged": links,
            }
            for rule, links in zip(rules, resolution.links_by_rule, strict=True)
        ],
        "rules_skipped": skipped,
        "missing_columns": sorted({name for item in skipped for name in item["missing_columns"]}),
    }
