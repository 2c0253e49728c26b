"""The one path every tool call takes, from a step or from an agent turn.

look up → validate arguments → idempotency (a succeeded call is never made again; a call
whose outcome is unknown is retried only if the tool is idempotent) → execute with a
timeout → validate the output → hand back the result and the invocation row for the
caller's checkpoint. The next gates (scope tokens, risk policy, approvals) join here, so
there is never a second path.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator

from agentstudio import secret_references
from agentstudio.json_encoding import json_dumps
from agentstudio.model_instances import model_instance
from tools.broker_secrets import errors_off_handles, leaving, vault_error, with_secrets
from tools.context import ToolContext, ToolExecutionError, WrittenFile
from tools.policy import ApprovalGate, ToolRefused, approval_gate, policy_rule
from tools.registry import ToolDefinition, tool_registry
from tools.scope import ToolScope
from tools.timeouts import ToolTimeout, run_with_timeout
from tools.vault import VaultError, VaultHandleForged


class ToolOutcomeUnknown(Exception):
    """A non-idempotent call was started before a crash and may or may not have happened."""

    def __init__(self, invocation: Any) -> None:
        super().__init__(f"outcome of {invocation.key} is unknown")
        self.invocation = invocation


@dataclass
class ToolCallResult:
    name: str
    key: str
    structured: Any
    is_error: bool
    text: str
    invocation: Any  # playbooks.models.ToolInvocation, saved by the caller's checkpoint
    written: list[WrittenFile] = field(default_factory=list)
    duration_ms: float = 0.0
    replayed: bool = False  # True when an earlier succeeded invocation was returned
    approval_request: dict[str, Any] | None = None  # an approval to create; not made
    approval_pending: Any = None  # the pending approval it waits for; not made
    approval_mismatch: dict[str, Any] | None = None  # approved payload changed; not made

    def as_mcp(self) -> dict[str, Any]:
        return {
            "content": [{"type": "text", "text": self.text}],
            "structuredContent": self.structured,
            "isError": self.is_error,
        }


@dataclass
class _SchemaCheck:
    """A schema's validator and the instances it has already found valid, by their JSON."""

    schema: dict[str, Any]
    validator: Draft202012Validator
    valid: set[bytes] = field(default_factory=set)


_VALIDATORS: dict[int, _SchemaCheck] = {}
_VALID_MEMO_ENTRIES = 512  # per schema; then it starts afresh
_VALID_MEMO_MAX_BYTES = 2048


def _schema_check(schema: dict[str, Any]) -> _SchemaCheck:
    """Tool schemas live as long as their definitions: cache by identity, not by JSON."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached.schema is not schema:
        cached = _SchemaCheck(schema, Draft202012Validator(schema))
        _VALIDATORS[id(schema)] = cached
    return cached


def _is_plain_json(value: Any) -> bool:
    """Whether `value` is made of exactly the types JSON decodes to (no subclasses, tuples,
    non-finite floats), so that its JSON text stands for it alone in a validation."""
    kind = type(value)
    if kind is dict:
        return all(type(key) is str and _is_plain_json(item) for key, item in value.items())
    if kind is list:
        return all(_is_plain_json(item) for item in value)
    if kind is float:
        return math.isfinite(value)
    return kind is str or kind is int or kind is bool or value is None


def _memo_key(value: Any) -> bytes | None:
    """The instance's JSON text, when it is small enough to keep and stands for the
    instance alone; else None (validated every time). orjson refuses deep nesting and most
    non-JSON types before the walk, which then only looks at a small document."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return None
    if len(text) > _VALID_MEMO_MAX_BYTES or not _is_plain_json(value):
        return None
    return text


