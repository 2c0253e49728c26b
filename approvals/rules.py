"""Who decides an approval: the rules fixed on it at creation (built-in defaults, under the
organization's defaults, under what the playbook declared), and the check of one decider
against them. Deciding reads only `Approval.rules`, never the playbook."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from agentstudio.accounts.models import Membership
from agentstudio.accounts.roles import DECIDING_ROLES
from approvals.models import Approval, ApprovalKind, ApprovalRuleDefault
from approvals.risk import RiskClass

RULE_KEYS = (
    "approvers",
    "exclude_requester",
    "required_approvals",
    "escalate_after_seconds",
    "escalate_to",
)
MAX_REQUIRED_APPROVALS = 10
# Nobody approves their own call of these classes unless a rule says so.
SELF_APPROVAL_FORBIDDEN_RISKS = frozenset(
    {RiskClass.EXTERNAL_SEND, RiskClass.DESTRUCTIVE, RiskClass.ADMIN}
)


def approval_rules_key(*, kind: str, risk: str) -> str:
    """What rules are set for: a tool call's risk class, any other approval's kind."""
    return risk if kind == ApprovalKind.TOOL_CALL and risk else kind


def approval_rules_built_in(*, kind: str, risk: str) -> dict[str, Any]:
    return {
        "approvers": [],
        "exclude_requester": kind == ApprovalKind.PROMOTION
        or risk in SELF_APPROVAL_FORBIDDEN_RISKS,
        "required_approvals": 1,
        "escalate_after_seconds": None,
        "escalate_to": [],
    }


def _organization_default(organization: Any, key: str) -> dict[str, Any]:
    row = ApprovalRuleDefault.objects.filter(organization=organization, applies_to=key).first()
    if row is None:
        return {}
    values = {name: getattr(row, name) for name in RULE_KEYS}
    return {name: value for name, value in values.items() if value is not None and value != []}


def approval_rules_resolve(
    *, organization: Any, kind: str, risk: str, declared: dict[str, Any] | None
) -> dict[str, Any]:
    """The rules an approval gets: built-in defaults, the organization's defaults for its
    risk class or kind over them, what the playbook declared over those. A promotion's
    requester never decides it."""
    rules = approval_rules_built_in(kind=kind, risk=risk)
    rules.update(_organization_default(organization, approval_rules_key(kind=kind, risk=risk)))
    rules.update({name: value for name, value in (declared or {}).items() if name in RULE_KEYS})
    if kind == ApprovalKind.PROMOTION:
        rules["exclude_requester"] = True
    return rules


def approval_required_approvals(approval: Approval) -> int:
    return int((approval.rules or {}).get("required_approvals") or 1)


def approval_escalation_due_at(approval: Approval) -> datetime | None:
    seconds = (approval.rules or {}).get("escalate_after_seconds")
    if not seconds:
        return None
    return approval.created_at + timedelta(seconds=seconds)


def approval_is_escalated(approval: Approval, *, now: datetime | None = None) -> bool:
    """Escalated when the beat task marked it, or once it has waited long enough (a late
    beat does not keep the backup deciders out)."""
    if approval.escalated_at is not None:
        return True
    due_at = approval_escalation_due_at(approval)
    return due_at is not None and due_at <= (now or timezone.now())


def _named(names: list[str], membership: Membership) -> bool:
    return membership.role in names or membership.user.get_username() in names


def approval_rules_refusal(approval: Approval, membership: Membership) -> str | None:
    """Why the rules refuse this decider (a message naming the rule), or None."""
    rules = approval.rules or {}
    if rules.get("exclude_requester") and approval.requested_by_id == membership.user_id:
        return (
            "You requested this approval (you started its run or asked for the promotion); "
            "its rules (exclude_requester) need another person to decide."
        )
    approvers = rules.get("approvers") or []
    if not approvers or _named(approvers, membership):
        return None
    escalate_to = rules.get("escalate_to") or []
    if escalate_to and approval_is_escalated(approval) and _named(escalate_to, membership):
        return None
    allowed = ", ".join(approvers)
    if escalate_to:
        allowed += f" (and, once escalated, {', '.join(escalate_to)})"
    return f"The rules of this approval (approvers) let only {allowed} decide it."


def approval_rules_deciders(approval: Approval, *, escalated: bool = False) -> Q:
    """The memberships of the organization the rules let decide: a filter on Membership.
    With `escalated`, only the escalate_to deciders (whom an escalation notifies)."""
    rules = approval.rules or {}
    names = rules.get("escalate_to") if escalated else rules.get("approvers")
    deciders = Q(organization_id=approval.organization_id, role__in=DECIDING_ROLES)
    if names:
        deciders &= Q(role__in=names) | Q(user__username__in=names)
    elif escalated:
        return Q(pk__in=[])
    if rules.get("exclude_requester") and approval.requested_by_id:
        deciders &= ~Q(user_id=approval.requested_by_id)
    return deciders
