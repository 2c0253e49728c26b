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


def run_tree_rows(*, run_id: Any) -> list[tuple[Any, str, Decimal]]:
    """(id, status, usage_usd) of the run and every run below it (sub-runs, theirs, ...):
    one query for the run and its sub-runs, one more a level below that."""
    columns = ("pk", "status", "usage_usd", "parent_run_id")
    rows = list(Run.objects.filter(Q(pk=run_id) | Q(parent_run_id=run_id)).values_list(*columns))
    seen = {row[0] for row in rows}
    frontier = [row[0] for row in rows if row[3] == run_id]
    while frontier:
        below = [
            row
            for row in Run.objects.filter(parent_run_id__in=frontier).values_list(*columns)
            if row[0] not in seen
        ]
        seen.update(row[0] for row in below)
        rows += below
        frontier = [row[0] for row in below]
    return [(pk, status, usd) for pk, status, usd, _parent in rows]


def run_root_id(*, run_id: Any) -> Any:
    """The top-level run of the tree `run_id` is in (whose budget and credit it draws on)."""
    parent = run_id
    while parent is not None:
        run_id = parent
        parent = Run.objects.filter(pk=run_id).values_list("parent_run_id", flat=True).first()
    return run_id
