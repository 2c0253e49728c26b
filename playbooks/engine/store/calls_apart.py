"""A step's tool calls recorded on their own, when the checkpoint that carries them dies.

A tool's side effect (a file written, a message sent) must never be left without its
invocation row and its audit row. They normally commit with the step's checkpoint; when
that checkpoint fails they are written in a transaction of their own, under the run's row
lock, before the slice gives up. The next slice then finds the call recorded and replays
its result instead of making it again."""

from __future__ import annotations

from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from playbooks.engine.store.run_audit import run_audit_append_locked
from playbooks.models import Run, RunStatus
from tools.models import InvocationStatus, ToolInvocation

_log = structlog.get_logger("agentstudio.engine")


def invocations_record_apart(*, run_id: object, owner: str, invocations: list[Any]) -> None:
    """Writes the calls the database does not hold yet (or holds as only `started`) and
    their audit rows, if the run is still running and ours. Never raises: the checkpoint's
    own error is the one to report."""
    if not invocations:
        return
    try:
        with transaction.atomic():
            locked = Run.objects.select_for_update().get(pk=run_id)
            if locked.status != RunStatus.RUNNING or locked.lease_owner != owner:
                return
            keys = [invocation.key for invocation in invocations]
            known = dict(ToolInvocation.objects.filter(key__in=keys).values_list("key", "status"))
            recorded = []
            for invocation in invocations:
                if known.get(invocation.key, InvocationStatus.STARTED) != InvocationStatus.STARTED:
                    continue  # its checkpoint committed after all, audit row included
                invocation.save()
                recorded.append(invocation)
            run_audit_append_locked(locked, recorded, timezone.now())
            locked.usage_tool_calls += len(recorded)
            locked.save(update_fields=["audit_seq", "audit_hash", "usage_tool_calls"])
        _log.warning("tool calls recorded apart from their checkpoint", run=str(run_id))
    except Exception:
        _log.exception("tool calls of a failed checkpoint could not be recorded", run=str(run_id))
