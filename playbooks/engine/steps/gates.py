"""`approval` (a gate: the approved, possibly edited, payload becomes the output) and `ask`
(a question: the validated answer becomes the output) steps."""

from __future__ import annotations

from typing import Any

from approvals.models import Approval, ApprovalKind, ApprovalStatus
from playbooks.engine.outcome import Pause, PauseReason, Result, StepOutcome
from playbooks.engine.steps.tool import call_key
from playbooks.engine.view import RunView
from playbooks.models import RunStatus
from playbooks.spec.templates import template_render_value


def decided_approval(view: RunView, key: str) -> Any:
    return Approval.objects.filter(run=view.run, call_key=key).order_by("-created_at").first()


def decision_record(approval: Any) -> dict[str, Any]:
    """What a decided gate or answered question keeps in its step row's `state`: which
    approval, who decided, when, and the hash of the payload they approved (after any edit),
    so the lineage records what a person approved rather than what was proposed."""
    decided_by = approval.decided_by
    return {
        "decision": {
            "approval": str(approval.pk),
            "status": approval.status,
            "by": decided_by.get_username() if decided_by is not None else None,
            "at": approval.decided_at.isoformat() if approval.decided_at else None,
            "body_hash": approval.body_hash,
        }
    }


def resolved_outcome(approval: Any) -> StepOutcome | None:
    """The step's outcome once a person decided, or None while still pending: an approved
    gate yields its (possibly edited) payload, an answered question its answer. The one
    rule for both the engine (the step runs again) and the decision (`runs.decisions`)."""
    if approval.status in (ApprovalStatus.APPROVED, ApprovalStatus.EXECUTED):
        output = approval.response if approval.kind == ApprovalKind.QUESTION else approval.payload
        return StepOutcome(result=Result.SUCCEEDED, output=output, state=decision_record(approval))
    if approval.status == ApprovalStatus.PENDING:
        return None
    reason = approval.reason or approval.status
    return StepOutcome(
        result=Result.FAILED, error=f"{approval.title}: {approval.status} ({reason})"
    )


def _paused(kind: str, status: str, approval: dict[str, Any], rendered: Any) -> StepOutcome:
    return StepOutcome(
        result=Result.PAUSED,
        input=rendered,
        pause=Pause(status=status, reason=kind, approval=approval),
    )


def execute_approval_step(
    view: RunView, index: int, step: dict[str, Any], attempt: int
) -> StepOutcome:
    key = call_key(view, step["id"], attempt, "gate")
    existing = decided_approval(view, key)
    if existing is not None:
        outcome = resolved_outcome(existing)
        if outcome is not None:
            return outcome
    spec = step["approval"]
    context = view.template_context()
    payload = template_render_value(spec.get("payload"), context)
    title = str(template_render_value(spec["title"], context))
    approval = {
        "kind": ApprovalKind.GATE,
        "title": title,
        "payload": payload,
        "call_key": key,
        "step": step["id"],
        "ttl_seconds": spec.get("ttl_seconds"),
    }
    rendered = {"title": title, "payload": payload}
    return _paused(PauseReason.GATE, RunStatus.WAITING_FOR_APPROVAL, approval, rendered)


def execute_ask_step(view: RunView, index: int, step: dict[str, Any], attempt: int) -> StepOutcome:
    key = call_key(view, step["id"], attempt, "ask")
    existing = decided_approval(view, key)
    if existing is not None:
        outcome = resolved_outcome(existing)
        if outcome is not None:
            return outcome
    spec = step["ask"]
    question = str(template_render_value(spec["question"], view.template_context()))
    payload = {"question": question, "schema": spec["schema"]}
    approval = {
        "kind": ApprovalKind.QUESTION,
        "title": question[:300],
        "payload": payload,
        "call_key": key,
        "step": step["id"],
        "ttl_seconds": spec.get("ttl_seconds"),
    }
    return _paused(PauseReason.QUESTION, RunStatus.BLOCKED, approval, payload)
