"""The REST AI services (API.md, AI services): which tools they offer, whether they are on
(a provider is marked for AI services in the organization), and one call of one tool with
that provider. Model work happens only after every check; each model call is a usage
record of the organization and the caller."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from jsonschema import Draft202012Validator

from agentstudio.accounts.roles import can_author
from agentstudio.billing.models import UsageKind
from agentstudio.billing.usage import usage_record_add
from agentstudio.errors import AppError, ErrorCode
from tools.ai_services.model_access import ToolModel, model_usage_summary
from tools.builtin_definitions.ai_tools import STUDIO_AI_DRAFT_PLAYBOOK, STUDIO_AI_REFINE_PROMPT
from tools.call_results import ToolCallResult
from tools.context import ToolContext
from tools.models import InvocationStatus, ToolInvocation
from tools.providers.registry import ai_services_provider
from tools.registry import ToolDefinition
from tools.tool_execution import tool_execute

AI_SERVICE_TOOLS: dict[str, ToolDefinition] = {
    definition.name: definition
    for definition in (STUDIO_AI_REFINE_PROMPT, STUDIO_AI_DRAFT_PLAYBOOK)
}
AI_SERVICES_STEP = "ai-services"  # the step id of their model requests and usage records


def ai_services_listing() -> list[dict[str, Any]]:
    return [
        {
            "name": definition.name,
            "title": definition.title,
            "description": definition.description,
            "inputSchema": definition.input_schema,
            "outputSchema": definition.output_schema,
        }
        for definition in AI_SERVICE_TOOLS.values()
    ]


def ai_services_enabled(*, organization: Any) -> bool:
    return ai_services_provider(organization=organization) is not None


def _pointer(parts: Any) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def arguments_problems(definition: ToolDefinition, arguments: Any) -> list[dict[str, Any]]:
    """The inputSchema's complaints as {path, message}, paths JSON Pointers into the body
    (`/arguments/guidelines`); an unknown or missing argument is named in its path."""
    problems = []
    validator = Draft202012Validator(definition.input_schema)
    for error in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
        path = "/arguments" + _pointer(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = set(definition.input_schema.get("properties", {}))
            for name in sorted(set(error.instance) - known):
                problems.append({"path": f"{path}/{name}", "message": "unknown argument"})
            continue
        if error.validator == "required" and isinstance(error.instance, dict):
            for name in error.validator_value:
                if name not in error.instance:
                    problems.append({"path": f"{path}/{name}", "message": "is required"})
            continue
        problems.append({"path": path, "message": _message(error)})
    return problems[:50]


def _message(error: Any) -> str:
    """The complaint without echoing the value (an argument may be 100,000 characters)."""
    limit = error.validator_value
    if error.validator == "maxLength":
        return f"is too long: at most {limit} characters"
    if error.validator == "minLength":
        return "should be non-empty" if limit == 1 else f"is too short: at least {limit}"
    if error.validator == "type":
        return f"is not of type {limit!r}"
    return error.message[:300]


def ai_services_call(
    *, user: Any, organization: Any, name: str, arguments: Any, trace_id: str
) -> dict[str, Any]:
    """One AI services call: 403 without the right to author playbooks, 400 for an unknown
    tool or bad arguments (every problem), 503 when no provider is configured for them;
    else the tool result shape (`isError: true` when the model's answer stayed invalid)."""
    if not can_author(user):
        raise AppError(
            ErrorCode.PERMISSION_DENIED,
            "The AI services need the permission to change playbooks (admin or author).",
        )
    definition = AI_SERVICE_TOOLS.get(name)
    if definition is None:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"There is no AI services tool {name!r}.",
            details=[{"path": "/name", "message": f"one of {sorted(AI_SERVICE_TOOLS)}"}],
        )
    problems = arguments_problems(definition, arguments)
    if problems:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"The arguments do not match {name}'s inputSchema: {problems[0]['message']} "
            f"({problems[0]['path']}).",
            details=problems,
        )
    found = ai_services_provider(organization=organization)
    if found is None:
        raise AppError(
            ErrorCode.FEATURE_DISABLED,
            "The AI services are off: no model provider is configured for them in this "
            "organization (an admin marks one `use_for_ai_services`).",
        )
    provider, model_name = found
    model = ToolModel(
        provider_source=lambda: provider,
        model={"name": model_name, "temperature": 0} if model_name else {"temperature": 0},
        step_id=AI_SERVICES_STEP,
    )
    result = _execute(definition, arguments, organization=organization, model=model)
    for call in model.calls:
        usage_record_add(
            organization_id=organization.pk,
            kind=UsageKind.MODEL,
            step_id=AI_SERVICES_STEP,
            user_id=user.pk,
            provider=call.provider,
            model=call.model,
            tool=name,
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            cached_input_tokens=call.cached_input_tokens,
            usd=call.usd,
            wall_seconds=call.wall_seconds,
            usage_estimated=call.usage_estimated,
            price_fallback=call.price_fallback,
            scripted=call.scripted,
        )
    answer = result.as_mcp()
    answer["_meta"] = {"trace_id": trace_id, "usage": model_usage_summary(model.calls)}
    return answer


def _execute(
    definition: ToolDefinition, arguments: dict[str, Any], *, organization: Any, model: ToolModel
) -> ToolCallResult:
    """The tool run with a timeout and its output checked, as the broker runs it; outside a
    run there is no workspace, no invocation row is kept and no approval policy applies
    (both tools are `compute` and write nothing)."""
    key = f"{AI_SERVICES_STEP}:{uuid.uuid4().hex}"
    context = ToolContext(
        run_id="",
        step_id=AI_SERVICES_STEP,
        call_key=key,
        workspace=None,  # type: ignore[arg-type]
        organization_id=organization.pk,
        model=model,
    )
    invocation = ToolInvocation(
        key=key,
        step_id=AI_SERVICES_STEP,
        tool=definition.name,
        arguments=arguments,
        status=InvocationStatus.STARTED,
        idempotent=definition.idempotent,
    )
    return tool_execute(
        definition, arguments, context, settings.AGENTSTUDIO_STEP_TIMEOUT_SECONDS, invocation
    )
