"""Reading runs from a test that drives real workers: waiting for a status, and the exact
shape of what the run recorded (step rows, tool invocations, the event stream)."""

from __future__ import annotations

from typing import Any

from playbooks.models import Run, RunEvent, RunStep
from tests.support.processes import wait_for
from tools.models import ToolInvocation

FINAL = ("succeeded", "failed", "cancelled")


def run_reload(run: Run | Any) -> Run:
    return Run.objects.select_related("version").get(pk=getattr(run, "pk", run))


def run_wait_for_status(run: Run, status: str, timeout: float) -> Run:
    """Waits until the run has `status`; fails at once if it ends in another final status."""

    def reached() -> Run | None:
        current = run_reload(run)
        if current.status == status:
            return current
        if current.status in FINAL:
            raise AssertionError(
                f"run ended {current.status} (error {current.error!r}) while waiting for {status}"
            )
        return None

    return wait_for(reached, timeout, interval=0.2, message=f"run {run.pk} to be {status}")


def step_rows(run: Run) -> list[tuple[int, str, int, str]]:
    """(index, step id, attempt, status) of every RunStep row, in order."""
    return list(
        RunStep.objects.filter(run=run)
        .order_by("index", "attempt")
        .values_list("index", "step_id", "attempt", "status")
    )


def invocations(run: Run) -> dict[str, str]:
    """Tool invocation key → status."""
    return dict(ToolInvocation.objects.filter(run=run).values_list("key", "status"))


def event_types(run: Run) -> list[str]:
    return list(RunEvent.objects.filter(run=run).order_by("seq").values_list("type", flat=True))


def assert_event_stream_intact(run: Run) -> list[str]:
    """seq is exactly 1..N (no gap, no duplicate), matches the run's counter, and the run
    started once; returns the event types in order."""
    run = run_reload(run)
    seqs = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert run.event_seq == len(seqs)
    types = event_types(run)
    assert types.count("run.started") == 1, types
    return types
