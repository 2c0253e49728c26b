"""Budgets that hold under concurrency: reserve a call's most before it is made, settle what
it cost after.

Every reservation is one conditional UPDATE of the budget row (`spent + reserved + this ≤
limit` for each limit set), so parallel calls, sub-runs and other processes sharing the
budget cannot together pass a limit: a call that does not fit is refused before it is made
(`BudgetExceeded`). Only a call that costs more than it reserved (more tokens than its
estimate) can take the spend past a limit, by that one call; the next reservation then
fails. Tool calls cost what they cost before they run (one call, no tokens), so their
reservation is their charge. A model call holds a `BudgetHold` until it settles.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Q

from agentstudio.billing.models import Budget, BudgetHold
from agentstudio.billing.usage import usage_record_add

LIMITS = ("max_usd", "max_tokens", "max_tool_calls")
_SPENT = {
    "max_usd": "spent_usd",
    "max_tokens": "spent_tokens",
    "max_tool_calls": "spent_tool_calls",
}
_RESERVED = {"max_usd": "reserved_usd", "max_tokens": "reserved_tokens"}
USD_PLACES = Decimal("0.000001")


@dataclass(frozen=True)
class BudgetRef:
    """Which budget a run's calls draw on (its root run's) and, should the row not exist
    yet, the limits to make it with (`limits()`: the root run's budget JSON)."""

    id: Any
    organization_id: Any
    limits: Callable[[], dict[str, Any]]


class BudgetExceeded(Exception):
    """A call that does not fit in the budget (or a run already past a limit). `usage` is
    what was spent and reserved before it, `requested` what it asked for, `raise_by` the
    increment a person is asked to approve."""

    def __init__(
        self, *, limit: str, limit_value: Any, usage: Any, requested: Any, on_breach: str
    ) -> None:
        self.limit, self.limit_value, self.usage = limit, limit_value, usage
        self.requested, self.on_breach = requested, on_breach
        self.raise_by = budget_increment(limit, limit_value, requested)
        super().__init__(self.reason)

    @property
    def reason(self) -> str:
        return (
            f"budget {self.limit} ({self.limit_value}) exceeded: {self.usage} used, "
            f"this call needs {self.requested}"
        )

    def as_data(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "limit_value": str(self.limit_value),
            "usage": str(self.usage),
            "requested": str(self.requested),
            "raise_by": str(self.raise_by),
            "on_breach": self.on_breach,
        }


def budget_increment(limit: str, limit_value: Any, requested: Any) -> Any:
    """What a person is asked to add to a limit: the larger of this call's need and half the
    limit, so one approval lets the run go on for a while, not for one call."""
    if limit in ("max_usd",):
        value = max(Decimal(str(requested)), Decimal(str(limit_value)) / 2)
        return max(value.quantize(USD_PLACES), USD_PLACES)
    if limit == "max_wall_seconds":
        return max(float(requested), float(limit_value) / 2, 1.0)
    return max(int(requested), math.ceil(float(limit_value) / 2), 1)


def _limit_value(limits: dict[str, Any], name: str) -> Any:
    value = limits.get(name)
    if value is None:
        return None
    return Decimal(str(value)) if name == "max_usd" else int(value)


def budget_ensure(ref: BudgetRef) -> None:
    """Makes the budget row from the root run's limits if it does not exist (concurrent
    makers: the first one wins, the others change nothing)."""
    limits = ref.limits() or {}
    Budget.objects.bulk_create(
        [
            Budget(
                id=ref.id,
                organization_id=ref.organization_id,
                max_usd=_limit_value(limits, "max_usd"),
                max_tokens=_limit_value(limits, "max_tokens"),
                max_tool_calls=_limit_value(limits, "max_tool_calls"),
                on_breach=limits.get("on_breach") or "pause",
            )
        ],
        ignore_conflicts=True,
    )


def _fits(*, usd: Decimal, tokens: int, tool_calls: int) -> Q:
    """Every limit (set) still holds with this call added to what is spent and reserved."""
    return (
        (Q(max_usd__isnull=True) | Q(max_usd__gte=F("spent_usd") + F("reserved_usd") + usd))
        & (
            Q(max_tokens__isnull=True)
            | Q(max_tokens__gte=F("spent_tokens") + F("reserved_tokens") + tokens)
        )
        & (
            Q(max_tool_calls__isnull=True)
            | Q(max_tool_calls__gte=F("spent_tool_calls") + tool_calls)
        )
    )


class _BudgetMissing(LookupError):
    """The budget row is not made yet (made outside the reservation's transaction)."""


def _take(ref: BudgetRef, *, usd: Decimal, tokens: int, tool_calls: int, **moves: Any) -> None:
    """The conditional UPDATE (one statement); when it matches nothing, raises
    BudgetExceeded naming the limit that does not hold (or _BudgetMissing)."""
    for _try in range(3):
        fitting = Budget.objects.filter(
            _fits(usd=usd, tokens=tokens, tool_calls=tool_calls), pk=ref.id
        )
        if fitting.update(**moves) == 1:
            return
        row = Budget.objects.filter(pk=ref.id).first()
        if row is None:
            raise _BudgetMissing(ref.id)
        breach = _breached(row, usd=usd, tokens=tokens, tool_calls=tool_calls)
        if breach is not None:
            raise breach
    raise RuntimeError(f"budget {ref.id} could not be reserved")


def _with_budget(ref: BudgetRef, take: Callable[[], Any]) -> Any:
    """`take()`, after making the budget row if it turns out to be missing."""
    try:
        return take()
    except _BudgetMissing:
        budget_ensure(ref)
        return take()


def _breached(row: Budget, *, usd: Decimal, tokens: int, tool_calls: int) -> BudgetExceeded | None:
    needs = {"max_usd": usd, "max_tokens": tokens, "max_tool_calls": tool_calls}
    for name in LIMITS:
        limit = getattr(row, name)
        if limit is None:
            continue
        reserved = getattr(row, _RESERVED[name]) if name in _RESERVED else 0
        used = getattr(row, _SPENT[name]) + reserved
        if used + needs[name] > limit:
            return BudgetExceeded(
                limit=name,
                limit_value=limit,
                usage=used,
                requested=needs[name],
                on_breach=row.on_breach,
            )
    return None


def _charge_statement(budget_id: Any, usd: Decimal) -> str:
    """The tool call's charge as one simple-protocol query (values inlined: a UUID and a
    Decimal, both formatted here): its own implicit transaction, committed without waiting
    for the WAL flush. Isolation is the same (the row lock, the condition); durability
    comes with the step's checkpoint, whose synchronous commit flushes the WAL up to and
    past this one: if the server loses it, it loses the checkpoint too, and the step (and
    its charge) is made again. The engine's hot path: one round trip, no flush wait."""
    table = Budget._meta.db_table
    money = f"{Decimal(usd):f}"
    return (
        "SET LOCAL synchronous_commit TO OFF; "  # noqa: S608 (values formatted here)
        f'UPDATE "{table}" SET "spent_tool_calls" = "spent_tool_calls" + 1, '
        f'"spent_usd" = "spent_usd" + {money} '
        f"WHERE \"id\" = '{uuid.UUID(str(budget_id))}' "
        f'AND ("max_tool_calls" IS NULL OR "spent_tool_calls" + 1 <= "max_tool_calls") '
        f'AND ("max_usd" IS NULL OR "spent_usd" + "reserved_usd" + {money} <= "max_usd") '
        f'AND ("max_tokens" IS NULL OR "spent_tokens" + "reserved_tokens" <= "max_tokens")'
    )


def _charge_fast(ref: BudgetRef, usd: Decimal) -> bool:
    """The charge on PostgreSQL outside a transaction; False when it did not apply (no
    room, or no row yet: the ORM path sorts out which)."""
    with connection.cursor() as cursor:
        cursor.execute(_charge_statement(ref.id, usd))
        cursor.cursor.nextset()
        return cursor.cursor.rowcount == 1


def budget_charge_tool_call(ref: BudgetRef, *, usd: Decimal = Decimal("0")) -> None:
    """A tool call, charged before it runs: one call (and its price, if it has one). One
    conditional UPDATE (on PostgreSQL in autocommit, without waiting for its WAL flush)."""
    fast = connection.vendor == "postgresql" and not connection.in_atomic_block
    if fast and _charge_fast(ref, usd):
        return
    _with_budget(
        ref,
        lambda: _take(
            ref,
            usd=usd,
            tokens=0,
            tool_calls=1,
            spent_tool_calls=F("spent_tool_calls") + 1,
            spent_usd=F("spent_usd") + usd,
        ),
    )


def budget_charge_tool_calls_in_transaction(ref: BudgetRef, *, calls: int) -> None:
    """`calls` tool calls charged inside the caller's transaction (the checkpoint that
    records calls made ahead of their charge): the conditional UPDATE, BudgetExceeded when
    they do not fit (the caller rolls back and records the breach instead)."""
    _with_budget(
        ref,
        lambda: _take(
            ref,
            usd=Decimal("0"),
            tokens=0,
            tool_calls=calls,
            spent_tool_calls=F("spent_tool_calls") + calls,
        ),
    )


def budget_reserve(ref: BudgetRef, *, run_id: Any, usd: Decimal, tokens: int) -> BudgetHold:
    """A model call's reservation of its most (`usd`, `tokens`): the conditional UPDATE and
    its hold, in one transaction."""

    @transaction.atomic
    def take() -> BudgetHold:
        _take(
            ref,
            usd=usd,
            tokens=tokens,
            tool_calls=0,
            reserved_usd=F("reserved_usd") + usd,
            reserved_tokens=F("reserved_tokens") + tokens,
        )
        return BudgetHold.objects.create(budget_id=ref.id, run_id=run_id, usd=usd, tokens=tokens)

    return _with_budget(ref, take)


def _hold_drop(hold: BudgetHold) -> bool:
    """Deletes the hold and takes it off the budget's reserved amounts; False when it was
    released already (a worker that took the run over after this one's lease expired)."""
    if BudgetHold.objects.filter(pk=hold.pk).delete()[0] != 1:
        return False
    Budget.objects.filter(pk=hold.budget_id).update(
        reserved_usd=F("reserved_usd") - hold.usd,
        reserved_tokens=F("reserved_tokens") - hold.tokens,
    )
    return True


@transaction.atomic
def budget_settle(
    hold: BudgetHold, *, usd: Decimal, tokens: int, record: dict[str, Any] | None = None
) -> None:
    """After the call: the hold goes, what the call cost is spent, and (given `record`, the
    fields of `usage_record_add`) its usage record is written, in one transaction."""
    _hold_drop(hold)
    Budget.objects.filter(pk=hold.budget_id).update(
        spent_usd=F("spent_usd") + usd, spent_tokens=F("spent_tokens") + tokens
    )
    if record is not None:
        usage_record_add(**record)


@transaction.atomic
def budget_release(hold: BudgetHold) -> None:
    """A call that was not made (or failed before it cost anything): its hold goes."""
    _hold_drop(hold)


@transaction.atomic
def budget_holds_release(*, run_id: Any) -> int:
    """Releases the holds a run's calls left behind (a worker died mid-call). Called when
    the run's lease is claimed: the only advancer of the run is the claimer, so no call of
    the run is in flight. Answers how many were released."""
    holds = list(BudgetHold.objects.filter(run_id=run_id))
    return sum(_hold_drop(hold) for hold in holds)


@transaction.atomic
def budget_raise(*, budget_id: Any, limit: str, by: Any) -> None:
    """A person approved more room: `limit` grows by `by` (a limit that is unset stays so)."""
    if limit not in LIMITS:
        return
    Budget.objects.filter(pk=budget_id, **{f"{limit}__isnull": False}).update(
        **{limit: F(limit) + (Decimal(str(by)) if limit == "max_usd" else int(by))}
    )
