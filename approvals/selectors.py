"""Reads for approvals: the queue a user may see."""

from typing import Any

from django.db.models import Case, IntegerField, QuerySet, Value, When

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
    return approvals.select_related("playbook", "requested_by", "decided_by")


def approval_queue_ordering(queryset: QuerySet[Approval]) -> QuerySet[Approval]:
    """Pending first, soonest to expire first, then the newest decided."""
    return queryset.annotate(
        pending_first=Case(
            When(status=ApprovalStatus.PENDING, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
    ).order_by("pending_first", "expires_at", "-created_at")
