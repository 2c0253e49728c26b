"""Definitions of the report tools (Excel workbook, lineage record)."""

from approvals.risk import RiskClass
from tools.builtin_definitions.schema_parts import (
    COLUMN_NAME,
    COUNT,
    STRING,
    arguments_schema,
    result_schema,
    text_schema,
    workspace_path_schema,
    written_file_schema,
)
from tools.registry import ToolDefinition

_SHEET = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": r"^[^\[\]:*?/\\]{1,31}$"},
        "columns": {"type": "array", "items": COLUMN_NAME, "minItems": 1, "maxItems": 200},
        "rows": {
            "type": "array",
            "maxItems": 100_000,
            "items": {
                "type": "array",
                "maxItems": 200,
                "items": {"type": ["string", "number", "boolean", "null"]},
            },
        },
        "number_formats": {
            "type": "object",
            "additionalProperties": text_schema(max_length=100),
            "maxProperties": 200,
            "description": "Excel number format per column name, e.g. {Total: '#,##0.00'}.",
        },
    },
    "required": ["name", "columns", "rows"],
    "additionalProperties": False,
}


STUDIO_XLSX_RENDER = ToolDefinition(
    name="tools.studio.xlsx.render",
    title="Render an Excel workbook",
    description="Writes an .xlsx workbook with the given sheets to the workspace.",
    input_schema=arguments_schema(
        {
            "path": workspace_path_schema("The .xlsx file to write."),
            "sheets": {"type": "array", "items": _SHEET, "minItems": 1, "maxItems": 50},
        },
        required=("path", "sheets"),
    ),
    output_schema=written_file_schema(
        {
            "sheets": {
                "type": "array",
                "items": result_schema(
                    {"name": STRING, "rows": COUNT, "columns": COUNT},
                    required=("name", "rows", "columns"),
                ),
                "minItems": 1,
            }
        },
        required=("sheets",),
    ),
    risk=RiskClass.WRITE,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)

STUDIO_REPORT_LINEAGE = ToolDefinition(
    name="tools.studio.report.lineage",
    title="Write the lineage record",
    description="Writes which step produced which artifact from which inputs, as JSON.",
    input_schema=arguments_schema(
        {
            "path": {
                **workspace_path_schema("Where to write it."),
                "default": "lineage.json",
            }
        }
    ),
    output_schema=written_file_schema(
        {
            "steps": {**COUNT, "description": "Finished steps recorded."},
            "artifacts": {**COUNT, "description": "Artifacts mapped to their step."},
        },
        required=("steps", "artifacts"),
    ),
    risk=RiskClass.WRITE,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)
