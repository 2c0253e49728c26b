"""Celery entry points of the tool broker (doors, not rooms)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="tools.execute_approved", acks_late=True, ignore_result=True)
def tool_call_execute_approved_task(approval_id: str) -> None:
    from tools.services import tool_call_execute_approved

    tool_call_execute_approved(approval_id=approval_id)
