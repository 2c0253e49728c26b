"""Approval scopes: one call, a batch of a step's calls, or a run's later calls of a tool."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from agentstudio.errors import AppError, ErrorCode
from approvals.models import (
    Approval,
    ApprovalDecision,
    ApprovalKind,
    ApprovalScope,
    ApprovalStatus,
)
from approvals.risk import RiskClass
from approvals.services.create import approval_create
from approvals.services.recording import approval_decision_record

SCOPE_FORBIDDEN_RISKS = {RiskClass.DESTRUCTIVE, RiskClass.ADMIN, RiskClass.SECRET}


def approval_scope_checked(approval: Approval, scope: str | None) -> str:
    scope = scope or ApprovalScope.SINGLE
    if scope not in ApprovalScope.values:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"Unknown scope {scope!r}.",
            details=[{"path": "/scope", "message": "use single, batch or session"}],
        )
    if scope != ApprovalScope.SINGLE and approval.kind != ApprovalKind.TOOL_CALL:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "Only tool-call approvals take a batch or session scope.",
            details=[{"path": "/scope", "message": "single only for this kind"}],
        )
    if scope == ApprovalScope.SESSION and approval.risk in SCOPE_FORBIDDEN_RISKS:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"A session scope is never granted for {approval.risk} tools.",
            details=[{"path": "/scope", "message": "not allowed for this risk"}],
        )
    return scope


def approval_session_grant(*, run_id: Any, tool: str) -> Approval | None:
    """The approval of this run that granted later calls of `tool` (scope `session`)."""
    return (
        Approval.objects.filter(
            run_id=run_id,
            tool=tool,
            kind=ApprovalKind.TOOL_CALL,
            scope=ApprovalScope.SESSION,
            status__in=(ApprovalStatus.APPROVED, ApprovalStatus.EXECUTED),
        )
        .exclude(risk__in=SCOPE_FORBIDDEN_RISKS)
        .order_by("decided_at")
        .first()
    )


def approval_covered_by_session(
    *, grant: Approval, call_key: str, step: str, payload: Any
) -> Approval:
    """A later call covered by a session grant: recorded as an approval of its own
    (approved by the grant's approver, pointing at the grant), so each use of the scope
    can be seen and the call is marked executed like any other."""
    with transaction.atomic():
        covered = approval_create(
            organization=grant.organization,
            kind=ApprovalKind.TOOL_CALL,
            title=grant.title,
            payload=payload,
            requested_by=grant.requested_by,
            playbook=grant.playbook,
            run=grant.run,
            step=step,
            tool=grant.tool,
            risk=grant.risk,
            call_key=call_key,
            supersedes=grant,
            rules=grant.rules,
        )
        covered.approve()
        covered.scope = ApprovalScope.SESSION
        approval_decision_record(
            covered,
            action=ApprovalDecision.Action.APPROVE,
            actor=grant.decided_by,
            audit_as=ApprovalStatus.APPROVED,
            reason=f"Covered by the session approval {grant.pk}.",
            scope=ApprovalScope.SESSION,
        )
    return covered
