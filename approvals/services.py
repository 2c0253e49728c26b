"""Writes for approvals: create, approve (hash-bound), reject, cancel, with their effects."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agentstudio.accounts.models import Organization, Role
from agentstudio.accounts.roles import can_decide_approvals, user_membership
from agentstudio.audit import events
from agentstudio.errors import AppError, ErrorCode
from agentstudio.secret_references import vault_reference_changes
from approvals.hashing import approval_body_hash
from approvals.models import (
    Approval,
    ApprovalDecision,
    ApprovalKind,
    ApprovalScope,
    ApprovalStatus,
)
from approvals.notifications import REQUESTED, approval_notify_on_commit

REASON_MAX_LENGTH = 2000
SCOPE_FORBIDDEN_RISKS = {"destructive", "admin", "secret"}


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
) -> Approval:
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
    )
    events.approval_requested(approval=approval, actor=requested_by)
    approval_notify_on_commit(approval, REQUESTED)
    return approval


def approval_assert_can_decide(*, approval: Approval, actor: AbstractUser) -> None:
    """Approvers and admins of the organization; admin-class tools only by admins."""
    membership = user_membership(actor)
    if membership is None or membership.organization_id != approval.organization_id:
        raise AppError(ErrorCode.NOT_FOUND, "Not found.")
    if not can_decide_approvals(actor):
        raise AppError(ErrorCode.PERMISSION_DENIED, "Only approvers and admins decide approvals.")
    if (
        approval.risk == "admin"
        and approval.kind == ApprovalKind.TOOL_CALL
        and (membership.role != Role.ADMIN)
    ):
        raise AppError(ErrorCode.PERMISSION_DENIED, "Admin-class tool calls need an admin.")
    if approval.kind == ApprovalKind.PROMOTION and approval.requested_by_id == actor.pk:
        raise AppError(
            ErrorCode.PERMISSION_DENIED,
            "You requested this promotion; another approver must decide it.",
        )


def _locked_pending(approval: Approval) -> tuple[Approval, bool]:
    """Locks the row; expires it when overdue. Returns (row, expired_now)."""
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    if locked.status == ApprovalStatus.PENDING and locked.expires_at <= timezone.now():
        reason = ""
        if _expires_as_rejection(locked):
            locked.reject()
            reason = "Nobody decided in time (on_expire: reject)."
        else:
            locked.expire()
        _decided(
            locked,
            action=ApprovalDecision.Action.EXPIRE,
            actor=None,
            audit_as=locked.status,
            reason=reason,
        )
        _apply_effect(locked, None)
        return locked, True
    return locked, False


def _expires_as_rejection(approval: Approval) -> bool:
    """A run's playbook may say an unanswered call counts as refused (`on_expire: reject`):
    an agent then hears so and goes on. The default, `fail`, ends the run."""
    if approval.run_id is None or approval.kind != ApprovalKind.TOOL_CALL:
        return False
    return (approval.run.version.spec or {}).get("on_expire", "fail") == "reject"


def _assert_pending(approval: Approval) -> None:
    if approval.status == ApprovalStatus.EXPIRED or (
        approval.status == ApprovalStatus.PENDING and approval.expires_at <= timezone.now()
    ):
        raise AppError(ErrorCode.EXPIRED, "This approval expired; it can no longer be decided.")
    if approval.status != ApprovalStatus.PENDING:
        raise AppError(ErrorCode.INVALID_STATE, f"This approval is already {approval.status}.")


def _expire_if_overdue(approval: Approval) -> None:
    """Records an overdue approval as expired in its own transaction, so the refusal of a
    late decision (410) does not roll the expiry back."""
    with transaction.atomic():
        _locked_pending(approval)


def _locked_for_decision(approval: Approval) -> Approval:
    """Inside the caller's transaction: the row, locked, and still decidable."""
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    _assert_pending(locked)
    return locked


def _reason_checked(reason: str, *, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "A reason is required.",
            details=[{"path": "/reason", "message": "required"}],
        )
    if len(reason) > REASON_MAX_LENGTH:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"The reason is over {REASON_MAX_LENGTH} characters.",
            details=[{"path": "/reason", "message": "too long"}],
        )
    return reason


