"""Telling people an approval waits for them: a signed webhook (one configurable URL) and an
e-mail to the organization's deciders, when an approval is requested and again shortly
before it expires. Sent from Celery tasks after the approval committed; a failure to notify
never touches the approval itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agentstudio.accounts.models import Membership, Role
from agentstudio.json_encoding import json_dumps
from agentstudio.webhooks import hmac_sha256, signed_post
from approvals.models import Approval, ApprovalStatus
from approvals.risk import RiskClass
from approvals.rules import approval_rules_deciders

_log = structlog.get_logger("agentstudio.approvals")

REQUESTED = "approval.requested"
EXPIRING = "approval.expiring"
ESCALATED = "approval.escalated"


def approval_notify_on_commit(approval: Approval, event: str) -> None:
    """Queues the notification once the approval's transaction has committed; no task at
    all when there is nobody to tell (no webhook, no decider with an e-mail address), so a
    burst of approvals does not fill the workers' queue with no-ops."""
    from approvals.tasks import approval_notify_task

    if not settings.AGENTSTUDIO_APPROVAL_WEBHOOK_URL and not _decider_emails(approval, event):
        return
    approval_id = str(approval.pk)
    transaction.on_commit(lambda: approval_notify_task.delay(approval_id, event))


def approval_notification(approval: Approval, event: str) -> dict[str, Any]:
    """What the webhook receives (and the e-mail says): enough to find and judge it."""
    return {
        "event": event,
        "approval": {
            "id": str(approval.pk),
            "kind": approval.kind,
            "title": approval.title,
            "status": approval.status,
            "tool": approval.tool,
            "risk": approval.risk,
            "run": str(approval.run_id) if approval.run_id else None,
            "playbook": str(approval.playbook_id) if approval.playbook_id else None,
            "body_hash": approval.body_hash,
            "expires_at": approval.expires_at.isoformat(),
        },
        "url": f"{settings.AGENTSTUDIO_PUBLIC_URL}/admin/approvals/approval/{approval.pk}/change/",
    }


def webhook_secret() -> str:
    """AGENTSTUDIO_APPROVAL_WEBHOOK_SECRET, or a key derived from SECRET_KEY: a receiver
    checks `X-Signature` with it to know the notification came from this studio."""
    return settings.AGENTSTUDIO_APPROVAL_WEBHOOK_SECRET or hmac_sha256(
        settings.SECRET_KEY, b"approval-webhook"
    )


def _send_webhook(notification: dict[str, Any]) -> None:
    url = settings.AGENTSTUDIO_APPROVAL_WEBHOOK_URL
    if not url:
        return
    body = json_dumps(notification).encode()
    status = signed_post(
        url, body, secret=webhook_secret(), headers={"X-Event": notification["event"]}
    )
    if status is None:
        _log.warning("approval webhook refused: its URL is not allowed", url=url)


def _decider_emails(approval: Approval, event: str) -> list[str]:
    """The deciders its rules allow (approvals.rules): admins and approvers by default, only
    admins for admin-class calls, never an excluded requester; on an escalation, the
    escalate_to deciders."""
    deciders = approval_rules_deciders(approval, escalated=event == ESCALATED)
    if approval.risk == RiskClass.ADMIN:
        deciders &= Q(role=Role.ADMIN)
    emails = Membership.objects.filter(deciders).values_list("user__email", flat=True)
    return sorted({email for email in emails if email})


def _send_email(approval: Approval, notification: dict[str, Any]) -> None:
    recipients = _decider_emails(approval, notification["event"])
    if not recipients:
        return
    lead = {
        REQUESTED: "waits for a decision",
        EXPIRING: "expires soon",
        ESCALATED: "was escalated to you",
    }[notification["event"]]
    send_mail(
        subject=f"[Agent Studio] {approval.title} {lead}"[:200],
        message=(
            f"{approval.title}\n\nKind: {approval.kind}\nTool: {approval.tool or '-'}\n"
            f"Risk: {approval.risk or '-'}\nHash: {approval.body_hash}\n"
            f"Expires: {approval.expires_at.isoformat()}\n\nDecide: {notification['url']}\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
    )


def approval_notify(*, approval_id: Any, event: str) -> bool:
    """Sends both notifications for a still-pending approval; False when nothing was due."""
    approval = Approval.objects.filter(pk=approval_id).first()
    if approval is None or approval.status != ApprovalStatus.PENDING:
        return False
    notification = approval_notification(approval, event)
    _send_email(approval, notification)
    _send_webhook(notification)
    return True


def approvals_remind_expiring(*, now: Any = None) -> int:
    """Beat: one reminder per pending approval that expires within the reminder lead time
    (10 minutes by default); `reminded_at` makes it once."""
    now = now or timezone.now()
    lead = timedelta(seconds=settings.AGENTSTUDIO_APPROVAL_REMIND_BEFORE_SECONDS)
    due = Approval.objects.filter(
        status=ApprovalStatus.PENDING,
        reminded_at__isnull=True,
        expires_at__gt=now,
        expires_at__lte=now + lead,
    )
    count = 0
    for approval in list(due.only("pk", "organization_id", "risk", "rules", "requested_by_id")):
        with transaction.atomic():
            claimed = Approval.objects.filter(pk=approval.pk, reminded_at__isnull=True).update(
                reminded_at=now
            )
            if claimed:
                approval_notify_on_commit(approval, EXPIRING)
                count += 1
    return count
