"""Celery entry points of the run engine (doors, not rooms)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="runs.advance", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def advance_run(run_id: str) -> str:
    from playbooks.engine.runner import run_advance

    return str(run_advance(run_id=run_id))


@shared_task(name="runs.requeue_stalled", ignore_result=True)
def runs_requeue_stalled_task() -> int:
    from playbooks.runs.maintenance import runs_requeue_stalled, runs_settle_credit_holds

    runs_settle_credit_holds()
    return runs_requeue_stalled()


# Named as when it lived in tools, so a message queued before the move is still consumed.
@shared_task(name="tools.execute_approved", acks_late=True, ignore_result=True)
def tool_call_execute_approved_task(approval_id: str) -> None:
    from playbooks.runs.tool_calls import tool_call_execute_approved

    tool_call_execute_approved(approval_id=approval_id)


@shared_task(
    name="runs.send_callback",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)
def run_send_callback_task(run_id: str) -> int:
    from playbooks.callbacks import run_send_callback

    return run_send_callback(run_id=run_id)
