"""The dry run of tools.studio.data.resolve_entities: the groups the rules would merge on
the workspace file, the same as the tool merges, and nothing written."""

from tools.builtin import BUILTIN_DRY_RUNS, BUILTIN_IMPLEMENTATIONS
from tools.registry import tool_registry

RESOLVE = "tools.studio.data.resolve_entities"
CSV = (
    "id,name,email\n"
    "1,Ann, ann@example.com\n"
    "2,Bob,bob@example.com\n"
    "3,ANN,ANN@example.com\n"
    "4,Ann,ann@example.com \n"
)
RULES = [
    {"id": "email", "fields": ["email"], "normalize": ["strip", "lowercase"], "keep": "last"},
    {"id": "phone", "fields": ["phone"]},
]


def test_the_dry_run_shows_the_groups_the_tool_merges_and_writes_nothing(ctx, write, workspace):
    write("customers.csv", CSV)
    arguments = {"dataset": "customers.csv", "rules": RULES, "on_missing_column": "report"}

    preview = BUILTIN_DRY_RUNS[RESOLVE](ctx, arguments)

    assert tool_registry.get(RESOLVE).has_dry_run is True
    assert not (workspace / "cleaned.csv").exists()
    assert (preview["rows_in"], preview["rows_out"], preview["merged_groups"]) == (4, 2, 1)
    (group,) = preview["groups"]
    assert (group["rule"], group["kept_row"]) == ("email", 4)
    assert [(row["row"], row["kept"]) for row in group["rows"]] == [
        (1, False),
        (3, False),
        (4, True),
    ]
    assert group["rows"][1]["values"] == ["3", "ANN", "ANN@example.com"]
    assert preview["rules_skipped"] == ["phone"]
    applied = BUILTIN_IMPLEMENTATIONS[RESOLVE](ctx, arguments)
    assert applied["rows_out"] == preview["rows_out"]
    assert applied["merged"][0]["kept_row"] == group["kept_row"]
