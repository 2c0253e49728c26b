"""Reads for `GET /usage/`: usage records of one organization summed per playbook, user,
model or day, over an optional window."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import CharField, Count, F, Q, QuerySet, Sum
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils.dateparse import parse_date, parse_datetime

from agentstudio.accounts.models import Organization
from agentstudio.billing.models import UsageKind, UsageRecord
from agentstudio.errors import AppError, ErrorCode

GROUPS = {
    "playbook": Cast("playbook_id", CharField()),
    "user": Coalesce("user__username", Cast("user_id", CharField())),
    "model": F("model"),
    "day": TruncDate("created_at", tzinfo=UTC),
}


def _bad(name: str, message: str) -> AppError:
    return AppError(
        ErrorCode.VALIDATION_ERROR,
        f"{name}: {message}",
        details=[{"path": f"/{name}", "message": message}],
    )


def usage_window_bound(name: str, raw: str | None, *, end: bool) -> datetime | None:
    """An ISO date or datetime (naive means UTC). A date `from` starts at its midnight; a
    date `to` includes the whole day; a datetime `to` is exclusive."""
    if raw is None or raw == "":
        return None
    try:  # a date first: fromisoformat would read "2026-01-31" as its midnight too
        day = parse_date(raw)
    except ValueError:
        day = None
    if day is not None:
        if end and day == date.max:  # the last day there is: no upper bound
            return None
        return datetime.combine(day + timedelta(days=1) if end else day, time(), tzinfo=UTC)
    try:
        moment = parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None:
        raise _bad(name, "not an ISO 8601 date (2026-01-31) or datetime")
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def usage_summary(
    *, organization: Organization, group_by: str, start: datetime | None, end: datetime | None
) -> QuerySet[Any]:
    """Rows `{key, usd, input_tokens, output_tokens, tool_calls, runs}` ordered by key."""
    if group_by not in GROUPS:
        raise _bad("group_by", f"one of {', '.join(GROUPS)}, not {group_by!r}")
    records = UsageRecord.objects.filter(organization=organization)
    if start is not None:
        records = records.filter(created_at__gte=start)
    if end is not None:
        records = records.filter(created_at__lt=end)
    if start is not None and end is not None and end <= start:
        raise _bad("to", "must be after from")
    return (
        records.annotate(key=GROUPS[group_by])
        .values("key")
        .annotate(
            usd=Sum("usd", default=Decimal("0")),
            input_tokens=Sum("input_tokens", default=0),
            output_tokens=Sum("output_tokens", default=0),
            tool_calls=Count("id", filter=Q(kind=UsageKind.TOOL)),
            runs=Count("run_id", distinct=True),
        )
        .order_by("key")
    )
