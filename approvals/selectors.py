"""Reads for approvals: the queue a user may see."""

from typing import Any

from django.db.models import Case, Count, IntegerField, QuerySet, Value, When

from agentstudio.accounts.roles import can_decide_approvals, user_membership
from approvals.models import Approval, ApprovalStatus


def approval_list_visible(*, user: Any) -> QuerySet[Approval]:
    """Deciders see their organization's queue; everyone else the approvals they requested."""
    membership = user_membership(user)
    if membership is None:
        return Approval.objects.none()
    approvals = Approval.objects.filter(organization_id=membership.organization_id)
    if not can_decide_approvals(user):
        approvals = approvals.filter(requested_by=user)
    return approvals.select_related("playbook", "requested_by", "decided_by").prefetch_related(
        "votes__user"
    )


def approval_queue_ordering(queryset: QuerySet[Approval]) -> QuerySet[Approval]:
    """Pending first, soonest to expire first, then the newest decided."""
    return queryset.annotate(
        pending_first=Case(
            When(status=ApprovalStatus.PENDING, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
    ).order_by("pending_first", "expires_at", "-created_at")


def approval_pending_counts(queryset: QuerySet[Approval]) -> dict[str, int]:
    """Pending approvals per kind, in one grouped query, so the queue's header costs the
    same whether ten or ten thousand approvals wait."""
    rows = (
        queryset.filter(status=ApprovalStatus.PENDING)
        .order_by()
        .values("kind")
        .annotate(pending=Count("pk"))
    )
    return {row["kind"]: row["pending"] for row in rows}


def approval_previous_payload(approval: Approval) -> tuple[str, Any] | None:
    """The payload the current one replaced, for an approver to see what changed, as
    (where it came from, payload): the latest edit's `previous_payload` (a PATCH, or an
    edit made while approving), else the payload of the approval this one supersedes (it
    reopens an undone call or re-asks after a rejection). None when there is neither."""
    edit = (
        approval.decisions.filter(previous_payload__isnull=False)
        .select_related("actor")
        .order_by("-created_at")
        .first()
    )
    if edit is not None:
        by = edit.actor.get_username() if edit.actor is not None else "the system"
        return f"before the edit by {by}", edit.previous_payload
    if approval.supersedes is not None:
        superseded = approval.supersedes
        return f"of the {superseded.status} approval it supersedes", superseded.payload
    return None
