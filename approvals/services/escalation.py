"""Escalating approvals nobody decided within their rules' escalate_after_seconds: marked
once, recorded as an audit event, and their escalate_to deciders notified (and from then on
allowed to decide, approvals.rules)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from agentstudio.audit import events
from approvals.models import Approval, ApprovalStatus
from approvals.notifications import ESCALATED, approval_notify_on_commit
from approvals.rules import approval_escalation_due_at


def approvals_escalate_due(*, now: datetime | None = None) -> int:
    """Beat task body: escalates every pending approval that has waited long enough; the
    conditional update on `escalated_at` makes each escalation happen once."""
    now = now or timezone.now()
    candidates = (
        Approval.objects.filter(
            status=ApprovalStatus.PENDING,
            escalated_at__isnull=True,
            expires_at__gt=now,
            rules__escalate_after_seconds__gt=0,
        )
        .select_related("organization")
        .order_by("created_at")
    )
    count = 0
    for approval in candidates:
        due_at = approval_escalation_due_at(approval)
        if due_at is None or due_at > now:
            continue
        with transaction.atomic():
            claimed = Approval.objects.filter(
                pk=approval.pk, status=ApprovalStatus.PENDING, escalated_at__isnull=True
            ).update(escalated_at=now)
            if not claimed:
                continue
            approval.escalated_at = now
            events.approval_escalated(
                approval=approval, escalate_to=list(approval.rules.get("escalate_to") or [])
            )
            approval_notify_on_commit(approval, ESCALATED)
        count += 1
    return count
