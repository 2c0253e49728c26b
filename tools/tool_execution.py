"""A tool's implementation run with a timeout, its output checked, and the invocation row
filled in with the outcome; also the dry run shown beside an approval."""

from __future__ import annotations

import time
from typing import Any

from django.utils import timezone

from agentstudio.billing.budgets import BudgetExceeded
from tools.ai_services.model_access import model_usage_summary
from tools.builtin import BUILTIN_DRY_RUNS, BUILTIN_IMPLEMENTATIONS, BUILTIN_RESULT_TEXTS
from tools.call_results import ToolCallResult, ToolOutcomeUnknown, error_result, result_text
from tools.connections import connection_tool_implementation
from tools.context import ToolContext, ToolExecutionError
from tools.models import InvocationStatus
from tools.plugins import PLUGIN_IMPLEMENTATIONS
from tools.registry import ToolDefinition
from tools.schema_checks import schema_errors
from tools.timeouts import ToolTimeout, run_with_timeout


def tool_implementation(name: str) -> Any:
    found = PLUGIN_IMPLEMENTATIONS.get(name) or BUILTIN_IMPLEMENTATIONS.get(name)
    if found is None:
        found = connection_tool_implementation(name)
    return found


def tool_result_text(name: str, structured: Any, *, is_error: bool = False) -> str:
    """A result's text content: the tool's own rendering of a success, else the JSON."""
    render = None if is_error else BUILTIN_RESULT_TEXTS.get(name)
    return render(structured) if render is not None else result_text(structured)


def tool_dry_run(definition: ToolDefinition, context: ToolContext, arguments: Any) -> Any:
    """The tool's dry run (no side effect) for the approver to see beside the payload."""
    render = BUILTIN_DRY_RUNS.get(definition.name)
    if render is None:
        return None
    try:
        return render(context, arguments)
    except Exception as exc:  # a dry run that fails is shown as such, never crashes the call
        return {"dry_run": True, "error": f"{type(exc).__name__}: {exc}"}


def tool_execute(
    definition: ToolDefinition,
    arguments: Any,
    context: ToolContext,
    timeout: float,
    invocation: Any,
) -> ToolCallResult:
    implementation = tool_implementation(definition.name)
    key = invocation.key
    if implementation is None:
        return error_result(
            definition.name,
            key,
            f"{definition.name} has no implementation on this worker yet.",
            invocation,
        )
    started = time.monotonic()
    try:
        structured = run_with_timeout(implementation, context, arguments, timeout)
    except ToolTimeout:
        if not definition.idempotent:
            # The thread may still complete the call: retrying could send twice.
            raise ToolOutcomeUnknown(invocation) from None
        result = error_result(
            definition.name, key, f"{definition.name} timed out after {timeout:g} s.", invocation
        )
    except BudgetExceeded:
        raise  # a model call of the tool's did not fit: the run pauses or fails, as for any
    except ToolExecutionError as exc:
        result = error_result(definition.name, key, str(exc), invocation)
        details = getattr(exc, "details", None)
        if details:  # e.g. every problem of a model's answer, as {path, message}
            result.structured["errors"] = details
    except Exception as exc:  # a tool bug must not crash the engine; the reason is kept
        result = error_result(
            definition.name,
            key,
            f"{definition.name} failed: {type(exc).__name__}: {exc}",
            invocation,
        )
    else:
        problems = schema_errors(definition.output_schema, structured)
        if problems:
            result = error_result(
                definition.name,
                key,
                "The tool's output does not match its outputSchema: " + "; ".join(problems),
                invocation,
            )
        else:
            result = ToolCallResult(
                name=definition.name,
                key=key,
                structured=structured,
                is_error=False,
                text=tool_result_text(definition.name, structured),
                invocation=invocation,
                written=list(context.written),
            )
    model = getattr(context, "model", None)
    if model is not None and model.calls:
        result.model_usage = model_usage_summary(model.calls)
    result.duration_ms = (time.monotonic() - started) * 1000
    return result


def invocation_finish(invocation: Any, result: ToolCallResult) -> ToolCallResult:
    invocation.status = InvocationStatus.FAILED if result.is_error else InvocationStatus.SUCCEEDED
    invocation.result = result.structured
    invocation.is_error = result.is_error
    invocation.finished_at = timezone.now()
    invocation.duration_ms = result.duration_ms
    return result
