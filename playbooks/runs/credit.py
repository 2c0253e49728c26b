"""A run and the organization's credit: its start (and each retry) reserves `max_usd`, its
end settles what the run and its sub-runs spent (billing.credits does the bookkeeping).
Sub-runs reserve nothing: they draw on their parent's budget and reservation."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from django.db import transaction

from agentstudio.billing.credits import credits_reserve, credits_settle_run, holds_unsettled_run_ids
from agentstudio.billing.models import CreditHold
from playbooks.models import Run
from playbooks.models.runs import FINAL_RUN_STATUSES
from playbooks.runs.selectors import run_tree_usage_usd

logger = logging.getLogger(__name__)


def run_reservation_usd(run: Run) -> Decimal:
    return Decimal(str((run.budget or {}).get("max_usd") or 0))


def run_credit_reserve(run: Run, *, actor: Any = None) -> CreditHold | None:
    """In the transaction that creates (or retries) a top-level run: reserve its `max_usd`;
    `insufficient_credit` (402) when the balance is short, which rolls the start back."""
    if run.parent_run_id is not None:
        return None
    return credits_reserve(
        organization=run.organization,
        amount=run_reservation_usd(run),
        run_id=run.pk,
        user=actor,
        memo=f"run {run.pk} attempt {run.attempt}",
    )


def run_credit_settle(*, run_id: Any) -> CreditHold | None:
    """Settles the run's open hold with what its tree spent; a no-op when there is none (a
    sub-run, or settled already)."""
    with transaction.atomic():
        if not CreditHold.objects.filter(run_id=run_id, settled_at__isnull=True).exists():
            return None
        return credits_settle_run(run_id=run_id, spent_usd=run_tree_usage_usd(run_id=run_id))


def run_credit_settle_after_commit(run_id: Any) -> None:
    """Called from `run_after_finish`: settle once the end is committed. A failure here is
    logged and left to the sweep (`runs_settle_credit`)."""

    def settle() -> None:
        try:
            run_credit_settle(run_id=run_id)
        except Exception:
            logger.exception("settling credit of run %s failed; the sweep retries it", run_id)

    transaction.on_commit(settle, robust=True)


def runs_settle_credit() -> int:
    """The beat's sweep: ended runs whose hold is still open (their worker died between the
    end and the settlement) are settled now. Returns how many were."""
    open_runs = holds_unsettled_run_ids()
    ended = Run.objects.filter(pk__in=open_runs, status__in=FINAL_RUN_STATUSES).values_list(
        "pk", flat=True
    )
    return sum(1 for run_id in ended if run_credit_settle(run_id=run_id) is not None)
