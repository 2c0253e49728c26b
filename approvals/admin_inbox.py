"""The inbox: which approvals await the signed-in user (one queryset filter, so the header
badge is one COUNT and the queue's filter one WHERE), and the queue's columns that need more
than a field: the run link, the recipient and the time left."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from agentstudio.accounts.models import Role
from agentstudio.accounts.roles import DECIDING_ROLES, user_membership
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from approvals.risk import RiskClass

AWAITING_PARAMETER = "awaiting"
AWAITING_ME = "me"
URGENT_SECONDS = 10 * 60
URGENT_SHARE_OF_LIFETIME = 0.1
RUN_ID_SHOWN_CHARS = 8


def awaiting_user(queryset: QuerySet[Approval], user: Any) -> QuerySet[Approval]:
    """The approvals of `queryset` the user may decide now, by the rules of
    approval_assert_can_decide / approval_assert_can_answer: pending and not expired, in the
    user's organization; deciders (approvers, admins) see all of them except admin-class tool
    calls (admins only), those whose rules exclude them as the requester, and those whose
    rules name other approvers (unless escalated to them); whoever started a run sees its
    questions. A filter, never a loop, so counting it is one query. The named-approver lists
    are matched by JSON containment, which only PostgreSQL has: on the embedded default's
    SQLite the badge may count an approval whose rules name someone else (deciding it is
    still refused)."""
    membership = user_membership(user)
    if membership is None:
        return queryset.none()
    open_here = queryset.filter(
        organization_id=membership.organization_id,
        status=ApprovalStatus.PENDING,
        expires_at__gt=timezone.now(),
    )
    started_question = Q(kind=ApprovalKind.QUESTION, run__created_by_id=user.pk)
    if membership.role not in DECIDING_ROLES:
        return open_here.filter(started_question)
    decidable = ~Q(kind=ApprovalKind.PROMOTION, requested_by_id=user.pk)
    decidable &= ~Q(rules__exclude_requester=True, requested_by_id=user.pk)
    if membership.role != Role.ADMIN:
        decidable &= ~Q(kind=ApprovalKind.TOOL_CALL, risk=RiskClass.ADMIN)
    if connection.vendor == "postgresql":
        decidable &= _named_in_rules(user, membership.role)
    return open_here.filter(decidable | started_question)


def _named_in_rules(user: Any, role: str) -> Q:
    """No approvers named, or the user named by role or username, or escalated to them."""

    def named(key: str) -> Q:
        return Q(**{f"rules__{key}__contains": [role]}) | Q(
            **{f"rules__{key}__contains": [user.get_username()]}
        )

    anyone = Q(rules__approvers__isnull=True) | Q(rules__approvers=[])
    escalated = Q(escalated_at__isnull=False) & named("escalate_to")
    return anyone | named("approvers") | escalated


def awaiting_me_url() -> str:
    return f"{reverse('admin:approvals_approval_changelist')}?{AWAITING_PARAMETER}={AWAITING_ME}"


def approvals_awaiting(request: HttpRequest) -> dict[str, Any]:
    """Context processor for the header badge: the count is taken only when a page renders
    it (the admin's base_site), so other pages pay nothing."""
    return {
        "approvals_awaiting_count": SimpleLazyObject(
            lambda: awaiting_user(Approval.objects.all(), request.user).count()
        ),
        "approvals_awaiting_url": SimpleLazyObject(awaiting_me_url),
    }


class AwaitingMeFilter(admin.SimpleListFilter):
    """The queue narrowed to what the viewer may decide now (the header badge links here)."""

    title = "decider"
    parameter_name = AWAITING_PARAMETER

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(AWAITING_ME, "Awaiting me")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Approval]) -> QuerySet[Approval]:
        if self.value() == AWAITING_ME:
            return awaiting_user(queryset, request.user)
        return queryset


def only_pending_shown(request: HttpRequest) -> bool:
    """Whether the queue's filters leave only pending rows, where a status column says
    nothing and its width is better spent on the title."""
    return (
        request.GET.get(AWAITING_PARAMETER) == AWAITING_ME
        or request.GET.get("status__exact") == ApprovalStatus.PENDING
    )


def run_link(obj: Approval) -> SafeString | str:
    """The run by URL name: approvals never imports playbooks, and run_id costs no query."""
    if obj.run_id is None:
        return "—"
    return format_html(
        '<a href="{}" title="{}">{}</a>',
        reverse("admin:playbooks_run_change", args=[obj.run_id]),
        obj.run_id,
        str(obj.run_id)[:RUN_ID_SHOWN_CHARS],
    )


def kind_and_tool(obj: Approval) -> SafeString:
    """The kind, and under it the tool a call would make, breakable at its dots so a long
    dotted name wraps inside the column instead of widening the queue."""
    if not obj.tool:
        return format_html("{}", obj.get_kind_display())
    parts = format_html_join(mark_safe(".<wbr>"), "{}", ((part,) for part in obj.tool.split(".")))
    return format_html(
        '{}<br><small class="as-tool" title="{}">{}</small>',
        obj.get_kind_display(),
        obj.tool,
        parts,
    )


def time_left(obj: Approval, *, now: datetime | None = None) -> SafeString | str:
    """How long is left to decide, in words (`in 12 min`), marked urgent under ten minutes or
    the last tenth of the approval's lifetime; `expired` once past; `—` when decided."""
    if obj.status != ApprovalStatus.PENDING:
        return "—"
    now = now or timezone.now()
    left = obj.expires_at - now
    if left <= timedelta(0):
        return format_html('<span class="as-time-left as-urgent">{}</span>', "expired")
    lifetime = (obj.expires_at - obj.created_at).total_seconds() if obj.created_at else 0
    seconds = left.total_seconds()
    urgent = seconds < URGENT_SECONDS or seconds < lifetime * URGENT_SHARE_OF_LIFETIME
    return format_html(
        '<time class="as-time-left{}" datetime="{}" title="{}">{}</time>',
        " as-urgent" if urgent else "",
        obj.expires_at.isoformat(),
        timezone.localtime(obj.expires_at).strftime("%Y-%m-%d %H:%M %Z"),
        relative_text(int(seconds)),
    )


def relative_text(seconds: int) -> str:
    """`in 40 s`, `in 12 min`, `in 3 h 05 min`, `in 2 days`: precise enough to rank by."""
    if seconds < 60:
        return f"in {seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"in {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"in {hours} h {minutes:02d} min"
    return f"in {hours // 24} days"
