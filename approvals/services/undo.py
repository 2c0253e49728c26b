"""The undo window of an approved call: when it closes, what closing releases, and taking
an approval back inside it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from agentstudio.audit import events
from agentstudio.errors import AppError, ErrorCode
from approvals.effects import (
    RUN_APPROVAL_POLICY,
    RUNS_AWAITING_RELEASE,
    approval_effect_reopened_handler,
    approval_hook,
)
from approvals.models import Approval, ApprovalDecision, ApprovalKind, ApprovalStatus
from approvals.services.checks import approval_assert_can_decide
from approvals.services.create import approval_create
from approvals.services.recording import (
    approval_after_undo_window,
    approval_effect_apply,
    approval_in_undo_window,
)


def approval_undo_until(approval: Approval) -> datetime | None:
    """When an approved call may be made: after the undo window its risk class's policy
    gives (external_send: 5 s by default), inside which the approver may take it back. The
    policy is the run's spec's, which the app that owns runs reads (RUN_APPROVAL_POLICY)."""
    if approval.kind != ApprovalKind.TOOL_CALL or approval.run_id is None:
        return None
    policy = approval_hook(RUN_APPROVAL_POLICY)(approval=approval)
    seconds = (policy.get(approval.risk) or {}).get("undo_seconds") or 0
    return timezone.now() + timedelta(seconds=seconds) if seconds > 0 else None


def approval_undo_window_closed(*, approval_id: Any) -> None:
    """The undo window of an approved call closed without an undo: the call may be made
    now (its run resumes, or the API call is made). A no-op for anything else, so the
    beat's sweep and the delayed task may both arrive."""
    with transaction.atomic():
        locked = Approval.objects.select_for_update().filter(pk=approval_id).first()
        if locked is None or locked.status != ApprovalStatus.APPROVED or locked.undo_until is None:
            return
        if locked.undo_until > timezone.now():
            approval_after_undo_window(locked)  # early (clocks of two hosts): look again later
            return
        approval_effect_apply(locked, locked.decided_by, window_closed=True)


def approvals_release_after_undo(*, now: datetime | None = None) -> int:
    """Beat sweep: approved calls past their undo window whose run still waits for them,
    or whose API call is still unmade while its run runs (a delayed task lost with its
    broker), are released."""
    now = now or timezone.now()
    waiting = approval_hook(RUNS_AWAITING_RELEASE)()
    released = list(
        Approval.objects.filter(
            waiting, status=ApprovalStatus.APPROVED, undo_until__lte=now
        ).values_list("pk", flat=True)
    )
    for approval_id in released:
        approval_undo_window_closed(approval_id=approval_id)
    return len(released)


@transaction.atomic
def approval_undo(*, approval: Approval, actor: AbstractUser) -> Approval:
    """Takes an approval back inside its undo window: the call is not made, the approval
    becomes `undone`, and a new pending approval for the same call opens, so a person can
    edit, reject or approve it again. After the window: 409 (the call may be under way)."""
    approval_assert_can_decide(approval=approval, actor=actor)
    with transaction.atomic():
        locked = Approval.objects.select_for_update().get(pk=approval.pk)
        if not approval_in_undo_window(locked):
            raise AppError(
                ErrorCode.INVALID_STATE,
                "Only an approved call inside its undo window can be undone."
                if locked.status == ApprovalStatus.APPROVED
                else f"This approval is {locked.status}; there is nothing to undo.",
            )
        note_reopened = approval_effect_reopened_handler(locked)
        locked.undo()
        locked.save(update_fields=["status", "updated_at"])
        ApprovalDecision.objects.create(
            approval=locked,
            action=ApprovalDecision.Action.UNDO,
            actor=actor,
            body_hash=locked.body_hash,
        )
        events.approval_decided(approval=locked, actor=actor, decision=ApprovalStatus.UNDONE)
        reopened = approval_create(
            organization=locked.organization,
            kind=locked.kind,
            title=locked.title,
            payload=locked.payload,
            requested_by=locked.requested_by,
            playbook=locked.playbook,
            run=locked.run,
            step=locked.step,
            tool=locked.tool,
            risk=locked.risk,
            call_key=locked.call_key,
            dry_run=locked.dry_run,
            supersedes=locked,
            rules=locked.rules,
        )
        note_reopened(undone=locked, reopened=reopened, actor=actor)
    return reopened
