"""Tests for tools.builtin.data.data_resolve_entities (tools.studio.data.resolve_entities)."""

import csv
import io

import pytest
import yaml

from tools.builtin import BUILTIN_IMPLEMENTATIONS
from tools.context import ToolExecutionError

RESOLVE = "tools.studio.data.resolve_entities"
DATASET = "inputs/dataset/customers.csv"


@pytest.fixture
def blueprint_rules(blueprints) -> list[dict]:
    """The rules the data-cleanup blueprint's scripted model proposes."""
    spec = yaml.safe_load((blueprints / "data-cleanup.yaml").read_text())["spec"]
    (response,) = [r for r in spec["model"]["responses"] if r["step"] == "propose_rules"]
    return response["content"]["rules"]


@pytest.fixture
def customers(write, samples) -> str:
    write(DATASET, (samples / "customers.csv").read_text())
    return DATASET


def read_csv(path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_the_blueprint_rules_clean_the_sample_from_twelve_to_eight_rows(
    call_tool, customers, blueprint_rules, workspace
):
    result = call_tool(
        RESOLVE, {"dataset": customers, "rules": blueprint_rules, "output_path": "cleaned.csv"}
    )
    assert (result["output_path"], result["rows_in"], result["rows_out"]) == (
        "cleaned.csv",
        12,
        8,
    )
    cleaned = read_csv(workspace / "cleaned.csv")
    assert cleaned[0] == ["customer_id", "name", "email", "phone", "postcode", "city"]
    assert [row[0] for row in cleaned[1:]] == [
        "C001", "C003", "C005", "C006", "C008", "C009", "C011", "C012",
    ]  # fmt: skip


def test_the_result_says_which_rows_each_rule_merged(call_tool, customers, blueprint_rules):
    result = call_tool(RESOLVE, {"dataset": customers, "rules": blueprint_rules})
    assert result["merged"] == [
        {"kept_row": 1, "merged_rows": [2], "rule": "email_normalized",
         "rules": ["email_normalized"]},
        {"kept_row": 3, "merged_rows": [4], "rule": "name_postcode",
         "rules": ["name_postcode"]},
        {"kept_row": 6, "merged_rows": [7], "rule": "email_normalized",
         "rules": ["email_normalized"]},
        {"kept_row": 8, "merged_rows": [10], "rule": "email_normalized",
         "rules": ["email_normalized"]},
    ]  # fmt: skip
    assert result["merged_groups"] == 4
    assert [(rule["id"], rule["rows_merged"]) for rule in result["rules_applied"]] == [
        ("email_normalized", 3),
        ("name_postcode", 1),
    ]


def test_the_output_path_defaults_to_cleaned_csv(call_tool, customers, blueprint_rules, ctx):
    result = call_tool(RESOLVE, {"dataset": customers, "rules": blueprint_rules})
    assert result["output_path"] == "cleaned.csv"
    assert [(item.path, item.content_type) for item in ctx.written] == [("cleaned.csv", "text/csv")]


def test_matches_are_transitive_across_rules(call_tool, write, workspace):
    write(
        "people.csv",
        "id,email,phone\n"
        "1,ann@x.com,111\n"
        "2,other@x.com,(0) 222-333\n"
        "3,ANN@x.com,0 222 333\n"
        "4,solo@x.com,999\n",
    )
    rules = [
        {"id": "email", "fields": ["email"], "normalize": ["lowercase"]},
        {"id": "phone", "fields": ["phone"], "normalize": ["digits_only"]},
    ]
    result = call_tool(RESOLVE, {"dataset": "people.csv", "rules": rules})
    assert result["merged"] == [
        {"kept_row": 1, "merged_rows": [2, 3], "rule": "email", "rules": ["email", "phone"]}
    ]
    assert [row[0] for row in read_csv(workspace / "cleaned.csv")[1:]] == ["1", "4"]


def test_keep_last_keeps_the_last_row_of_each_group_in_file_order(call_tool, write, workspace):
    write("c.csv", "id,email\n1,a@x\n2,b@x\n3,A@X\n4,B@x\n5,c@x\n")
    rules = [{"fields": ["email"], "normalize": ["lowercase"], "keep": "last"}]
    result = call_tool(RESOLVE, {"dataset": "c.csv", "rules": rules, "output_path": "out.csv"})
    assert [(group["kept_row"], group["merged_rows"]) for group in result["merged"]] == [
        (3, [1]),
        (4, [2]),
    ]
    assert read_csv(workspace / "out.csv") == [
        ["id", "email"], ["3", "A@X"], ["4", "B@x"], ["5", "c@x"],
    ]  # fmt: skip


def test_a_rule_without_an_id_is_named_by_its_position(call_tool, write):
    write("c.csv", "id,email\n1,a@x\n2,a@x\n")
    result = call_tool(RESOLVE, {"dataset": "c.csv", "rules": [{"fields": ["email"]}]})
    assert result["merged"][0]["rule"] == "rule_1"
    assert result["rules_applied"] == [
        {"id": "rule_1", "fields": ["email"], "normalize": [], "keep": "first", "rows_merged": 1}
    ]


def test_empty_values_never_match(call_tool, write):
    write("c.csv", "id,email,name\n1,,Ann\n2,  ,Bob\n3,,Cy\n")
    result = call_tool(RESOLVE, {"dataset": "c.csv", "rules": [{"fields": ["email"]}]})
    assert (result["rows_out"], result["merged"]) == (3, [])


def test_a_value_emptied_by_normalising_never_matches(call_tool, write):
    write("c.csv", "id,phone\n1,n/a\n2,N/A\n")
    rules = [{"fields": ["phone"], "normalize": ["digits_only"]}]
    assert call_tool(RESOLVE, {"dataset": "c.csv", "rules": rules})["rows_out"] == 2


def test_every_field_of_a_rule_must_match(call_tool, write):
    write("c.csv", "id,name,postcode\n1,Ann,AB1\n2,Ann,CD2\n3,ann,ab1\n")
    rules = [{"fields": ["name", "postcode"], "normalize": ["lowercase"]}]
    result = call_tool(RESOLVE, {"dataset": "c.csv", "rules": rules})
    assert [(group["kept_row"], group["merged_rows"]) for group in result["merged"]] == [(1, [3])]


def test_normalisations_apply_in_the_listed_order(call_tool, write):
    write("c.csv", "id,name\n1,Mary - Jane\n2,mary jane\n")
    punctuation_then_collapse = ["remove_punctuation", "collapse_whitespace", "lowercase"]
    collapse_then_punctuation = ["collapse_whitespace", "remove_punctuation", "lowercase"]
    rows_out = [
        call_tool(
            RESOLVE, {"dataset": "c.csv", "rules": [{"fields": ["name"], "normalize": order}]}
        )["rows_out"]
        for order in (punctuation_then_collapse, collapse_then_punctuation)
    ]
    assert rows_out == [1, 2]  # "mary  jane" keeps the gap the dash left


def test_an_unknown_column_in_a_rule_is_a_tool_error_naming_it(ctx, customers):
    rules = [{"id": "by_mail", "fields": ["e_mail"]}]
    with pytest.raises(ToolExecutionError, match="has no column 'e_mail'; its columns are: "):
        BUILTIN_IMPLEMENTATIONS[RESOLVE](ctx, {"dataset": customers, "rules": rules})
    assert ctx.written == []


def test_the_kept_rows_are_written_unchanged_with_the_source_delimiter(call_tool, write, workspace):
    write("s.csv", 'id;note\n1;"a;b"\n2;x\n3;"a;b"\n')
    call_tool(RESOLVE, {"dataset": "s.csv", "rules": [{"fields": ["note"]}]})
    assert (workspace / "cleaned.csv").read_text() == 'id;note\n1;"a;b"\n2;x\n'


def test_resolve_refuses_an_output_path_outside_the_workspace(ctx, customers, tmp_path):
    arguments = {"dataset": customers, "rules": [{"fields": ["email"]}], "output_path": "../x.csv"}
    with pytest.raises(ToolExecutionError, match="must be relative to the run workspace"):
        BUILTIN_IMPLEMENTATIONS[RESOLVE](ctx, arguments)
    assert not (tmp_path / "x.csv").exists()
