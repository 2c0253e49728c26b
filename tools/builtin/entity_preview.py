"""The dry run of `tools.studio.data.resolve_entities`: which rows the rules would merge,
read from the workspace file and written nowhere, for the approver of the rules to see
(the first PREVIEW_GROUPS groups, each row with its values)."""

from __future__ import annotations

from typing import Any

from tools.builtin.entities import EntityRule, entities_resolve, group_kept_row
from tools.builtin.tables import table_read
from tools.context import ToolContext

PREVIEW_GROUPS = 20


def data_resolve_entities_dry_run(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """A rule naming a column the file lacks is left out and listed, as the tool's
    `on_missing_column: report` does; the groups are those the other rules make."""
    table = table_read(ctx, arguments["dataset"])
    rules: list[EntityRule] = []
    skipped: list[str] = []
    for number, rule in enumerate(arguments["rules"], start=1):
        if any(name not in table.columns for name in rule["fields"]):
            skipped.append(rule.get("id") or f"rule_{number}")
            continue
        rules.append(EntityRule.from_arguments(table, number, rule))
    resolution = entities_resolve(table, rules)
    groups = []
    for group in resolution.groups[:PREVIEW_GROUPS]:
        kept = group_kept_row(group, rules)
        groups.append(
            {
                "rule": rules[min(group.rule_positions)].id,
                "kept_row": kept + 1,
                "rows": [
                    {"row": index + 1, "kept": index == kept, "values": table.rows[index]}
                    for index in group.members
                ],
            }
        )
    merged_away = sum(len(group.members) - 1 for group in resolution.groups)
    return {
        "dry_run": True,
        "dataset": arguments["dataset"],
        "columns": list(table.columns),
        "rows_in": len(table.rows),
        "rows_out": len(table.rows) - merged_away,
        "merged_groups": len(resolution.groups),
        "groups": groups,
        "rules_skipped": skipped,
    }
