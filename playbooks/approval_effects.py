"""What approvals' decisions do to playbooks and runs, registered with approvals.effects
from PlaybooksConfig.ready(): a promotion activates its playbook; a run's approval moves its
run; the run's spec gives the undo window and what an expiry counts as; a file answer is
stored in the run's workspace."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from approvals.effects import (
    API_CALL_STEP,
    QUESTION_ANSWER_WITH_FILE,
    RUN_APPROVAL_POLICY,
    RUN_APPROVAL_RULES,
    RUN_ON_EXPIRE,
    RUNS_AWAITING_RELEASE,
    approval_effect_register,
    approval_hook_register,
)
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from playbooks.models import RunStatus
from playbooks.runs.decisions import run_apply_decision, run_note_reopened
from playbooks.runs.files import question_answer_with_file
from playbooks.services import playbook_activate_from_approval
from playbooks.spec.approval_rules import spec_declared_approval_rules
from playbooks.spec.defaults import spec_effective_approval_policy

# Every kind a run step waits on; a tool call made through the API is playbooks.runs.tool_calls'
# (api_call).
RUN_KINDS = (
    ApprovalKind.TOOL_CALL,
    ApprovalKind.GATE,
    ApprovalKind.QUESTION,
    ApprovalKind.BUDGET,
    ApprovalKind.REVIEW,
    ApprovalKind.OUTCOME_UNKNOWN,
)


def promotion_decided(*, approval: Approval, actor: Any, window_closed: bool) -> None:
    """An approved promotion activates the playbook version it names; a refusal leaves it."""
    if approval.status == ApprovalStatus.APPROVED:
        playbook_activate_from_approval(approval=approval, actor=actor)


def run_approval_decided(*, approval: Approval, actor: Any, window_closed: bool) -> None:
    """A decision on what a run waits for moves the run (inside the undo window it is only
    recorded; the run goes on when the window closes)."""
    run_apply_decision(approval=approval, actor=actor, window_closed=window_closed)


def run_approval_reopened(*, undone: Approval, reopened: Approval, actor: Any) -> None:
    """An approval taken back: the run, still waiting, records it and the reopened one."""
    if undone.run_id is not None:
        run_note_reopened(undone=undone, reopened=reopened, actor=actor)


def run_approval_policy(*, approval: Approval) -> dict[str, dict[str, Any]]:
    """The approval policy of the approval's run, per risk class (its undo windows)."""
    return spec_effective_approval_policy(approval.run.version.spec)


def run_approval_rules(*, run: Any, kind: str, step: str, risk: str) -> dict[str, Any]:
    """Who decides an approval about to open for this run, as its pinned spec declares."""
    spec = run.version.spec if run.version_id else None
    return spec_declared_approval_rules(spec, kind=kind, step=step, risk=risk)


def run_on_expire(*, approval: Approval) -> str:
    """What an unanswered call of the approval's run counts as: `fail` (the default) ends
    the run, `reject` tells the agent it was refused."""
    return (approval.run.version.spec or {}).get("on_expire", "fail")


def runs_awaiting_release() -> Q:
    """Approvals (approved, past their undo window) that a run still waits on: a step of a
    run waiting for approval, or an API call not yet made while its run runs."""
    return Q(run__status=RunStatus.WAITING_FOR_APPROVAL) | Q(
        step=API_CALL_STEP, run__status=RunStatus.RUNNING
    )


def run_approval_effects_register() -> None:
    approval_effect_register(kinds=(ApprovalKind.PROMOTION,), decided=promotion_decided)
    approval_effect_register(
        kinds=RUN_KINDS, decided=run_approval_decided, reopened=run_approval_reopened
    )
    approval_hook_register(name=RUN_APPROVAL_POLICY, handler=run_approval_policy)
    approval_hook_register(name=RUN_APPROVAL_RULES, handler=run_approval_rules)
    approval_hook_register(name=RUN_ON_EXPIRE, handler=run_on_expire)
    approval_hook_register(name=QUESTION_ANSWER_WITH_FILE, handler=question_answer_with_file)
    approval_hook_register(name=RUNS_AWAITING_RELEASE, handler=runs_awaiting_release)
