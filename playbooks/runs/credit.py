"""A run and the organization's credit: its start (and each retry) reserves `max_usd`, its
end settles what the run and its sub-runs spent (billing.credits does the bookkeeping).
Sub-runs reserve nothing: they draw on their parent's budget and reservation."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agentstudio.billing.budgets import budget_release
from agentstudio.billing.credits import (
    credits_extend_run,
    credits_reserve,
    credits_settle_run,
    holds_unsettled_run_ids,
)
from agentstudio.billing.models import Budget, BudgetHold, CreditHold
from playbooks.models import Run
from playbooks.models.runs import FINAL_RUN_STATUSES
from playbooks.runs.selectors import run_root_id, run_tree_rows

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


def run_credit_extend(*, budget_id: Any, by: Decimal, actor: Any = None) -> CreditHold | None:
    """An approved raise of `max_usd` by `by` on the budget of the run tree rooted at
    `budget_id` (the top-level run, which holds the credit): its hold grows by as much;
    `insufficient_credit` (402) when the balance is short, and the approval stays pending."""
    return credits_extend_run(run_id=budget_id, amount=by, user=actor)


def _holds_in_flight(budget_id: Any) -> bool:
    """Model calls of the tree still hold part of its budget: wait for them to settle (their
    cost is the tree's). A hold older than a call can last (the step timeout and a lease)
    was left by a worker that died mid-call: released, it costs nothing."""
    holds = BudgetHold.objects.filter(budget_id=budget_id)
    stale = timezone.now() - timedelta(
        seconds=settings.AGENTSTUDIO_STEP_TIMEOUT_SECONDS + settings.AGENTSTUDIO_RUN_LEASE_SECONDS
    )
    for hold in holds.filter(created_at__lt=stale):
        budget_release(hold)
    return holds.exists()


def run_credit_settle(*, run_id: Any) -> CreditHold | None:
    """Settles the run's open hold with what its tree spent, once every run of the tree has
    ended and no call of it is in flight (else later: when its last sub-run ends, or the
    sweep); a no-op when there is none (a sub-run, or settled already).

    What the tree spent is its runs' totals, or its budget's spend when that is more (a
    call settled after its run ended, e.g. one in flight when the run was cancelled, is in
    the budget and in no run's totals)."""
    # No transaction around the reads: an ended tree does not change, and settling locks
    # the hold (a second settler finds it settled and does nothing).
    tree = run_tree_rows(run_id=run_id)
    if any(status not in FINAL_RUN_STATUSES for _pk, status, _usd in tree):
        return None
    budget = Budget.objects.filter(pk=run_id).values_list("spent_usd", "reserved_usd").first()
    spent_budget, reserved = budget or (Decimal("0"), Decimal("0"))
    if reserved > 0 and _holds_in_flight(run_id):
        return None
    spent = max(sum((usd for _pk, _status, usd in tree), Decimal("0")), spent_budget)
    return credits_settle_run(run_id=run_id, spent_usd=spent)


def run_credit_settle_after_commit(run_id: Any, *, parent_id: Any = None) -> None:
    """Called from `run_after_finish`: once the end is committed, settle the hold of the
    run's tree (its own, or, for a sub-run, its root's: the last run of a tree to end
    settles it). A failure here is logged and left to the sweep (`runs_settle_credit`)."""

    def settle() -> None:
        try:
            root = run_root_id(run_id=parent_id) if parent_id is not None else run_id
            run_credit_settle(run_id=root)
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
