"""Ending a run: outputs, the optional final review, failure; then, after commit, the
parent run is woken and the callback is sent."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from jinja2 import TemplateError

from approvals.models import ApprovalKind
from approvals.services import approval_create
from playbooks.engine.events import EventSpec
from playbooks.engine.outcome import PauseReason
from playbooks.engine.store.run_audit import run_audit_transition
from playbooks.engine.view import RunView
from playbooks.models import Run
from playbooks.runs.events import (
    run_event_approval_requested,
    run_event_failed,
    run_event_paused,
    run_event_succeeded,
)
from playbooks.spec.template_limits import template_time_limit
from playbooks.spec.templates import template_render_value


def run_after_finish(run: Run) -> None:
    """Every end lands here: after commit the tree's credit hold is settled once its last
    run has ended (the beat's sweep settles one a dead worker left open), the parent woken,
    the callback sent."""
    run_id, parent_id, callback = run.pk, run.parent_run_id, run.callback_url
    from playbooks.runs.credit import run_credit_settle_after_commit

    run_credit_settle_after_commit(run_id, parent_id=parent_id)

    def hooks() -> None:
        from playbooks.tasks import run_send_callback_task

        if parent_id:
            from playbooks.runs.services import run_wake_parent

            run_wake_parent(parent_id=parent_id, child_id=run_id)
        if callback:
            run_send_callback_task.delay(str(run_id))

    transaction.on_commit(hooks, robust=True)


def run_fail_locked(
    locked: Run, error: str, *, source: str | None = None, actor: Any = None, **reason: Any
) -> list[EventSpec]:
    """Fails the run with `error`, audited with it (and `reason`, by `actor`: a person's
    decision, or the system when None); `source`, when given, is the status the run is
    failed from (a queued run is started to be failed)."""
    source = source or locked.status
    locked.fail()
    locked.error = error[:5000]
    locked.finished_at = timezone.now()
    locked.paused_reason = ""
    run_audit_transition(
        locked, transition="failed", source=source, actor=actor, error=locked.error, **reason
    )
    run_after_finish(locked)
    return [run_event_failed(error=locked.error)]


def run_succeed_locked(locked: Run, *, actor: Any = None, **reason: Any) -> list[EventSpec]:
    """Ends the run well (audited by `actor`, a review's decider, or the system)."""
    source = locked.status
    locked.succeed()
    locked.finished_at = timezone.now()
    run_audit_transition(locked, transition="succeeded", source=source, actor=actor, **reason)
    locked.paused_reason = ""
    run_after_finish(locked)
    return [run_event_succeeded(outputs=locked.outputs)]


SCRIPTED_STEPS_KEY = "_scripted_steps"


def run_outputs(view: RunView) -> Any:
    """The declared outputs rendered (else every step's output), and, when any step's output
    came from a scripted model, `_scripted_steps`: those step ids in step order."""
    declared = view.spec.get("outputs")
    if declared is None:
        outputs = {step_id: output for step_id, output in view.outputs.items()}
    else:
        seconds = settings.AGENTSTUDIO_STEP_TIMEOUT_SECONDS
        with template_time_limit(seconds=seconds, label=f"the outputs' {seconds:g} s time limit"):
            outputs = template_render_value(declared, view.template_context())
    scripted = view.scripted_step_ids()
    if scripted and isinstance(outputs, dict):
        outputs[SCRIPTED_STEPS_KEY] = scripted
    return outputs


def run_complete_locked(locked: Run, view: RunView) -> list[EventSpec]:
    """Every step is done: render the outputs, then succeed or wait for the final review."""
    try:
        locked.outputs = run_outputs(view)
    except TemplateError as exc:
        return run_fail_locked(locked, f"outputs could not be rendered: {exc}")
    review = view.spec.get("review")
    if not review:
        return run_succeed_locked(locked)
    approval = approval_create(
        organization=locked.organization,
        run=locked,
        playbook=locked.playbook,
        requested_by=locked.created_by,
        kind=ApprovalKind.REVIEW,
        title=review["title"],
        payload={"outputs": locked.outputs},
        call_key=f"{locked.pk}:review@{locked.attempt}",
    )
    source = locked.status
    locked.await_review()
    locked.paused_reason = PauseReason.REVIEW
    run_audit_transition(
        locked,
        transition="reviewing",
        source=source,
        reason=PauseReason.REVIEW,
        approval=str(approval.pk),
    )
    return [
        run_event_approval_requested(approval=approval),
        run_event_paused(data={"reason": PauseReason.REVIEW, "approval": str(approval.pk)}),
    ]
