"""Tests for tools.builtin.costs: tools.studio.data.allocate_costs and tools.studio.data.variances,
and the data tools' `on_missing_column: report`."""

import pytest

from tools.builtin import BUILTIN_IMPLEMENTATIONS
from tools.builtin.costs import split_cents
from tools.context import ToolExecutionError

ALLOCATE = "tools.studio.data.allocate_costs"
VARIANCES = "tools.studio.data.variances"
PROFILE = "tools.studio.data.profile"
RESOLVE = "tools.studio.data.resolve_entities"


def test_the_sample_allocates_by_share_of_direct_cost(call_tool, write, samples):
    write("costs.csv", (samples / "costs.csv").read_text())
    result = call_tool(ALLOCATE, {"costs": "costs.csv"})
    assert result["rows"] == [
        ["Atlas", 50000.0, 7500.0, 57500.0],
        ["Beacon", 30000.0, 4500.0, 34500.0],
        ["Cirrus", 20000.0, 3000.0, 23000.0],
        ["Total", 100000.0, 15000.0, 115000.0],
    ]
    assert result["basis_text"] == (
        "Shared cost centres (IT Platform 9,000.00; Facilities 6,000.00) allocated to "
        "products by share of direct cost: Atlas 50.00%, Beacon 30.00%, Cirrus 20.00%."
    )
    assert result["pools"] == [
        {"cost_center": "IT Platform", "amount": 9000.0, "rows": [9]},
        {"cost_center": "Facilities", "amount": 6000.0, "rows": [10]},
    ]


def test_odd_cents_go_to_the_largest_remainders_and_add_up_exactly():
    from decimal import Decimal

    assert split_cents(Decimal("100.00"), [Decimal(1)] * 3) == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]
    parts = split_cents(Decimal("10.00"), [Decimal(1), Decimal(2), Decimal(4)])
    assert parts == [Decimal("1.43"), Decimal("2.86"), Decimal("5.71")]
    assert sum(parts) == Decimal("10.00")


def test_a_driver_file_sets_the_shares_and_names_its_rows(call_tool, write):
    write(
        "c.csv",
        'Product;Centre;Cost\nA;Make;"1.000,00"\nB;Make;300\nshared;IT;(90.00)\nshared;IT;190\n',
    )
    write("d.csv", "sku,heads\nB,3\nA,1\nC,0\n")
    result = call_tool(
        ALLOCATE,
        {
            "costs": "c.csv",
            "drivers": "d.csv",
            "product_column": "Product",
            "cost_center_column": "Centre",
            "amount_column": "Cost",
            "shared_marker": "Shared",
            "driver_product_column": "sku",
            "driver_column": "heads",
        },
    )
    # "1.000,00" with semicolons: commas are thousands separators, so this is 1.00000.
    by_product = {item["product"]: item for item in result["allocations"]}
    assert [(p, a["direct"], a["shared"], a["share_pct"]) for p, a in by_product.items()] == [
        ("A", 1.0, 25.0, 25.0),
        ("B", 300.0, 75.0, 75.0),
        ("C", 0.0, 0.0, 0.0),
    ]
    assert result["pools"] == [{"cost_center": "IT", "amount": 100.0, "rows": [3, 4]}]
    assert by_product["B"]["lineage"]["driver"] == "d.csv data row 1 (heads)"
    assert result["totals"] == {"direct": 301.0, "shared": 100.0, "total": 401.0}


def test_a_product_without_a_driver_is_warned_about(call_tool, write):
    write("c.csv", "product,cost_center,amount\nA,x,10\nB,x,10\nSHARED,y,5\n")
    write("d.csv", "product,driver\nA,2\n")
    result = call_tool(ALLOCATE, {"costs": "c.csv", "drivers": "d.csv"})
    assert result["warnings"] == ["B has no driver; it takes no shared cost."]
    assert [a["shared"] for a in result["allocations"]] == [5.0, 0.0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("product,cost_center,amount\nA,x,ten\n", "data row 1 has 'ten' in column 'amount'"),
        ("product,cost_center,amount\n,x,1\n", "data row 1 has no value in column 'product'"),
        ("product,cost_center,amount\nSHARED,x,1\n", "has no product rows"),
        ("item,cost\nA,1\n", "has no column 'product'"),
        ("product,cost_center,amount\nA,x,0\nSHARED,y,5\n", "drivers add up to 0"),
    ],
)
def test_bad_cost_files_are_tool_errors_that_say_why(ctx, write, content, message):
    write("c.csv", content)
    with pytest.raises(ToolExecutionError, match=message):
        BUILTIN_IMPLEMENTATIONS[ALLOCATE](ctx, {"costs": "c.csv"})


def test_variances_flag_moves_above_the_threshold_and_missing_sides(call_tool):
    result = call_tool(
        VARIANCES,
        {
            "actual": {"A": 110, "B": 102.5, "C": 0.5, "N": 7},
            "expected": {"A": 100, "B": 100, "C": 0, "G": 40},
            "threshold_pct": 2.5,
        },
    )
    assert [
        (v["key"], v["delta"], v["delta_pct"], v["flagged"], v["reason"])
        for v in result["variances"]
    ] == [
        ("A", 10.0, 10.0, True, "moved more than 2.5%"),
        ("B", 2.5, 2.5, False, ""),  # exactly at the threshold is not above it
        ("C", 0.5, None, True, "expected value is 0"),
        ("N", None, None, True, "no expected value"),
        ("G", None, None, True, "no actual value"),
    ]
    assert result["flagged"] == ["A", "C", "N", "G"]
    assert result["total"] == {
        "expected": 240.0,
        "actual": 220.0,
        "delta": -20.0,
        "delta_pct": -8.33,
        "flagged": True,
    }
    assert result["rows"][-1] == ["Total", 240.0, 220.0, -20.0, -8.33, "yes"]


def test_profile_reports_missing_key_columns_when_asked(call_tool, write):
    write("c.csv", "id,Email\n1,a@x\n2,A@X\n")
    result = call_tool(
        PROFILE,
        {"dataset": "c.csv", "key_columns": ["Email", "postcode"], "on_missing_column": "report"},
    )
    assert result["key_columns"] == ["Email"]
    assert result["missing_key_columns"] == ["postcode"]
    assert result["duplicate_candidates_total"] == 1


def test_resolve_skips_and_reports_rules_on_missing_columns_when_asked(call_tool, write):
    write("c.csv", "ref,email\n1,a@x\n2,A@X \n3,b@x\n")
    result = call_tool(
        RESOLVE,
        {
            "dataset": "c.csv",
            "rules": [
                {"id": "by_name", "fields": ["name", "postcode"]},
                {"fields": ["email"], "normalize": ["strip", "lowercase"]},
                {"fields": ["email", "phone"]},
            ],
            "on_missing_column": "report",
        },
    )
    assert (result["rows_in"], result["rows_out"]) == (3, 2)
    assert [rule["id"] for rule in result["rules_applied"]] == ["rule_2"]
    assert result["rules_skipped"] == [
        {"id": "by_name", "fields": ["name", "postcode"], "missing_columns": ["name", "postcode"]},
        {"id": "rule_3", "fields": ["email", "phone"], "missing_columns": ["phone"]},
    ]
    assert result["missing_columns"] == ["name", "phone", "postcode"]
