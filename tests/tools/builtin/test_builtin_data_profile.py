"""Tests for tools.builtin.data.data_profile (tools.studio.data.profile)."""

import re

import pytest

from tools.builtin import BUILTIN_IMPLEMENTATIONS
from tools.context import ToolExecutionError

PROFILE = "tools.studio.data.profile"

TYPED_CSV = (
    "count,price,active,joined,label,nothing\n"
    "1,2.50,yes,2024-01-31,a,\n"
    "-2,3,No,2024-02-01T09:30:00,b,\n"
    ",4e2,TRUE,,a,\n"
)


def test_profile_infers_types_nulls_and_distinct_values(call_tool, write):
    write("typed.csv", TYPED_CSV)
    result = call_tool(PROFILE, {"dataset": "typed.csv", "key_columns": []})
    assert result["rows"] == 3
    assert result["columns"] == [
        {"name": "count", "type": "integer", "nulls": 1, "distinct": 2},
        {"name": "price", "type": "number", "nulls": 0, "distinct": 3},
        {"name": "active", "type": "boolean", "nulls": 0, "distinct": 3},
        {"name": "joined", "type": "date", "nulls": 1, "distinct": 2},
        {"name": "label", "type": "string", "nulls": 0, "distinct": 2},
        {"name": "nothing", "type": "empty", "nulls": 3, "distinct": 0},
    ]


def test_a_value_that_is_not_a_real_date_makes_the_column_a_string(call_tool, write):
    write("dates.csv", "day\n2024-02-30\n")
    assert call_tool(PROFILE, {"dataset": "dates.csv"})["columns"][0]["type"] == "string"


def test_duplicates_are_rows_equal_on_a_key_column_ignoring_case_and_spaces(call_tool, write):
    write(
        "people.csv",
        "email,city\nA@x.com,Leeds\n a@X.com ,York\nb@x.com,Leeds\n,York\n,Leeds\nA@X.COM,Hull\n",
    )
    result = call_tool(PROFILE, {"dataset": "people.csv", "key_columns": ["email"]})
    assert result["key_columns"] == ["email"]
    assert result["duplicate_candidates"] == [
        {"columns": ["email"], "value": "a@x.com", "rows": [1, 2, 6]}
    ]
    assert result["duplicate_candidates_total"] == 1


def test_without_key_columns_the_id_email_and_name_columns_are_checked(call_tool, write):
    write(
        "c.csv",
        "customer_id,Full Name,E-mail,lastName,city,paid\n1,Ann,a@x,Lee,Leeds,1\n",
    )
    result = call_tool(PROFILE, {"dataset": "c.csv"})
    assert result["key_columns"] == ["customer_id", "Full Name", "E-mail", "lastName"]


def test_duplicate_candidates_are_capped_at_fifty_groups(call_tool, write):
    lines = [f"id-{number},x\nID-{number},y" for number in range(60)]
    write("many.csv", "id,v\n" + "\n".join(lines) + "\n")
    result = call_tool(PROFILE, {"dataset": "many.csv", "key_columns": ["id"]})
    assert len(result["duplicate_candidates"]) == 50
    assert result["duplicate_candidates_total"] == 60
    assert result["duplicate_candidates"][0] == {
        "columns": ["id"],
        "value": "id-0",
        "rows": [1, 2],
    }


def test_the_delimiter_is_sniffed(call_tool, write):
    write("semicolons.csv", "name;amount\nAtlas;1,5\nBeacon;2,5\n")
    result = call_tool(PROFILE, {"dataset": "semicolons.csv", "key_columns": []})
    assert result["delimiter"] == ";"
    assert [column["name"] for column in result["columns"]] == ["name", "amount"]
    assert result["rows"] == 2


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column_name(call_tool, write):
    write("bom.csv", "\ufeffid,name\n1,Ann\n".encode())
    result = call_tool(PROFILE, {"dataset": "bom.csv", "key_columns": []})
    assert result["columns"][0]["name"] == "id"


def test_blank_lines_are_not_rows(call_tool, write):
    write("gaps.csv", "id,name\n1,Ann\n\n2,Bob\n\n")
    assert call_tool(PROFILE, {"dataset": "gaps.csv"})["rows"] == 2


def test_the_shipped_cost_sample_profiles_amounts_as_numbers(call_tool, write, samples):
    write("inputs/costs/costs.csv", (samples / "costs.csv").read_text())
    result = call_tool(
        PROFILE,
        {"dataset": "inputs/costs/costs.csv", "key_columns": ["product", "cost_center"]},
    )
    assert result["rows"] == 10
    assert [(column["name"], column["type"]) for column in result["columns"]] == [
        ("product", "string"),
        ("cost_center", "string"),
        ("amount", "number"),
    ]


def test_an_unknown_key_column_is_a_tool_error_naming_it(ctx, write):
    write("c.csv", "id,name\n1,Ann\n")
    with pytest.raises(ToolExecutionError, match="no column 'email'; its columns are: id, name"):
        BUILTIN_IMPLEMENTATIONS[PROFILE](ctx, {"dataset": "c.csv", "key_columns": ["email"]})


def test_a_missing_dataset_is_a_tool_error(ctx):
    with pytest.raises(ToolExecutionError, match=re.escape("'absent.csv' is not a file")):
        BUILTIN_IMPLEMENTATIONS[PROFILE](ctx, {"dataset": "absent.csv"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty; a CSV needs a header row"),
        ("id,name\n1,Ann,extra\n", "data row 1 has 3 fields but the header has 2"),
        ("id,,name\n1,2,3\n", "header cell 2 is empty"),
        ("id,name,id\n1,2,3\n", "names column 'id' twice"),
        ('id,name\n1,"Ann\n', "is not valid CSV near line"),
    ],
)
def test_a_malformed_csv_is_a_tool_error_that_says_what_is_wrong(ctx, write, content, message):
    write("bad.csv", content)
    with pytest.raises(ToolExecutionError, match=message):
        BUILTIN_IMPLEMENTATIONS[PROFILE](ctx, {"dataset": "bad.csv"})


def test_a_csv_that_is_not_utf8_is_a_tool_error(ctx, write):
    write("latin1.csv", "id,name\n1,Jos\xe9\n".encode("latin-1"))
    with pytest.raises(ToolExecutionError, match="is not UTF-8 text"):
        BUILTIN_IMPLEMENTATIONS[PROFILE](ctx, {"dataset": "latin1.csv"})


def test_profile_refuses_a_dataset_outside_the_workspace(ctx):
    with pytest.raises(ToolExecutionError, match="must be relative to the run workspace"):
        BUILTIN_IMPLEMENTATIONS[PROFILE](ctx, {"dataset": "../customers.csv"})