def _scope_checked(approval: Approval, scope: str | None) -> str:
    scope = scope or ApprovalScope.SINGLE
    if scope not in ApprovalScope.values:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"Unknown scope {scope!r}.",
            details=[{"path": "/scope", "message": "use single, batch or session"}],
        )
    if scope != ApprovalScope.SINGLE and approval.kind != ApprovalKind.TOOL_CALL:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "Only tool-call approvals take a batch or session scope.",
            details=[{"path": "/scope", "message": "single only for this kind"}],
        )
    if scope == ApprovalScope.SESSION and approval.risk in SCOPE_FORBIDDEN_RISKS:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"A session scope is never granted for {approval.risk} tools.",
            details=[{"path": "/scope", "message": "not allowed for this risk"}],
        )
    return scope


def _undo_until(approval: Approval) -> datetime | None:
    """When an approved call may be made: after the undo window its risk class's policy
    gives (external_send: 5 s by default), inside which the approver may take it back."""
    if approval.kind != ApprovalKind.TOOL_CALL or approval.run_id is None:
        return None
    from playbooks.spec.defaults import spec_effective_approval_policy

    policy = spec_effective_approval_policy(approval.run.version.spec)
    seconds = (policy.get(approval.risk) or {}).get("undo_seconds") or 0
    return timezone.now() + timedelta(seconds=seconds) if seconds > 0 else None


def approval_in_undo_window(approval: Approval) -> bool:
    return (
        approval.status == ApprovalStatus.APPROVED
        and approval.undo_until is not None
        and approval.undo_until > timezone.now()
    )


def _after_undo_window(approval: Approval) -> None:
    """On commit: look at the approval again when its undo window has closed."""
    from approvals.tasks import approval_undo_window_closed_task

    approval_id = str(approval.pk)
    delay = max(0.0, (approval.undo_until - timezone.now()).total_seconds()) + 0.05
    transaction.on_commit(
        lambda: approval_undo_window_closed_task.apply_async((approval_id,), countdown=delay)
    )


def approval_undo_window_closed(*, approval_id: Any) -> None:
    """The undo window of an approved call closed without an undo: the call may be made
    now (its run resumes, or the API call is made). A no-op for anything else, so the
    beat's sweep and the delayed task may both arrive."""
    with transaction.atomic():
        locked = Approval.objects.select_for_update().filter(pk=approval_id).first()
        if locked is None or locked.status != ApprovalStatus.APPROVED or locked.undo_until is None:
            return
        if locked.undo_until > timezone.now():
            _after_undo_window(locked)  # early (clocks of two hosts): look again later
            return
        _apply_effect(locked, locked.decided_by, window_closed=True)


def approvals_release_after_undo(*, now: datetime | None = None) -> int:
    """Beat sweep: approved calls past their undo window whose run still waits for them,
    or whose API call is still unmade while its run runs (a delayed task lost with its
    broker), are released."""
    now = now or timezone.now()
    waiting = Q(run__status="waiting_for_approval") | Q(step="api", run__status="running")
    released = list(
        Approval.objects.filter(
            waiting, status=ApprovalStatus.APPROVED, undo_until__lte=now
        ).values_list("pk", flat=True)
    )
    for approval_id in released:
        approval_undo_window_closed(approval_id=approval_id)
    return len(released)


def _apply_effect(
    approval: Approval, actor: AbstractUser | None, *, window_closed: bool = False
) -> None:
    """What a decision does, by kind: promotions activate; run approvals move their run."""
    if approval.kind == ApprovalKind.PROMOTION:
        if approval.status == ApprovalStatus.APPROVED:
            from playbooks.services import playbook_activate_from_approval

            playbook_activate_from_approval(approval=approval, actor=actor)
        return
    if approval_in_undo_window(approval):
        _after_undo_window(approval)
        if approval.run_id is not None and approval.step != "api":
            from playbooks.run_services import run_apply_decision

            run_apply_decision(approval=approval, actor=actor)  # recorded; the run waits
        return
    if approval.kind == ApprovalKind.TOOL_CALL and approval.step == "api":
        # A call an agent made through the API: its run never paused for it. Approved, the
        # broker makes it after the decision commits; otherwise it is simply not made.
        if approval.status == ApprovalStatus.APPROVED:
            from tools.tasks import tool_call_execute_approved_task

            approval_id = str(approval.pk)
            transaction.on_commit(lambda: tool_call_execute_approved_task.delay(approval_id))
        return
    from playbooks.run_services import run_apply_decision

    run_apply_decision(approval=approval, actor=actor, window_closed=window_closed)


