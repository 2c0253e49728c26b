"""Definition of the tool that loads a skill's reference document."""

from approvals.risk import RiskClass
from tools.builtin_definitions.schema_parts import (
    arguments_schema,
    result_schema,
    workspace_path_schema,
)
from tools.registry import ToolDefinition

SKILL_LOAD_REFERENCE = ToolDefinition(
    name="tools.skill.load_reference",
    title="Load a skill reference",
    description="Loads one reference document of an installed skill.",
    input_schema=arguments_schema(
        {
            "skill": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
            "reference": workspace_path_schema("File under the skill's references/ folder."),
        },
        required=("skill", "reference"),
    ),
    output_schema=result_schema(
        {
            "skill": {"type": "string"},
            "reference": {"type": "string"},
            "content": {"type": "string"},
        },
        required=("skill", "reference", "content"),
    ),
    risk=RiskClass.READ,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)
