"""Expiring approvals nobody decided in time, at a late decision and from the beat sweep."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from approvals.effects import RUN_ON_EXPIRE, approval_hook
from approvals.models import Approval, ApprovalDecision, ApprovalKind, ApprovalStatus
from approvals.services.recording import approval_decision_record, approval_effect_apply


def approval_locked_pending(approval: Approval) -> tuple[Approval, bool]:
    """Locks the row; expires it when overdue. Returns (row, expired_now)."""
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    if locked.status == ApprovalStatus.PENDING and locked.expires_at <= timezone.now():
        reason = ""
        if _expires_as_rejection(locked):
            locked.reject()
            reason = "Nobody decided in time (on_expire: reject)."
        else:
            locked.expire()
        approval_decision_record(
            locked,
            action=ApprovalDecision.Action.EXPIRE,
            actor=None,
            audit_as=locked.status,
            reason=reason,
        )
        approval_effect_apply(locked, None)
        return locked, True
    return locked, False


def _expires_as_rejection(approval: Approval) -> bool:
    """A run's playbook may say an unanswered call counts as refused (`on_expire: reject`):
    an agent then hears so and goes on. The default, `fail`, ends the run."""
    if approval.run_id is None or approval.kind != ApprovalKind.TOOL_CALL:
        return False
    return approval_hook(RUN_ON_EXPIRE)(approval=approval) == "reject"


def approval_expire_if_overdue(approval: Approval) -> None:
    """Records an overdue approval as expired in its own transaction, so the refusal of a
    late decision (410) does not roll the expiry back."""
    with transaction.atomic():
        approval_locked_pending(approval)


@transaction.atomic
def approvals_expire_overdue(*, now: datetime | None = None) -> int:
    """Beat task body: expires every pending approval past its expires_at."""
    now = now or timezone.now()
    count = 0
    for approval in Approval.objects.filter(status=ApprovalStatus.PENDING, expires_at__lte=now):
        with transaction.atomic():
            _, expired_now = approval_locked_pending(approval)
        count += int(expired_now)
    return count
