"""Opening an approval: the row, its audit row and the notification of its deciders."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from agentstudio.accounts.models import Organization
from agentstudio.audit import events
from approvals.effects import RUN_APPROVAL_RULES, approval_hook
from approvals.hashing import approval_body_hash
from approvals.models import Approval
from approvals.notifications import REQUESTED, approval_notify_on_commit
from approvals.rules import approval_rules_resolve


@transaction.atomic
def approval_create(
    *,
    organization: Organization,
    kind: str,
    title: str,
    payload: Any,
    requested_by: AbstractUser | None,
    playbook: Any = None,
    run: Any = None,
    step: str = "",
    tool: str = "",
    risk: str = "",
    call_key: str = "",
    dry_run: Any = None,
    expires_at: datetime | None = None,
    supersedes: Approval | None = None,
    rules: dict[str, Any] | None = None,
) -> Approval:
    """`rules` are the declared who-decides rules; left out, a run's spec says them (the
    RUN_APPROVAL_RULES hook). Either way they land on the row, resolved
    (approvals.rules.approval_rules_resolve), so deciding reads only the approval."""
    if rules is None and run is not None:
        rules = approval_hook(RUN_APPROVAL_RULES)(run=run, kind=kind, step=step, risk=risk)
    if expires_at is None:
        expires_at = timezone.now() + timedelta(seconds=settings.AGENTSTUDIO_APPROVAL_TTL_SECONDS)
    approval = Approval.objects.create(
        organization=organization,
        kind=kind,
        title=title[:300],
        payload=payload,
        body_hash=approval_body_hash(payload),
        requested_by=requested_by,
        playbook=playbook,
        run=run,
        step=step,
        tool=tool,
        risk=risk,
        call_key=call_key,
        dry_run=dry_run,
        expires_at=expires_at,
        supersedes=supersedes,
        rules=approval_rules_resolve(
            organization=organization, kind=kind, risk=risk, declared=rules
        ),
    )
    events.approval_requested(approval=approval, actor=requested_by)
    approval_notify_on_commit(approval, REQUESTED)
    return approval
