"""Definition of the utility tool echo."""

from approvals.risk import RiskClass
from tools.builtin_definitions.schema_parts import (
    arguments_schema,
    result_schema,
)
from tools.registry import ToolDefinition

STUDIO_UTIL_ECHO = ToolDefinition(
    name="tools.studio.util.echo",
    title="Echo a value",
    description="Returns the value it was given, optionally after a pause of sleep_ms.",
    input_schema=arguments_schema(
        {
            "value": {"description": "Any JSON value; returned unchanged."},
            "sleep_ms": {"type": "integer", "minimum": 0, "maximum": 10_000},
        }
    ),
    output_schema=result_schema(
        {"value": {"description": "The value given, or null."}}, required=("value",)
    ),
    risk=RiskClass.COMPUTE,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)