def approval_approve(
    *,
    approval: Approval,
    actor: AbstractUser,
    body_hash: str,
    reason: str = "",
    payload: Any = None,
    scope: str | None = None,
) -> Approval:
    """Approves the payload whose hash the approver saw; 409 if it changed, 410 if expired."""
    approval_assert_can_decide(approval=approval, actor=actor)
    if approval.kind == ApprovalKind.QUESTION:
        # Approving would complete the step with no answer, past the question's schema.
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "A question is answered, not approved: "
            f"POST /api/v1/approvals/{approval.pk}/answer/ with {{answer}}.",
        )
    reason = _reason_checked(reason, required=False)
    _expire_if_overdue(approval)
    with transaction.atomic():
        locked = _locked_for_decision(approval)
        scope = _scope_checked(locked, scope)
        if locked.body_hash != body_hash:
            raise AppError(
                ErrorCode.HASH_MISMATCH,
                "The payload changed since you looked at it; review the current payload and "
                "approve its hash.",
                details=[{"path": "/body_hash", "message": f"current hash is {locked.body_hash}"}],
            )
        previous_payload = None
        if payload is not None and payload != locked.payload:
            previous_payload = locked.payload
            locked.payload = _edited_payload_checked(locked, payload)
            locked.body_hash = approval_body_hash(locked.payload)
        _approve_locked(locked, actor, scope, reason, previous_payload)
        if scope == ApprovalScope.BATCH:
            _approve_batch(locked, actor)
    return locked


def _decided(
    locked: Approval,
    *,
    action: str,
    actor: AbstractUser | None,
    audit_as: str,
    reason: str = "",
    scope: str = "",
    previous_payload: Any = None,
) -> None:
    """Records what was just done to `locked` (its transition already applied): who and
    when on the row, a decision row, and an audit row, in the caller's transaction."""
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.reason = reason
    locked.save()
    ApprovalDecision.objects.create(
        approval=locked,
        action=action,
        actor=actor,
        body_hash=locked.body_hash,
        previous_payload=previous_payload,
        reason=reason,
        scope=scope,
    )
    events.approval_decided(approval=locked, actor=actor, decision=audit_as, reason=reason)


def _approve_locked(
    locked: Approval, actor: AbstractUser, scope: str, reason: str, previous_payload: Any
) -> None:
    locked.approve()
    locked.undo_until = _undo_until(locked)
    locked.scope = scope
    _decided(
        locked,
        action=ApprovalDecision.Action.APPROVE,
        actor=actor,
        audit_as="approved",
        reason=reason,
        scope=scope,
        previous_payload=previous_payload,
    )
    _apply_effect(locked, actor)


def _approve_batch(grant: Approval, actor: AbstractUser) -> None:
    """`batch`: every other pending call of the same tool in the same step of the run is
    approved with it, each as it stands (its own payload and hash), each recorded."""
    siblings = (
        Approval.objects.select_for_update()
        .filter(
            run_id=grant.run_id,
            step=grant.step,
            tool=grant.tool,
            kind=ApprovalKind.TOOL_CALL,
            status=ApprovalStatus.PENDING,
        )
        .exclude(pk=grant.pk)
        .order_by("created_at")
    )
    for sibling in siblings:
        if sibling.expires_at <= timezone.now():
            continue  # overdue: the expiry sweep decides it, not the batch
        _approve_locked(
            sibling, actor, ApprovalScope.BATCH, f"Approved with batch {grant.pk}.", None
        )


