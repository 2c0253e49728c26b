"""Approvals in tests: letting an approved call's undo window pass without waiting it out."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from approvals.models import Approval
from approvals.services import approval_undo_window_closed


def undo_window_elapse(approval: Any) -> None:
    """Moves the window's end into the past and runs what its delayed task runs."""
    Approval.objects.filter(pk=approval.pk, undo_until__isnull=False).update(
        undo_until=timezone.now() - timedelta(milliseconds=1)
    )
    approval_undo_window_closed(approval_id=approval.pk)
