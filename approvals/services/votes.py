"""M-of-N: while an approval needs more distinct approvers than have approved its current
hash, an approve is a vote; the vote that reaches the number approves it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser

from agentstudio.audit import events
from agentstudio.errors import AppError, ErrorCode
from approvals.models import Approval, ApprovalDecision, ApprovalScope, ApprovalVote
from approvals.rules import approval_required_approvals


def approval_scope_checked_for_votes(locked: Approval, scope: str) -> None:
    """A scope grants more calls than the one the voters saw: only `single` under M-of-N."""
    if approval_required_approvals(locked) > 1 and scope != ApprovalScope.SINGLE:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "This approval needs several approvers (required_approvals); only scope "
            "'single' may be granted.",
            details=[{"path": "/scope", "message": "must be single"}],
        )


def approval_votes_reset(locked: Approval) -> None:
    """An edit changes what was approved: the count starts again for the new hash."""
    ApprovalVote.objects.filter(approval=locked).delete()


def approval_vote_counts_to_approval(
    locked: Approval, actor: AbstractUser, reason: str, previous_payload: Any
) -> bool:
    """Inside the decision's transaction, with the row locked: records the actor's vote for
    the current hash and says whether the approval now has the approvals it needs. The same
    person approving the same hash twice is refused (409): it would not count twice."""
    required = approval_required_approvals(locked)
    if required <= 1:
        return True
    votes = ApprovalVote.objects.filter(approval=locked, body_hash=locked.body_hash)
    if votes.filter(user=actor).exists():
        raise AppError(
            ErrorCode.INVALID_STATE,
            f"You already approved this payload; it needs {required} different approvers "
            f"(required_approvals), {votes.count()} so far.",
        )
    ApprovalVote.objects.create(approval=locked, user=actor, body_hash=locked.body_hash)
    if votes.count() >= required:
        return True
    locked.save()
    ApprovalDecision.objects.create(
        approval=locked,
        action=ApprovalDecision.Action.VOTE,
        actor=actor,
        body_hash=locked.body_hash,
        previous_payload=previous_payload,
        reason=reason,
    )
    events.approval_decided(approval=locked, actor=actor, decision="voted", reason=reason)
    return False
