"""Timestamps as people read them in the admin: "8 Dec 2026 14:03 UTC", in the current time
zone and naming it, so nobody has to guess which clock a time is on."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def moment_text(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    local = timezone.localtime(moment) if timezone.is_aware(moment) else moment
    return f"{local.day} {local:%b %Y %H:%M} {local.tzname() or ''}".rstrip()
