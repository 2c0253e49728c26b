"""Definitions of the cost tools (allocate shared costs, compare actual with expected)."""

from approvals.risk import RiskClass
from tools.builtin_definitions.schema_parts import (
    COLUMN_NAME,
    ROW_NUMBER,
    STRING,
    STRINGS,
    arguments_schema,
    result_schema,
    text_schema,
    workspace_path_schema,
)
from tools.registry import ToolDefinition

NUMBER = {"type": "number"}
NULLABLE_NUMBER = {"type": ["number", "null"]}
_ROWS = {"type": "array", "items": ROW_NUMBER}

_ALLOCATION = result_schema(
    {
        "product": STRING,
        "direct": {**NUMBER, "description": "Sum of the product's own cost lines."},
        "shared": {**NUMBER, "description": "Its part of every shared pool, in cents."},
        "total": {**NUMBER, "description": "direct + shared."},
        "driver": {**NUMBER, "description": "The value its share of the pools follows."},
        "share_pct": {**NUMBER, "description": "driver / all drivers * 100, 2 decimals."},
        "lineage": result_schema(
            {
                "direct_rows": {**_ROWS, "description": "Data rows of the cost CSV summed."},
                "driver": {**STRING, "description": "Where the driver value came from."},
                "shared_by_pool": {
                    "type": "array",
                    "items": result_schema(
                        {"cost_center": STRING, "amount": NUMBER},
                        required=("cost_center", "amount"),
                    ),
                },
            },
            required=("direct_rows", "driver", "shared_by_pool"),
        ),
    },
    required=("product", "direct", "shared", "total", "driver", "share_pct", "lineage"),
)

_TOTALS = result_schema(
    {"direct": NUMBER, "shared": NUMBER, "total": NUMBER}, required=("direct", "shared", "total")
)

STUDIO_DATA_ALLOCATE_COSTS = ToolDefinition(
    name="tools.studio.data.allocate_costs",
    title="Allocate shared costs to products",
    description="Reads a cost CSV (product, cost centre, amount; rows whose product is the "
    "shared marker are shared cost pools) and allocates every pool to the products in "
    "proportion to a driver: the drivers CSV when given, else each product's direct cost. "
    "Amounts are exact to the cent and each pool's parts add up to it (largest remainder); "
    "every number says which rows and pools it came from.",
    input_schema=arguments_schema(
        {
            "costs": workspace_path_schema("The cost CSV, relative to the workspace."),
            "drivers": {
                "anyOf": [
                    workspace_path_schema("A CSV of product and driver (e.g. headcount)."),
                    {"type": "null"},
                ],
                "description": "Optional: a CSV with one driver value per product.",
            },
            "product_column": {**COLUMN_NAME, "default": "product"},
            "cost_center_column": {**COLUMN_NAME, "default": "cost_center"},
            "amount_column": {**COLUMN_NAME, "default": "amount"},
            "shared_marker": {
                **text_schema(max_length=100),
                "default": "SHARED",
                "description": "The product value (any case) that marks a shared cost line.",
            },
            "driver_product_column": {
                **COLUMN_NAME,
                "description": "The product column of the drivers CSV (product_column).",
            },
            "driver_column": {**COLUMN_NAME, "default": "driver"},
        },
        required=("costs",),
    ),
    output_schema=result_schema(
        {
            "costs": STRING,
            "drivers": {"type": ["string", "null"]},
            "basis": {"enum": ["direct_cost", "driver"]},
            "basis_text": {**STRING, "description": "The basis in one sentence, from the data."},
            "pools": {
                "type": "array",
                "items": result_schema(
                    {"cost_center": STRING, "amount": NUMBER, "rows": _ROWS},
                    required=("cost_center", "amount", "rows"),
                ),
            },
            "allocations": {"type": "array", "items": _ALLOCATION, "minItems": 1},
            "totals": _TOTALS,
            "totals_by_product": {"type": "object", "additionalProperties": NUMBER},
            "rows": {
                "type": "array",
                "items": {"type": "array", "minItems": 4, "maxItems": 4},
                "description": "[product, direct, shared, total] per product, then Total.",
            },
            "warnings": STRINGS,
        },
        required=(
            "costs",
            "basis",
            "basis_text",
            "pools",
            "allocations",
            "totals",
            "totals_by_product",
            "rows",
            "warnings",
        ),
    ),
    risk=RiskClass.COMPUTE,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)

_VALUES = {
    "type": "object",
    "additionalProperties": NUMBER,
    "maxProperties": 10_000,
}

_VARIANCE = result_schema(
    {
        "key": STRING,
        "expected": NULLABLE_NUMBER,
        "actual": NULLABLE_NUMBER,
        "delta": {**NULLABLE_NUMBER, "description": "actual - expected."},
        "delta_pct": {**NULLABLE_NUMBER, "description": "delta / |expected| * 100, 2 decimals."},
        "flagged": {"type": "boolean"},
        "reason": {**STRING, "description": "Why it is flagged; empty when it is not."},
    },
    required=("key", "expected", "actual", "delta", "delta_pct", "flagged", "reason"),
)

STUDIO_DATA_VARIANCES = ToolDefinition(
    name="tools.studio.data.variances",
    title="Compare actual with expected values",
    description="For each key of two {key: number} maps (actual and expected, e.g. this "
    "period and the prior one, or actual and budget) computes the delta and its percentage "
    "of expected, and flags keys that moved more than threshold_pct percent, or that one "
    "side lacks.",
    input_schema=arguments_schema(
        {
            "actual": _VALUES,
            "expected": _VALUES,
            "threshold_pct": {"type": "number", "minimum": 0, "maximum": 1000, "default": 5},
        },
        required=("actual", "expected"),
    ),
    output_schema=result_schema(
        {
            "threshold_pct": NUMBER,
            "variances": {"type": "array", "items": _VARIANCE},
            "flagged": STRINGS,
            "total": result_schema(
                {
                    "expected": NUMBER,
                    "actual": NUMBER,
                    "delta": NUMBER,
                    "delta_pct": NULLABLE_NUMBER,
                    "flagged": {"type": "boolean"},
                },
                required=("expected", "actual", "delta", "delta_pct", "flagged"),
            ),
            "rows": {
                "type": "array",
                "items": {"type": "array", "minItems": 6, "maxItems": 6},
                "description": "[key, expected, actual, delta, delta %, yes/no], then Total.",
            },
        },
        required=("threshold_pct", "variances", "flagged", "total", "rows"),
    ),
    risk=RiskClass.COMPUTE,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)
