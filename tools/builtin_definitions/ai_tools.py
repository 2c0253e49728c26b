"""Definitions of the model-backed tools (refine a prompt, draft a playbook)."""

from approvals.risk import RiskClass
from tools.builtin_definitions.schema_parts import (
    arguments_schema,
    text_schema,
)
from tools.registry import ToolDefinition

_MESSAGE = {
    "type": "object",
    "properties": {
        "role": {"enum": ["system", "developer", "user", "assistant"]},
        "content": {"type": "string"},
    },
    "required": ["role", "content"],
    "additionalProperties": False,
}

STUDIO_AI_REFINE_PROMPT = ToolDefinition(
    name="tools.studio.ai.refine_prompt",
    title="Refine a prompt",
    description="Rewrites a prompt template (JSON) into clear chat messages following "
    "the guidelines, and summarises what changed.",
    input_schema=arguments_schema(
        {
            "prompt_template_json": text_schema(
                max_length=100_000, description="A string holding the prompt as JSON."
            ),
            "guidelines": text_schema(max_length=10_000, min_length=0),
            "context": text_schema(max_length=10_000, min_length=0),
        },
        required=("prompt_template_json",),
    ),
    output_schema={
        "type": "object",
        "properties": {
            "messages": {"type": "array", "items": _MESSAGE, "minItems": 1},
            "summary": {"type": "string"},
        },
        "required": ["messages", "summary"],
        "additionalProperties": False,
    },
    risk=RiskClass.COMPUTE,
    idempotent=True,
    untrusted_output=False,
    open_world=True,  # a model provider outside the studio answers (billed per call)
    has_dry_run=False,
)

STUDIO_AI_DRAFT_PLAYBOOK = ToolDefinition(
    name="tools.studio.ai.draft_playbook",
    title="Draft a playbook",
    description="Turns a plain-language description into a validated draft playbook spec.",
    input_schema=arguments_schema(
        {"description": text_schema(max_length=10_000)}, required=("description",)
    ),
    output_schema={
        "type": "object",
        "properties": {"spec": {"type": "object"}, "spec_yaml": {"type": "string"}},
        "required": ["spec", "spec_yaml"],
        "additionalProperties": False,
    },
    risk=RiskClass.COMPUTE,
    idempotent=True,
    untrusted_output=False,
    open_world=True,  # a model provider outside the studio answers (billed per call)
    has_dry_run=False,
)