def approval_session_grant(*, run_id: Any, tool: str) -> Approval | None:
    """The approval of this run that granted later calls of `tool` (scope `session`)."""
    return (
        Approval.objects.filter(
            run_id=run_id,
            tool=tool,
            kind=ApprovalKind.TOOL_CALL,
            scope=ApprovalScope.SESSION,
            status__in=(ApprovalStatus.APPROVED, ApprovalStatus.EXECUTED),
        )
        .exclude(risk__in=SCOPE_FORBIDDEN_RISKS)
        .order_by("decided_at")
        .first()
    )


def approval_covered_by_session(
    *, grant: Approval, call_key: str, step: str, payload: Any
) -> Approval:
    """A later call covered by a session grant: recorded as an approval of its own
    (approved by the grant's approver, pointing at the grant), so each use of the scope
    can be seen and the call is marked executed like any other."""
    with transaction.atomic():
        covered = approval_create(
            organization=grant.organization,
            kind=ApprovalKind.TOOL_CALL,
            title=grant.title,
            payload=payload,
            requested_by=grant.requested_by,
            playbook=grant.playbook,
            run=grant.run,
            step=step,
            tool=grant.tool,
            risk=grant.risk,
            call_key=call_key,
            supersedes=grant,
        )
        covered.approve()
        covered.scope = ApprovalScope.SESSION
        _decided(
            covered,
            action=ApprovalDecision.Action.APPROVE,
            actor=grant.decided_by,
            audit_as="approved",
            reason=f"Covered by the session approval {grant.pk}.",
            scope=ApprovalScope.SESSION,
        )
    return covered


PAYLOAD_FIXED_KINDS = frozenset(
    {
        ApprovalKind.PROMOTION,
        ApprovalKind.QUESTION,
        ApprovalKind.REVIEW,
        ApprovalKind.OUTCOME_UNKNOWN,
    }
)


def approval_payload_editable(approval: Approval) -> bool:
    """Whether an approver may change this approval's payload before deciding, so a page
    offers an edit only where the services would take it."""
    return approval.kind not in PAYLOAD_FIXED_KINDS


def _edited_payload_checked(approval: Approval, payload: Any) -> Any:
    """What an approver may change before deciding: a gate's payload freely; a tool call's
    arguments, which must pass the tool's inputSchema again (never the tool); never a
    promotion's spec (that is the playbook's), a question (it is answered), a review, nor
    an outcome-unknown check (it asks what happened)."""
    if not approval_payload_editable(approval):
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"A {approval.kind} approval's payload cannot be edited.",
            details=[{"path": "/payload", "message": f"not editable for {approval.kind}"}],
        )
    # A secret reference is the author's alone: an approver may not add, drop, move or
    # rename one (the broker would refuse a handle the author did not write anyway).
    changes = vault_reference_changes(approval.payload, payload, base="/payload")
    if changes:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "An edit may not add, remove or change a secret reference.",
            details=changes,
        )
    if approval.kind != ApprovalKind.TOOL_CALL:
        return payload
    from tools.broker import tool_arguments_problems

    if not isinstance(payload, dict) or payload.get("tool") != (approval.payload or {}).get("tool"):
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "An edit may change the call's arguments, not its tool.",
            details=[{"path": "/payload/tool", "message": "must stay the same"}],
        )
    problems = tool_arguments_problems(payload["tool"], payload.get("arguments"))
    if problems:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "The edited arguments do not match the tool's inputSchema.",
            details=[{"path": "/payload/arguments", "message": p} for p in problems],
        )
    return {"tool": payload["tool"], "arguments": payload.get("arguments")}


