"""Editing a pending payload before deciding: what may change, and the check it passes."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import transaction

from agentstudio.audit import events
from agentstudio.errors import AppError, ErrorCode
from agentstudio.secret_references import vault_reference_changes
from approvals.effects import TOOL_ARGUMENTS_PROBLEMS, approval_hook
from approvals.hashing import approval_body_hash
from approvals.models import Approval, ApprovalDecision, ApprovalKind
from approvals.services.checks import approval_assert_can_decide, approval_locked_for_decision
from approvals.services.expiry import approval_expire_if_overdue
from approvals.services.votes import approval_votes_reset

PAYLOAD_FIXED_KINDS = frozenset(
    {
        ApprovalKind.PROMOTION,
        ApprovalKind.QUESTION,
        ApprovalKind.REVIEW,
        ApprovalKind.OUTCOME_UNKNOWN,
    }
)


def approval_payload_editable(approval: Approval) -> bool:
    """Whether an approver may change this approval's payload before deciding, so a page
    offers an edit only where the services would take it."""
    return approval.kind not in PAYLOAD_FIXED_KINDS


def approval_edited_payload_checked(approval: Approval, payload: Any) -> Any:
    """What an approver may change before deciding: a gate's payload freely; a tool call's
    arguments, which must pass the tool's inputSchema again (never the tool; the check is the
    tools app's, TOOL_ARGUMENTS_PROBLEMS); never a promotion's spec (that is the playbook's),
    a question (it is answered), a review, nor an outcome-unknown check (it asks what
    happened)."""
    if not approval_payload_editable(approval):
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"A {approval.kind} approval's payload cannot be edited.",
            details=[{"path": "/payload", "message": f"not editable for {approval.kind}"}],
        )
    # A secret reference is the author's alone: an approver may not add, drop, move or
    # rename one (the broker would refuse a handle the author did not write anyway).
    changes = vault_reference_changes(approval.payload, payload, base="/payload")
    if changes:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "An edit may not add, remove or change a secret reference.",
            details=changes,
        )
    if approval.kind != ApprovalKind.TOOL_CALL:
        return payload
    tool_arguments_problems = approval_hook(TOOL_ARGUMENTS_PROBLEMS)

    if not isinstance(payload, dict) or payload.get("tool") != (approval.payload or {}).get("tool"):
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "An edit may change the call's arguments, not its tool.",
            details=[{"path": "/payload/tool", "message": "must stay the same"}],
        )
    problems = tool_arguments_problems(payload["tool"], payload.get("arguments"))
    if problems:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "The edited arguments do not match the tool's inputSchema.",
            details=[{"path": "/payload/arguments", "message": p} for p in problems],
        )
    return {"tool": payload["tool"], "arguments": payload.get("arguments")}


def approval_edit(*, approval: Approval, actor: AbstractUser, payload: Any) -> Approval:
    """An approver changes a pending payload without deciding: the new hash is recorded, and
    an approve bound to the old one is refused (409) as stale, and the votes of an M-of-N
    approval start again."""
    approval_assert_can_decide(approval=approval, actor=actor)
    approval_expire_if_overdue(approval)
    with transaction.atomic():
        locked = approval_locked_for_decision(approval)
        edited = approval_edited_payload_checked(locked, payload)
        if edited == locked.payload:
            return locked
        previous_payload = locked.payload
        locked.payload = edited
        locked.body_hash = approval_body_hash(edited)
        locked.save(update_fields=["payload", "body_hash", "updated_at"])
        approval_votes_reset(locked)
        ApprovalDecision.objects.create(
            approval=locked,
            action=ApprovalDecision.Action.EDIT,
            actor=actor,
            body_hash=locked.body_hash,
            previous_payload=previous_payload,
        )
        events.approval_decided(approval=locked, actor=actor, decision="edited")
    return locked
