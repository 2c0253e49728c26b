"""Tools registered by engine tests: a counter (to see re-executions) and a flaky tool."""

import threading

from tools.context import ToolContext, ToolExecutionError
from tools.plugins import tool_plugin_register
from tools.registry import ToolDefinition

CALLS: dict[str, int] = {}


def _definition(name: str, *, idempotent: bool, risk: str = "compute") -> ToolDefinition:
    return ToolDefinition(
        name=name,
        title=name,
        description=f"test tool {name}",
        input_schema={
            "type": "object",
            "properties": {"value": {}, "fail_times": {"type": "integer"}},
            "additionalProperties": False,
        },
        output_schema=None,
        risk=risk,
        idempotent=idempotent,
        untrusted_output=False,
        open_world=False,
        has_dry_run=False,
    )


def _count(ctx: ToolContext, args: dict) -> dict:
    CALLS[ctx.call_key] = CALLS.get(ctx.call_key, 0) + 1
    return {"value": args.get("value"), "calls": CALLS[ctx.call_key]}


def _flaky(ctx: ToolContext, args: dict) -> dict:
    step_key = ctx.call_key.rsplit("@", 1)[0]
    CALLS[step_key] = CALLS.get(step_key, 0) + 1
    if CALLS[step_key] <= int(args.get("fail_times", 0)):
        raise ToolExecutionError(f"flaky failure {CALLS[step_key]}")
    return {"value": args.get("value"), "calls": CALLS[step_key]}


tool_plugin_register(_definition("tools.test.count", idempotent=True), _count)
tool_plugin_register(_definition("tools.test.send", idempotent=False, risk="write"), _count)
tool_plugin_register(_definition("tools.test.flaky", idempotent=True), _flaky)


def _cancel_own_run(ctx: ToolContext, args: dict) -> dict:
    """Cancels its run while the step executes: the checkpoint must then refuse."""
    from django.db import connection

    from playbooks.models import Run
    from playbooks.runs.services import run_cancel

    try:
        run_cancel(run=Run.objects.get(pk=ctx.run_id), actor=None, reason="raced")
    finally:
        if threading.current_thread() is not threading.main_thread():
            connection.close()  # on the broker's pool thread: leave no session open
    return {"value": None}


def _bump_event_seq(ctx: ToolContext, args: dict) -> dict:
    """Appends an event to its own running run from outside the engine, the way a service
    might: the engine's guarded checkpoint must notice and fall back to the row lock."""
    from django.db import transaction

    from playbooks.engine.store.event_rows import run_events_append_locked
    from playbooks.models import Run

    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=ctx.run_id)
        run_events_append_locked(run=run, events=[("test.poked", {"by": ctx.call_key})])
    return {"value": args.get("value")}


tool_plugin_register(_definition("tools.test.cancel_self", idempotent=True), _cancel_own_run)
tool_plugin_register(_definition("tools.test.poke", idempotent=True), _bump_event_seq)


def _slow(ctx: ToolContext, args: dict) -> dict:
    """Sleeps `value` seconds; a bare `except Exception` around it must not hide a timeout."""
    import time

    try:
        time.sleep(float(args.get("value", 0)))
    except Exception:
        return {"value": "swallowed"}
    CALLS[ctx.call_key] = CALLS.get(ctx.call_key, 0) + 1
    return {"value": "finished"}


tool_plugin_register(_definition("tools.test.slow", idempotent=True), _slow)
tool_plugin_register(_definition("tools.test.slow_send", idempotent=False, risk="write"), _slow)


def _lease_left(ctx: ToolContext, args: dict) -> dict:
    """How many seconds of lease its run has while the step runs."""
    from django.utils import timezone

    from playbooks.models import Run

    expires = Run.objects.values_list("lease_expires_at", flat=True).get(pk=ctx.run_id)
    return {"value": (expires - timezone.now()).total_seconds()}


tool_plugin_register(_definition("tools.test.lease_left", idempotent=True), _lease_left)
tool_plugin_register(
    _definition("tools.test.notify", idempotent=False, risk="external_send"), _count
)
tool_plugin_register(_definition("tools.test.peek_secret", idempotent=True, risk="secret"), _count)


def _unstorable(ctx: ToolContext, args: dict) -> dict:
    """Answers text PostgreSQL cannot store: a NUL character, or a lone surrogate; or fails
    with a NUL in its message."""
    if args.get("value") == "fail":
        raise ToolExecutionError("bad\x00byte")
    text = "a\x00b" if args.get("value") == "nul" else "a\ud800b"
    return {"value": args.get("value"), "text": text}


tool_plugin_register(_definition("tools.test.unstorable", idempotent=True), _unstorable)


def _conflict(ctx: ToolContext, args: dict) -> dict:
    """While its attempt is at most `fail_times`, inserts the very step row its checkpoint is
    about to insert (a corrupt record): that checkpoint fails on the unique constraint and
    the slice dies. The next slice sees a failed attempt and tries the next one."""
    from django.utils import timezone

    from playbooks.models import Run, RunStep

    step_id, attempt = ctx.step_id, int(ctx.call_key.rsplit("@", 1)[1].split(":")[0])
    if attempt <= int(args.get("fail_times", 1_000)):
        run = Run.objects.get(pk=ctx.run_id)
        index = [step["id"] for step in run.version.spec["steps"]].index(step_id)
        RunStep.objects.get_or_create(
            run=run,
            index=index,
            attempt=attempt,
            defaults={
                "step_id": step_id,
                "kind": "tool",
                "status": "failed",
                "started_at": timezone.now(),
            },
        )
    return {"value": args.get("value")}


tool_plugin_register(_definition("tools.test.conflict", idempotent=True), _conflict)
