"""A run's side of budgets: which budget its calls draw on (its root run's, so a sub-run
draws on its parent's), what a call that does not fit does to the step (pause with a
`budget` approval, or fail, per `on_breach`), the model call's reservation and settlement,
and the usage record of each tool call."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from agentstudio.billing.budgets import (
    BudgetExceeded,
    BudgetRef,
    budget_charge_tool_calls_in_transaction,
    budget_release,
    budget_reserve,
    budget_settle,
)
from agentstudio.billing.model_calls import model_request_most, model_usage_record_fields
from agentstudio.billing.models import UsageKind, UsageRecord
from agentstudio.model_instances import model_instance
from approvals.models import ApprovalKind
from playbooks.engine.outcome import Pause, PauseReason, Result, StepOutcome
from playbooks.models import Run, RunStatus

_REF = "_budget_ref"
_WALL_OTHERS = "_budget_wall_others"
_STEP_CLOCK = "_budget_step_clock"


def run_budget_ref(run: Run) -> BudgetRef:
    """The budget of the run's tree: the root run's id, and its budget JSON to make the row
    with. Worked out once per run object (a sub-run's walk to its root costs a query a
    level)."""
    ref = getattr(run, _REF, None)
    if ref is not None:
        return ref
    root_id, budget = run.pk, run.budget
    parent_id = run.parent_run_id
    while parent_id is not None:
        root_id, parent_id, budget = Run.objects.values_list("pk", "parent_run_id", "budget").get(
            pk=parent_id
        )
    limits = dict(budget or {})
    ref = BudgetRef(id=root_id, organization_id=run.organization_id, limits=lambda: limits)
    setattr(run, _REF, ref)
    return ref


def _tree_wall_others(run: Run) -> float:
    """The active time of the other runs of the run's tree (its root's, and every sub-run
    below it): a query a level."""
    root = run_budget_ref(run).id
    tree, frontier = [root], [root]
    while frontier:
        frontier = list(Run.objects.filter(parent_run_id__in=frontier).values_list("pk", flat=True))
        tree += frontier
    others = Run.objects.filter(pk__in=tree).exclude(pk=run.pk)
    return float(others.aggregate(total=Sum("usage_wall_seconds"))["total"] or 0.0)


def budget_wall_step_begin(run: Run, *, in_tree: bool) -> None:
    """Before a step: the clock of the step's own active time starts, and for a run in a
    tree (a sub-run, or a run with sub-run steps) the other runs' active time is read once
    (they draw on the same `max_wall_seconds`)."""
    setattr(run, _WALL_OTHERS, _tree_wall_others(run) if in_tree else 0.0)
    setattr(run, _STEP_CLOCK, time.monotonic())


def budget_wall_step_end(run: Run) -> None:
    setattr(run, _STEP_CLOCK, None)  # the step's time is in usage_wall_seconds from now on


def budget_wall_check(run: Run) -> None:
    """`max_wall_seconds` of the run's tree (its root's budget) against the tree's active
    time: the steps' time, not the time a run waited for a person or in a queue, and the
    running step's time so far. Checked before each step and before each model and tool
    call (so a long agent step stops at its next call)."""
    limits = run_budget_ref(run).limits()
    limit = limits.get("max_wall_seconds")
    if limit is None:
        return
    others = getattr(run, _WALL_OTHERS, None)
    if others is None:  # a call from outside a step (the API): is the run in a tree?
        in_tree = run.parent_run_id is not None or Run.objects.filter(parent_run_id=run.pk).exists()
        others = _tree_wall_others(run) if in_tree else 0.0
        setattr(run, _WALL_OTHERS, others)
    clock = getattr(run, _STEP_CLOCK, None)
    used = run.usage_wall_seconds + others + (time.monotonic() - clock if clock else 0.0)
    if used >= float(limit):
        raise BudgetExceeded(
            limit="max_wall_seconds",
            limit_value=limit,
            usage=round(used, 3),
            requested=0,
            on_breach=limits.get("on_breach") or "pause",
        )


def run_budget_for_call(run: Run) -> BudgetRef:
    """The budget a tool call through the broker is charged to, after the wall-clock check
    (BudgetExceeded when the tree's active time is used up)."""
    budget_wall_check(run)
    return run_budget_ref(run)


def budget_charge_deferred(run: Run, outcome: StepOutcome) -> BudgetExceeded | None:
    """Charges the step's tool calls that ran ahead of their charge (pure calls, see
    `tool_call(charge_at_commit=True)`) inside the caller's transaction; the breach when
    the budget has no room for them (nothing is charged then)."""
    if not outcome.deferred_tool_charges:
        return None
    try:
        budget_charge_tool_calls_in_transaction(
            run_budget_ref(run), calls=outcome.deferred_tool_charges
        )
    except BudgetExceeded as exc:
        return exc
    return None


def budget_exceeded_event(exc: BudgetExceeded) -> tuple[str, dict[str, Any]]:
    return ("budget.exceeded", exc.as_data())


def budget_approval_request(run: Run, step_id: str, exc: BudgetExceeded) -> dict[str, Any]:
    """The fields of the `budget` approval: approve = raise the limit by `raise_by`."""
    unit = " USD" if exc.limit == "max_usd" else ""
    return {
        "call_key": f"budget:{run.pk}:{step_id}:{uuid.uuid4().hex[:12]}",
        "kind": ApprovalKind.BUDGET,
        "title": f"Raise `{exc.limit}` by {exc.raise_by}{unit}? "
        f"(limit {exc.limit_value}{unit}, used {exc.usage}{unit}, "
        f"this call needs {exc.requested}{unit})",
        "payload": {**exc.as_data(), "budget": str(run_budget_ref(run).id)},
        "step": step_id,
    }


def budget_breach_outcome(run: Run, step_id: str, exc: BudgetExceeded) -> StepOutcome:
    """A step whose call did not fit: `on_breach: pause` waits for a person to raise the
    limit (the step runs again from the same call, nothing that succeeded is redone);
    `fail` fails the run with the limit in its error (never retried)."""
    events = [budget_exceeded_event(exc)]
    if exc.on_breach == "fail":
        return StepOutcome(result=Result.FAILED, error=exc.reason, events=events)
    return StepOutcome(
        result=Result.PAUSED,
        events=events,
        pause=Pause(
            status=RunStatus.WAITING_FOR_APPROVAL,
            reason=PauseReason.BUDGET,
            approval=budget_approval_request(run, step_id, exc),
        ),
    )


@dataclass
class ModelCallCost:
    usd: Decimal
    fallback: bool
    wall_seconds: float


def run_usage_base(run: Run, step_id: str) -> dict[str, Any]:
    """Whose a call of the run's is, for its usage record."""
    return {
        "organization_id": run.organization_id,
        "run_id": run.pk,
        "playbook_id": run.playbook_id,
        "step_id": step_id,
        "user_id": run.created_by_id,
    }


def budgeted_model_call(
    run: Run, step_id: str, request: Any, call: Any, provider: Any = None
) -> tuple[Any, Any]:
    """Makes `call()` (the provider's completion of `request`) inside its reservation:
    reserve the most it can cost (billing.model_calls.model_request_most), make it, settle
    what it cost and write its usage record. Answers the reply and its ModelCallCost."""
    budget_wall_check(run)
    most_usd, most_tokens = model_request_most(request, provider)
    hold = budget_reserve(run_budget_ref(run), run_id=run.pk, usd=most_usd, tokens=most_tokens)
    started = time.monotonic()
    try:
        reply = call()
    except BaseException:
        budget_release(hold)
        raise
    wall = time.monotonic() - started
    quote = reply.price()
    budget_settle(
        hold,
        usd=quote.usd,
        tokens=reply.input_tokens + reply.output_tokens,
        record=model_usage_record_fields(
            run_usage_base(run, step_id),
            provider=reply.provider,
            model=reply.model,
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cached_input_tokens=reply.cached_input_tokens,
            usd=quote.usd,
            wall_seconds=reply.wall_seconds or wall,
            usage_estimated=reply.usage_estimated,
            price_fallback=quote.fallback,
            scripted=reply.scripted,
        ),
    )
    return reply, ModelCallCost(usd=quote.usd, fallback=quote.fallback, wall_seconds=wall)


def tool_usage_record(run: Run, step_id: str, result: Any) -> UsageRecord:
    """The usage record of a tool call that was made (unsaved: it travels with the step's
    checkpoint, or the API call's record)."""
    return model_instance(
        UsageRecord,
        id=uuid.uuid4(),
        organization_id=run.organization_id,
        kind=UsageKind.TOOL,
        run_id=run.pk,
        playbook_id=run.playbook_id,
        step_id=step_id,
        user_id=run.created_by_id,
        tool=result.name,
        wall_seconds=round(result.duration_ms / 1000, 6),
        created_at=timezone.now(),
    )
