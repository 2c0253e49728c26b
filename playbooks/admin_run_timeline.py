"""The run page's timeline: one horizontal bar per step attempt, placed and sized by when it
started and how long it took, coloured by status, labelled with the step id, its duration and
who decided its approvals and when. Plain HTML and CSS, no script."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from agentstudio.moments import moment_text
from approvals.models import Approval, ApprovalStatus
from playbooks.models import Run, RunStep, StepStatus

STEP_COLOURS = {
    StepStatus.RUNNING: "#1565c0",
    StepStatus.WAITING: "#e65100",
    StepStatus.SUCCEEDED: "#2e7d32",
    StepStatus.FAILED: "#c62828",
    StepStatus.SKIPPED: "#90a4ae",
}
MIN_BAR_PERCENT = 0.6
DECISION_VERBS = {
    ApprovalStatus.APPROVED: "approved",
    ApprovalStatus.EXECUTED: "approved",
    ApprovalStatus.UNDONE: "approved, then undone,",
    ApprovalStatus.REJECTED: "rejected",
    ApprovalStatus.EXPIRED: "expired",
    ApprovalStatus.CANCELLED: "cancelled",
}


def duration_text(elapsed: timedelta) -> str:
    seconds = elapsed.total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def decision_text(approval: Approval) -> str:
    """ "approved by carol 8 Dec 2026 14:05 UTC", or "awaiting a decision"."""
    if approval.status == ApprovalStatus.PENDING:
        return f"{approval.get_kind_display().lower()} awaiting a decision"
    verb = DECISION_VERBS.get(approval.status, approval.status)
    who = approval.decided_by.get_username() if approval.decided_by else "nobody"
    when = moment_text(approval.decided_at or approval.updated_at)
    if approval.status in (ApprovalStatus.EXPIRED, ApprovalStatus.CANCELLED):
        return f"{verb} {when}"
    return f"{verb} by {who} {when}"


def approvals_by_step(run: Run) -> dict[str, list[Approval]]:
    rows = (
        Approval.objects.filter(run_id=run.pk)
        .select_related("decided_by")
        .only(
            "step",
            "kind",
            "status",
            "decided_at",
            "updated_at",
            "created_at",
            "decided_by__username",
        )
        .order_by("created_at")
    )
    grouped: dict[str, list[Approval]] = defaultdict(list)
    for approval in rows:
        grouped[approval.step].append(approval)
    return grouped


def run_timeline(run: Run) -> SafeString:
    steps = list(
        RunStep.objects.filter(run=run)
        .order_by("started_at", "index", "attempt")
        .only("step_id", "kind", "attempt", "status", "started_at", "finished_at")
    )
    if not steps:
        return format_html('<p class="as-note">{}</p>', "No step has started yet.")
    now = timezone.now()
    start = min(step.started_at for step in steps)
    end = max(step.finished_at or now for step in steps)
    span = max((end - start).total_seconds(), 0.001)
    decisions = approvals_by_step(run)
    rows = [_bar_row(step, start, span, now, decisions.get(step.step_id, [])) for step in steps]
    return format_html(
        '<div class="as-timeline" role="list">{}</div>'
        '<p class="as-note as-timeline-scale">{} → {} ({})</p>',
        format_html_join("", "{}", ((row,) for row in rows)),
        moment_text(start),
        moment_text(end),
        duration_text(end - start),
    )


def _bar_row(
    step: RunStep, start: datetime, span: float, now: datetime, approvals: list[Approval]
) -> SafeString:
    finished = step.finished_at or now
    left = min((step.started_at - start).total_seconds() / span * 100, 100 - MIN_BAR_PERCENT)
    width = (finished - step.started_at).total_seconds() / span * 100
    width = min(max(width, MIN_BAR_PERCENT), 100 - left)
    duration = duration_text(finished - step.started_at)
    if step.finished_at is None:
        duration += " so far"
    attempt = f" (attempt {step.attempt})" if step.attempt > 1 else ""
    notes = format_html_join(
        "", '<span class="as-timeline-decision">{}</span>', ((decision_text(a),) for a in approvals)
    )
    colour = STEP_COLOURS.get(step.status, "#6c757d")
    return format_html(
        '<div class="as-timeline-row" role="listitem" data-step="{}" data-status="{}">'
        '<div class="as-timeline-label"><strong>{}</strong>{} · {} · {} {}</div>'
        '<div class="as-timeline-track"><span class="as-timeline-bar" '
        'style="left:{}%;width:{}%;background:{}" title="{} {}"></span></div></div>',
        step.step_id,
        step.status,
        step.step_id,
        attempt,
        step.kind,
        duration,
        notes,
        f"{left:.2f}",
        f"{width:.2f}",
        colour,
        step.get_status_display(),
        duration,
    )
