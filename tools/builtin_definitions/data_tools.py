"""Definitions of the dataset tools (profile, resolve duplicate entities)."""

from approvals.risk import RiskClass
from tools.builtin_definitions.schema_parts import (
    COLUMN_NAME,
    COUNT,
    ROW_NUMBER,
    STRING,
    STRINGS,
    arguments_schema,
    result_schema,
    text_schema,
    workspace_path_schema,
)
from tools.registry import ToolDefinition

_NORMALIZATIONS = ["lowercase", "strip", "collapse_whitespace", "digits_only", "remove_punctuation"]

_ENTITY_RULE = {
    "type": "object",
    "properties": {
        "id": text_schema(max_length=100, description="A name for the rule, shown in reports."),
        "fields": {
            "type": "array",
            "items": COLUMN_NAME,
            "minItems": 1,
            "maxItems": 20,
            "description": "Records equal on all these columns (after normalizing) are one.",
        },
        "normalize": {
            "type": "array",
            "items": {"enum": _NORMALIZATIONS},
            "maxItems": len(_NORMALIZATIONS),
            "description": "Normalizations applied, in order, before comparing.",
        },
        "keep": {"enum": ["first", "last"], "default": "first"},
    },
    "required": ["fields"],
    "additionalProperties": False,
}

_ON_MISSING_COLUMN = {
    "enum": ["error", "report"],
    "default": "error",
    "description": "A named column the CSV lacks: a tool error (error), or left out and "
    "listed in the result (report).",
}

_COLUMN_PROFILE = result_schema(
    {
        "name": STRING,
        "type": {"enum": ["integer", "number", "boolean", "date", "string", "empty"]},
        "nulls": COUNT,
        "distinct": COUNT,
    },
    required=("name", "type", "nulls", "distinct"),
)

_DUPLICATE_CANDIDATE = result_schema(
    {
        "columns": {**STRINGS, "minItems": 1},
        "value": {"type": "string", "description": "The shared value, trimmed and lower-cased."},
        "rows": {"type": "array", "items": ROW_NUMBER, "minItems": 2},
    },
    required=("columns", "value", "rows"),
)

STUDIO_DATA_PROFILE = ToolDefinition(
    name="tools.studio.data.profile",
    title="Profile a dataset",
    description="Profiles a CSV in the workspace: row count, per-column type, nulls "
    "and distinct values, and rows that look like duplicates on the key columns.",
    input_schema=arguments_schema(
        {
            "dataset": workspace_path_schema("The CSV file, relative to the workspace."),
            "key_columns": {
                "type": "array",
                "items": COLUMN_NAME,
                "maxItems": 50,
                "uniqueItems": True,
            },
            "on_missing_column": _ON_MISSING_COLUMN,
        },
        required=("dataset",),
    ),
    output_schema=result_schema(
        {
            "dataset": STRING,
            "delimiter": STRING,
            "rows": COUNT,
            "columns": {"type": "array", "items": _COLUMN_PROFILE},
            "key_columns": STRINGS,
            "missing_key_columns": {
                **STRINGS,
                "description": "Key columns asked for that the CSV lacks (report mode).",
            },
            "duplicate_candidates": {
                "type": "array",
                "items": _DUPLICATE_CANDIDATE,
                "maxItems": 50,
            },
            "duplicate_candidates_total": COUNT,
        },
        required=(
            "dataset",
            "delimiter",
            "rows",
            "columns",
            "key_columns",
            "duplicate_candidates",
            "duplicate_candidates_total",
        ),
    ),
    risk=RiskClass.READ,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)

_MERGED_GROUP = result_schema(
    {
        "kept_row": ROW_NUMBER,
        "merged_rows": {"type": "array", "items": ROW_NUMBER, "minItems": 1},
        "rule": {**STRING, "description": "The earliest rule that linked the group."},
        "rules": {**STRINGS, "minItems": 1, "description": "Every rule that linked it."},
    },
    required=("kept_row", "merged_rows", "rule", "rules"),
)

_APPLIED_RULE = result_schema(
    {
        "id": STRING,
        "fields": STRINGS,
        "normalize": STRINGS,
        "keep": {"enum": ["first", "last"]},
        "rows_merged": {**COUNT, "description": "Rows this rule joined to another record."},
    },
    required=("id", "fields", "normalize", "keep", "rows_merged"),
)

STUDIO_DATA_RESOLVE_ENTITIES = ToolDefinition(
    name="tools.studio.data.resolve_entities",
    title="Resolve duplicate entities",
    description="Applies entity-resolution rules to a CSV and writes the de-duplicated "
    "file to the workspace.",
    input_schema=arguments_schema(
        {
            "dataset": workspace_path_schema("The CSV file, relative to the workspace."),
            "rules": {
                "type": "array",
                "items": _ENTITY_RULE,
                "minItems": 1,
                "maxItems": 50,
            },
            "output_path": workspace_path_schema("Where to write the result (cleaned.csv)."),
            "on_missing_column": _ON_MISSING_COLUMN,
        },
        required=("dataset", "rules"),
    ),
    output_schema=result_schema(
        {
            "dataset": STRING,
            "output_path": STRING,
            "rows_in": COUNT,
            "rows_out": COUNT,
            "merged": {"type": "array", "items": _MERGED_GROUP, "maxItems": 1000},
            "merged_groups": COUNT,
            "rules_applied": {"type": "array", "items": _APPLIED_RULE},
            "rules_skipped": {
                "type": "array",
                "items": result_schema(
                    {
                        "id": STRING,
                        "fields": STRINGS,
                        "missing_columns": {**STRINGS, "minItems": 1},
                    },
                    required=("id", "fields", "missing_columns"),
                ),
                "description": "Rules not applied because the CSV lacks a column they name.",
            },
            "missing_columns": {**STRINGS, "description": "Every column the skipped rules name."},
        },
        required=(
            "dataset",
            "output_path",
            "rows_in",
            "rows_out",
            "merged",
            "merged_groups",
            "rules_applied",
        ),
    ),
    risk=RiskClass.WRITE,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=True,
)