def approval_edit(*, approval: Approval, actor: AbstractUser, payload: Any) -> Approval:
    """An approver changes a pending payload without deciding: the new hash is recorded, and
    an approve bound to the old one is refused (409) as stale."""
    approval_assert_can_decide(approval=approval, actor=actor)
    _expire_if_overdue(approval)
    with transaction.atomic():
        locked = _locked_for_decision(approval)
        edited = _edited_payload_checked(locked, payload)
        if edited == locked.payload:
            return locked
        previous_payload = locked.payload
        locked.payload = edited
        locked.body_hash = approval_body_hash(edited)
        locked.save(update_fields=["payload", "body_hash", "updated_at"])
        ApprovalDecision.objects.create(
            approval=locked,
            action=ApprovalDecision.Action.EDIT,
            actor=actor,
            body_hash=locked.body_hash,
            previous_payload=previous_payload,
        )
        events.approval_decided(approval=locked, actor=actor, decision="edited")
    return locked


def approval_reject(*, approval: Approval, actor: AbstractUser, reason: str) -> Approval:
    approval_assert_can_decide(approval=approval, actor=actor)
    reason = _reason_checked(reason, required=True)
    _expire_if_overdue(approval)
    with transaction.atomic():
        locked = _locked_for_decision(approval)
        locked.reject()
        _decided(
            locked,
            action=ApprovalDecision.Action.REJECT,
            actor=actor,
            audit_as="rejected",
            reason=reason,
        )
        _apply_effect(locked, actor)
    return locked


@transaction.atomic
def approval_undo(*, approval: Approval, actor: AbstractUser) -> Approval:
    """Takes an approval back inside its undo window: the call is not made, the approval
    becomes `undone`, and a new pending approval for the same call opens, so a person can
    edit, reject or approve it again. After the window: 409 (the call may be under way)."""
    approval_assert_can_decide(approval=approval, actor=actor)
    with transaction.atomic():
        locked = Approval.objects.select_for_update().get(pk=approval.pk)
        if not approval_in_undo_window(locked):
            raise AppError(
                ErrorCode.INVALID_STATE,
                "Only an approved call inside its undo window can be undone."
                if locked.status == ApprovalStatus.APPROVED
                else f"This approval is {locked.status}; there is nothing to undo.",
            )
        locked.undo()
        locked.save(update_fields=["status", "updated_at"])
        ApprovalDecision.objects.create(
            approval=locked,
            action=ApprovalDecision.Action.UNDO,
            actor=actor,
            body_hash=locked.body_hash,
        )
        events.approval_decided(approval=locked, actor=actor, decision="undone")
        reopened = approval_create(
            organization=locked.organization,
            kind=locked.kind,
            title=locked.title,
            payload=locked.payload,
            requested_by=locked.requested_by,
            playbook=locked.playbook,
            run=locked.run,
            step=locked.step,
            tool=locked.tool,
            risk=locked.risk,
            call_key=locked.call_key,
            dry_run=locked.dry_run,
            supersedes=locked,
        )
        if locked.run_id is not None and locked.step != "api":
            from playbooks.run_services import run_note_reopened

            run_note_reopened(undone=locked, reopened=reopened, actor=actor)
    return reopened


def approval_cancel(*, approval: Approval, actor: AbstractUser | None, reason: str) -> Approval:
    """What the approval gated went away; a final approval is left as it is."""
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    if locked.status != ApprovalStatus.PENDING:
        return locked
    locked.cancel()
    locked.reason = reason
    locked.save()
    ApprovalDecision.objects.create(
        approval=locked, action=ApprovalDecision.Action.CANCEL, actor=actor, reason=reason
    )
    events.approval_decided(approval=locked, actor=actor, decision="cancelled", reason=reason)
    return locked


@transaction.atomic
def approvals_expire_overdue(*, now: datetime | None = None) -> int:
    """Beat task body: expires every pending approval past its expires_at."""
    now = now or timezone.now()
    count = 0
    for approval in Approval.objects.filter(status=ApprovalStatus.PENDING, expires_at__lte=now):
        with transaction.atomic():
            _, expired_now = _locked_pending(approval)
        count += int(expired_now)
    return count


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
    _expire_if_overdue(approval)
    with transaction.atomic():
        locked = _locked_for_decision(approval)
        locked.response = answer
        locked.approve()
        _decided(locked, action=ApprovalDecision.Action.ANSWER, actor=actor, audit_as="answered")
        _apply_effect(locked, actor)
    return locked
