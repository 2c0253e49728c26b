"""Reads for runs: which runs a user may see, their events after a seq, their artifacts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from agentstudio.accounts.models import Role
from agentstudio.accounts.roles import ORG_WIDE_PLAYBOOK_ROLES, user_membership
from approvals.models import Approval, ApprovalStatus
from playbooks.models import Artifact, Run, RunEvent

TERMINAL_EVENT_TYPES = frozenset({"run.succeeded", "run.failed", "run.cancelled"})


def run_list_visible(*, user: Any) -> QuerySet[Run]:
    """Admins and approvers: the organization's runs; authors: runs of their own playbooks
    and their own runs; runners: their own runs; viewers: none."""
    membership = user_membership(user)
    if membership is None or membership.role == Role.VIEWER:
        return Run.objects.none()
    runs = Run.objects.filter(organization_id=membership.organization_id)
    if membership.role == Role.AUTHOR:
        runs = runs.filter(Q(playbook__created_by=user) | Q(created_by=user))
    elif membership.role not in ORG_WIDE_PLAYBOOK_ROLES:
        runs = runs.filter(created_by=user)
    pending = Prefetch(
        "approvals",
        queryset=Approval.objects.filter(status=ApprovalStatus.PENDING).order_by("created_at"),
        to_attr="pending_approvals",
    )
    return runs.select_related("playbook", "version", "created_by").prefetch_related(pending)


def run_get_visible(*, user: Any, run_id: Any) -> Run | None:
    """One run the user may see, or None (which the API answers with 404)."""
    return run_list_visible(user=user).filter(pk=run_id).first()


def run_events_after(*, run_id: Any, after: int = 0) -> QuerySet[RunEvent]:
    """Events with seq above `after`, oldest first; seqs have no gaps."""
    return RunEvent.objects.filter(run_id=run_id, seq__gt=after).order_by("seq")


def run_artifacts(*, run: Run) -> QuerySet[Artifact]:
    return Artifact.objects.filter(run=run).order_by("path")


def run_artifact_get(*, run: Run, path: str) -> Artifact | None:
    return Artifact.objects.filter(run=run, path=path).first()


def run_tree_usage_usd(*, run_id: Any) -> Decimal:
    """What the run and every run below it (sub-runs, theirs, ...) spent: a sub-run draws on
    its parent's budget, so the parent's settlement charges the whole tree."""
    total = Decimal("0")
    frontier = [run_id]
    seen: set[Any] = set()
    while frontier:
        rows = list(Run.objects.filter(pk__in=frontier).values_list("pk", "usage_usd"))
        seen.update(pk for pk, _ in rows)
        total += sum((usd for _, usd in rows), Decimal("0"))
        children = Run.objects.filter(parent_run_id__in=frontier).values_list("pk", flat=True)
        frontier = [pk for pk in children if pk not in seen]
    return total
