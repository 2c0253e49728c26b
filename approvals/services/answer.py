"""Answering a question approval, with a value valid against its schema or with a file."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import transaction

from agentstudio.accounts.roles import can_decide_approvals, user_membership
from agentstudio.errors import AppError, ErrorCode
from approvals.effects import QUESTION_ANSWER_WITH_FILE, approval_hook
from approvals.models import Approval, ApprovalDecision, ApprovalKind
from approvals.services.checks import approval_locked_for_decision
from approvals.services.expiry import approval_expire_if_overdue
from approvals.services.recording import approval_decision_record, approval_effect_apply


def approval_assert_can_answer(*, approval: Approval, actor: AbstractUser) -> None:
    """Deciders of the organization, and whoever started the run, answer its questions."""
    membership = user_membership(actor)
    if membership is None or membership.organization_id != approval.organization_id:
        raise AppError(ErrorCode.NOT_FOUND, "Not found.")
    started_it = approval.run is not None and approval.run.created_by_id == actor.pk
    if not (can_decide_approvals(actor) or started_it):
        raise AppError(
            ErrorCode.PERMISSION_DENIED,
            "Only the person who started the run, approvers and admins answer.",
        )


def approval_answer(*, approval: Approval, actor: AbstractUser, answer: Any) -> Approval:
    """Answers a question with a value valid against its schema; the run continues."""
    from jsonschema import Draft202012Validator

    if approval.kind != ApprovalKind.QUESTION:
        raise AppError(ErrorCode.INVALID_STATE, "Only questions take an answer; approve instead.")
    approval_assert_can_answer(approval=approval, actor=actor)
    schema = (approval.payload or {}).get("schema") or {}
    errors = sorted(Draft202012Validator(schema).iter_errors(answer), key=lambda e: e.path)
    if errors:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"The answer does not fit the question: {errors[0].message}",
            details=[
                {
                    "path": "/answer" + "".join(f"/{p}" for p in e.absolute_path),
                    "message": e.message,
                }
                for e in errors[:20]
            ],
        )
    approval_expire_if_overdue(approval)
    with transaction.atomic():
        locked = approval_locked_for_decision(approval)
        locked.response = answer
        locked.approve()
        approval_decision_record(
            locked, action=ApprovalDecision.Action.ANSWER, actor=actor, audit_as="answered"
        )
        approval_effect_apply(locked, actor)
    return locked


def approval_answer_with_file(*, approval: Approval, actor: AbstractUser, uploaded: Any) -> Any:
    """Answers a question that asks for a file: the file is stored where its run keeps files,
    which the app that owns runs does (QUESTION_ANSWER_WITH_FILE), then answered as above."""
    return approval_hook(QUESTION_ANSWER_WITH_FILE)(
        approval=approval, actor=actor, uploaded=uploaded
    )
