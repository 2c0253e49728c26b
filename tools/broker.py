"""The one path every tool call takes, from a step or from an agent turn.

look up → validate arguments → idempotency (a succeeded call is never made again; a call
whose outcome is unknown is retried only if the tool is idempotent) → execute with a
timeout → validate the output → hand back the result and the invocation row for the
caller's checkpoint. The next gates (scope tokens, risk policy, approvals) join here, so
there is never a second path. The gates and their order are here; the parts live beside
it: `schema_checks` (arguments and outputs against the schemas), `tool_execution` (run
with a timeout, fill in the invocation), `call_results` (what a call hands back) and
`broker_secrets` (vault handles resolved, secrets scrubbed).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from agentstudio.billing.budgets import budget_charge_tool_call
from agentstudio.model_instances import model_instance
from approvals.services import approval_mark_executed
from tools.broker_secrets import leaving, vault_error, with_secrets
from tools.call_results import (
    ToolCallResult,
    ToolOutcomeUnknown,
    awaiting_approval_result,
    error_result,
)
from tools.context import ToolContext
from tools.models import InvocationStatus, ToolInvocation
from tools.policy import ApprovalMode, ToolRefused, approval_gate, policy_rule
from tools.registry import tool_registry
from tools.run_access import run_access
from tools.schema_checks import schema_errors, tool_arguments_problems
from tools.scope import ToolScope
from tools.tool_execution import (
    invocation_finish,
    tool_dry_run,
    tool_execute,
    tool_result_text,
)
from tools.vault import VaultError, VaultHandleForged

# Imported from here by the engine, the API and approvals: the broker is the one door.
__all__ = ["ToolCallResult", "ToolOutcomeUnknown", "tool_arguments_problems", "tool_call"]


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
    charge_at_commit: bool = False,
) -> ToolCallResult:
    """Makes (or replays) one tool call through the gates, in DESIGN.md's order: the tool
    exists → it is in the scope → its risk is within the scope → the arguments are valid →
    the approval policy → the budget (charged; BudgetExceeded when it does not fit) →
    execute with a timeout → record.

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
    result or a refusal, is scrubbed of every secret the call used (`leaving`).

    `charge_at_commit` (the engine's tool steps, on PostgreSQL): a call of a pure tool
    (`ToolDefinition.pure`: nothing it does matters until its result is recorded) is not
    charged here but by the checkpoint that records it, atomically, which drops the result
    when the budget has no room (`result.charge_deferred` says so). Every other call is
    charged before it is made."""
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
            charge_at_commit=charge_at_commit,
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
    charge_at_commit: bool = False,
) -> tuple[ToolCallResult, Any]:
    """tool_call's gates, in order: the result (unscrubbed) and the approval it executes.
    `secrets` collects the secrets resolved, for the caller to scrub with."""
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
            text=tool_result_text(name, existing.result, is_error=existing.is_error),
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
        return invocation_finish(invocation, vault_error(name, key, exc, invocation)), None
    problems = schema_errors(definition.input_schema, call_arguments)
    if problems:
        message = "Arguments do not match the tool's inputSchema: " + "; ".join(problems)
        return invocation_finish(invocation, error_result(name, key, message, invocation)), None
    rule = policy_rule(scope, definition)
    approval = None
    if rule.get("mode") == ApprovalMode.DENY:
        raise ToolRefused(
            "permission_denied", f"{name} ({definition.risk}) is denied by the approval policy."
        )
    if rule.get("mode") in (ApprovalMode.APPROVE, ApprovalMode.DRY_RUN_THEN_APPROVE):
        gate = approval_gate(
            run_id=getattr(run, "pk", None),
            key=key,
            step_id=step_id,
            definition=definition,
            arguments=arguments,
            rule=rule,
        )
        if gate.request is not None and definition.has_dry_run:
            gate.request["dry_run"] = tool_dry_run(definition, context, arguments)
        if gate.request is not None or gate.pending is not None:
            return awaiting_approval_result(name, key, invocation, gate), None
        if gate.refusal:
            refused = error_result(name, key, gate.refusal, invocation)
            return invocation_finish(invocation, refused), None
        if gate.arguments != arguments:  # edited by the approver: the same checks again
            try:
                call_arguments = with_secrets(gate.arguments, scope, authored, secrets)
            except (VaultError, VaultHandleForged) as exc:
                return invocation_finish(invocation, vault_error(name, key, exc, invocation)), None
            problems = schema_errors(definition.input_schema, call_arguments)
            if problems:
                message = "The approved arguments do not match the tool's inputSchema: "
                failed = error_result(name, key, message + "; ".join(problems), invocation)
                return invocation_finish(invocation, failed), None
            arguments = invocation.arguments = gate.arguments
        approval = gate.approval
    deferred = charge_at_commit and definition.pure and run is not None
    if not deferred:
        _budget_charge(run)
    if not definition.idempotent and invocation.pk is None:
        # Durable before the side effect: a crash after this line leaves "started", which a
        # resumed run reads as "outcome unknown" instead of sending twice.
        with transaction.atomic():
            invocation.save()
    context.organization_id = scope.organization_id
    result = tool_execute(definition, call_arguments, context, timeout_seconds, invocation)
    result.charge_deferred = deferred
    return invocation_finish(invocation, result), approval


def _budget_charge(run: Any) -> None:
    """The budget gate: the call is charged to its run's budget before it is made (one
    conditional UPDATE); BudgetExceeded when it does not fit, for the caller to pause or
    fail the run (or refuse the API call). Here, after the approval gate, so a call that
    waits for a person holds nothing and is charged once, on the path that makes it."""
    if run is None:
        return
    ref = run_access().run_budget(run)
    if ref is not None:
        budget_charge_tool_call(ref)


def _approval_executed(approval: Any, result: ToolCallResult) -> None:
    approval_mark_executed(approval=approval, result=result.as_mcp())