def _schema_errors(schema: dict[str, Any] | None, value: Any) -> list[str]:
    """Why `value` does not match `schema` (empty when it does). A validation depends only
    on the schema and the instance, so an instance a schema once accepted is accepted again
    from memory: a playbook's steps call their tools with the same arguments run after run."""
    if not schema:
        return []
    check = _schema_check(schema)
    key = _memo_key(value)
    if key is not None and key in check.valid:
        return []
    if check.validator.is_valid(value):
        if key is not None:
            if len(check.valid) >= _VALID_MEMO_ENTRIES:
                check.valid.clear()
            check.valid.add(key)
        return []
    return [
        _problem(error)
        for error in sorted(check.validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    ][:20]


def _problem(error: Any) -> str:
    path = "/" + "/".join(str(p) for p in error.absolute_path) if error.absolute_path else "/"
    return f"{path}: {error.message}"


def _implementation(name: str) -> Any:
    from tools.builtin import BUILTIN_IMPLEMENTATIONS
    from tools.plugins import PLUGIN_IMPLEMENTATIONS

    found = PLUGIN_IMPLEMENTATIONS.get(name) or BUILTIN_IMPLEMENTATIONS.get(name)
    if found is None:
        from tools.connections import connection_tool_implementation

        found = connection_tool_implementation(name)
    return found


def _error_result(name: str, key: str, message: str, invocation: Any) -> ToolCallResult:
    return ToolCallResult(
        name=name,
        key=key,
        structured={"error": message},
        is_error=True,
        text=message,
        invocation=invocation,
    )


def _text_of(structured: Any) -> str:
    try:
        text = json_dumps(structured)
    except orjson.JSONEncodeError:  # a lone surrogate: escaped; the checkpoint refuses it
        text = json.dumps(structured, default=str)
    return text if len(text) <= 16_384 else text[:16_384] + " …[truncated]"


def tool_call(
    *,
    scope: ToolScope,
    run: Any,
    step_id: str,
    key: str,
    name: str,
    arguments: Any,
    context: ToolContext,
    timeout_seconds: float,
    prior_keys: Collection[str] | None = None,
    vault_references: Mapping[str, str] | None = None,
) -> ToolCallResult:
    """Makes (or replays) one tool call through the gates, in DESIGN.md's order: the tool
    exists → it is in the scope → its risk is within the scope → the arguments are valid →
    the approval policy → execute with a timeout → record.

    Raises ToolRefused for a call that may not be made at all (unknown tool, outside the
    scope, denied by policy) and ToolOutcomeUnknown for the caller to block the run; every
    other failure is a result with `is_error`. A call that needs a person comes back with
    `approval_request` (an approval to create) or `approval_pending`.

    `prior_keys` are the invocation keys the run already has, passed by a caller that holds
    the run's lease (only the holder's guarded checkpoint adds invocations): a key outside
    it needs no lookup. Non-idempotent calls are always looked up, because their "started"
    row is written before the side effect, outside any checkpoint.

    `vault_references` are the handles the playbook's author wrote (JSON Pointer → name,
    rendered from the spec's vault() calls): only those resolve. A handle-shaped value
    anywhere else arrived as data and the call is refused. Whatever leaves the broker, a
    result or a refusal, is scrubbed of every secret the call used (`leaving`)."""
    secrets: list[str] = []
    try:
        result, approval = _gated_call(
            scope=scope,
            run=run,
            step_id=step_id,
            key=key,
            name=name,
            arguments=arguments,
            context=context,
            timeout_seconds=timeout_seconds,
            prior_keys=prior_keys,
            authored=vault_references or {},
            secrets=secrets,
        )
    except ToolRefused as exc:
        raise ToolRefused(exc.code, leaving(exc.message, secrets, context)) from None
    result = leaving(result, secrets, context)
    if approval is not None:
        _approval_executed(approval, result)
    return result


def _gated_call(
    *,
    scope: ToolScope,
    run: Any,
    step_id: str,
    key: str,
    name: str,
    arguments: Any,
    context: ToolContext,
    timeout_seconds: float,
    prior_keys: Collection[str] | None,
    authored: Mapping[str, str],
    secrets: list[str],
) -> tuple[ToolCallResult, Any]:
    """tool_call's gates, in order: the result (unscrubbed) and the approval it executes.
    `secrets` collects the secrets resolved, for the caller to scrub with."""
    from playbooks.models import InvocationStatus, ToolInvocation

    definition = tool_registry.get(name)
    if definition is None or not definition.visible_to(scope.organization_id):
        raise ToolRefused("not_found", f"There is no tool {name!r}.")
    if not scope.allows_tool(name):
        raise ToolRefused("permission_denied", f"{name} is not in this run's scope.")
    if not scope.allows_risk(definition.risk):
        raise ToolRefused(
            "permission_denied",
            f"{name} is {definition.risk}, above this run's limit {scope.allowed_risk_max}.",
        )
    needs_lookup = prior_keys is None or key in prior_keys or not definition.idempotent
    existing = ToolInvocation.objects.filter(key=key).order_by().first() if needs_lookup else None
    if existing is not None and existing.status in (
        InvocationStatus.SUCCEEDED,
        InvocationStatus.FAILED,
    ):
        replayed = ToolCallResult(
            name=name,
            key=key,
            structured=existing.result,
            is_error=existing.is_error,
            text=_text_of(existing.result),
            invocation=existing,
            replayed=True,
        )
        return replayed, None
    if existing is not None and not existing.idempotent:
        raise ToolOutcomeUnknown(existing)
    invocation = existing or model_instance(
        ToolInvocation,
        run=run,
        key=key,
        step_id=step_id,
        tool=name,
        arguments=arguments,
        status=InvocationStatus.STARTED,
        idempotent=definition.idempotent,
        started_at=timezone.now(),
    )
    try:
        call_arguments = with_secrets(arguments, scope, authored, secrets)
    except (VaultError, VaultHandleForged) as exc:
        return _finish(invocation, vault_error(name, key, exc, invocation)), None
    problems = _schema_errors(definition.input_schema, call_arguments)
    if problems:
        message = "Arguments do not match the tool's inputSchema: " + "; ".join(problems)
        return _finish(invocation, _error_result(name, key, message, invocation)), None
    rule = policy_rule(scope, definition)
    approval = None
    if rule.get("mode") == "deny":
        raise ToolRefused(
            "permission_denied", f"{name} ({definition.risk}) is denied by the approval policy."
        )
    if rule.get("mode") in ("approve", "dry_run_then_approve"):
        gate = approval_gate(
            run_id=getattr(run, "pk", None),
            key=key,
            step_id=step_id,
            definition=definition,
            arguments=arguments,
            rule=rule,
        )
        if gate.request is not None and definition.has_dry_run:
            gate.request["dry_run"] = _dry_run(definition, context, arguments)
        if gate.request is not None or gate.pending is not None:
            return _awaiting_approval(name, key, invocation, gate), None
        if gate.refusal:
            return _finish(invocation, _error_result(name, key, gate.refusal, invocation)), None
        if gate.arguments != arguments:  # edited by the approver: the same checks again
            try:
                call_arguments = with_secrets(gate.arguments, scope, authored, secrets)
            except (VaultError, VaultHandleForged) as exc:
                return _finish(invocation, vault_error(name, key, exc, invocation)), None
            problems = _schema_errors(definition.input_schema, call_arguments)
            if problems:
                message = "The approved arguments do not match the tool's inputSchema: "
                failed = _error_result(name, key, message + "; ".join(problems), invocation)
                return _finish(invocation, failed), None
            arguments = invocation.arguments = gate.arguments
        approval = gate.approval
    if not definition.idempotent and invocation.pk is None:
        # Durable before the side effect: a crash after this line leaves "started", which a
        # resumed run reads as "outcome unknown" instead of sending twice.
        with transaction.atomic():
            invocation.save()
    context.organization_id = scope.organization_id
    result = _execute(definition, call_arguments, context, timeout_seconds, invocation)
    return _finish(invocation, result), approval


def _dry_run(definition: ToolDefinition, context: ToolContext, arguments: Any) -> Any:
    """The tool's dry run (no side effect) for the approver to see beside the payload."""
    from tools.builtin import BUILTIN_DRY_RUNS

    render = BUILTIN_DRY_RUNS.get(definition.name)
    if render is None:
        return None
    try:
        return render(context, arguments)
    except Exception as exc:  # a dry run that fails is shown as such, never crashes the call
        return {"dry_run": True, "error": f"{type(exc).__name__}: {exc}"}


def _awaiting_approval(name: str, key: str, invocation: Any, gate: ApprovalGate) -> ToolCallResult:
    """Not made: a person decides first. The caller creates the approval (in its own
    transaction: the engine's checkpoint, or the API's request)."""
    pending = gate.pending
    structured = (
        {"approval_id": str(pending.pk), "status": "pending"}
        if pending is not None
        else {"status": "approval_required"}
    )
    return ToolCallResult(
        name=name,
        key=key,
        structured=structured,
        is_error=True,
        text=f"{name} waits for a person's approval.",
        invocation=invocation,
        approval_request=gate.request,
        approval_pending=pending,
        approval_mismatch=gate.mismatch,
    )


def _approval_executed(approval: Any, result: ToolCallResult) -> None:
    from approvals.services import approval_mark_executed

    approval_mark_executed(approval=approval, result=result.as_mcp())


def _execute(
    definition: ToolDefinition,
    arguments: Any,
    context: ToolContext,
    timeout: float,
    invocation: Any,
) -> ToolCallResult:
    implementation = _implementation(definition.name)
    key = invocation.key
    if implementation is None:
        return _error_result(
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
        result = _error_result(
            definition.name, key, f"{definition.name} timed out after {timeout:g} s.", invocation
        )
    except ToolExecutionError as exc:
        result = _error_result(definition.name, key, str(exc), invocation)
    except Exception as exc:  # a tool bug must not crash the engine; the reason is kept
        result = _error_result(
            definition.name,
            key,
            f"{definition.name} failed: {type(exc).__name__}: {exc}",
            invocation,
        )
    else:
        problems = _schema_errors(definition.output_schema, structured)
        if problems:
            result = _error_result(
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
                text=_text_of(structured),
                invocation=invocation,
                written=list(context.written),
            )
    result.duration_ms = (time.monotonic() - started) * 1000
    return result


def _finish(invocation: Any, result: ToolCallResult) -> ToolCallResult:
    from playbooks.models import InvocationStatus

    invocation.status = InvocationStatus.FAILED if result.is_error else InvocationStatus.SUCCEEDED
    invocation.result = result.structured
    invocation.is_error = result.is_error
    invocation.finished_at = timezone.now()
    invocation.duration_ms = result.duration_ms
    return result


def tool_arguments_problems(name: str, arguments: Any) -> list[str]:
    """The inputSchema's complaints about `arguments` for tool `name` (an approver's edit
    passes the same check as the model's call); an unknown tool is one complaint. A vault
    handle stands where its secret will be: the broker checks that place once resolved."""
    definition = tool_registry.get(name)
    if definition is None:
        return [f"there is no tool {name!r}"]
    if not definition.input_schema or not secret_references.vault_references(arguments):
        return _schema_errors(definition.input_schema, arguments)
    validator = _schema_check(definition.input_schema).validator
    return [_problem(error) for error in errors_off_handles(validator, arguments)][:20]
