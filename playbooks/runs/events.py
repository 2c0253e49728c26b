"""One small function per run event type: each returns the (type, data) pair a transition
appends with `run_events_append_locked`, so a type's shape is written once. The keys are
in the order clients have always seen them."""

from __future__ import annotations

from typing import Any

from playbooks.engine.events import EventSpec


def run_event_queued(*, playbook: Any, version: int, parent: Any = None) -> EventSpec:
    parent_run = str(parent.pk) if parent is not None else None
    return "run.queued", {
        "playbook": str(playbook.pk),
        "version": version,
        "parent_run": parent_run,
    }


def run_event_requeued(*, retry_of_attempt: int, by: str, cursor: int) -> EventSpec:
    """A failed run queued again by a retry (the type is still `run.queued`)."""
    return "run.queued", {"retry_of_attempt": retry_of_attempt, "by": by, "cursor": cursor}


def run_event_started(*, attempt: int, version: int, cursor: int) -> EventSpec:
    return "run.started", {"attempt": attempt, "version": version, "cursor": cursor}


def run_event_succeeded(*, outputs: Any) -> EventSpec:
    return "run.succeeded", {"outputs": outputs}


def run_event_failed(*, error: str) -> EventSpec:
    return "run.failed", {"error": error}


def run_event_cancelled(*, by: str, reason: str) -> EventSpec:
    return "run.cancelled", {"by": by, "reason": reason}


def run_event_paused(*, data: dict[str, Any]) -> EventSpec:
    """`data` says why: reason, and the step, approval(s) or sub-run it waits for."""
    return "run.paused", data


def run_event_resumed(*, cursor: int) -> EventSpec:
    return "run.resumed", {"cursor": cursor}


def run_event_child_started(*, child: Any, step: str) -> EventSpec:
    return "run.child_started", {"child_run": str(child.pk), "step": step}


def run_event_child_finished(*, child_id: Any) -> EventSpec:
    return "run.child_finished", {"child_run": str(child_id)}


def run_event_approval_requested(*, approval: Any, step: str | None = None) -> EventSpec:
    """`step` is the step that waits; a final review waits on no step and names none."""
    data: dict[str, Any] = {
        "approval": str(approval.pk),
        "kind": approval.kind,
        "title": approval.title,
    }
    if step is not None:
        data["step"] = step
    data["body_hash"] = approval.body_hash
    return "approval.requested", data


def run_event_approval_decided(*, approval: Any, by: str, window_closed: bool) -> EventSpec:
    """A decision the run hears of; `approval.undo_window_closed` when an approved call's
    undo window closed without an undo."""
    return (
        "approval.undo_window_closed" if window_closed else "approval.decided",
        {
            "approval": str(approval.pk),
            "kind": approval.kind,
            "status": approval.status,
            "by": by,
            "reason": approval.reason,
            "body_hash": approval.body_hash,
        },
    )


def run_event_approval_undone(*, approval: Any, by: str) -> EventSpec:
    return "approval.undone", {"approval": str(approval.pk), "by": by}


def run_event_step_succeeded(*, step: str, index: int, attempt: int) -> EventSpec:
    return "step.succeeded", {"step": step, "index": index, "attempt": attempt}


def run_event_step_failed(*, step: str, error: str, retry_at: str | None) -> EventSpec:
    return "step.failed", {"step": step, "error": error, "retry_at": retry_at}
