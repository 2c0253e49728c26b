"""Credit reservations: a run's start moves its `max_usd` from the balance into `reserved`
(a `reserve` row), its end settles the hold exactly once (a `release` row giving the
reservation back and a `charge` row taking what was spent). The balance is spendable credit,
so the ledger's amounts always sum to it. Runs are named by id: billing sits below playbooks,
which says what a run spent."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agentstudio.accounts.models import Organization
from agentstudio.billing.models import CreditAccount, CreditHold, LedgerEntry
from agentstudio.billing.services import credit_account_locked
from agentstudio.errors import AppError, ErrorCode

CENT = Decimal("0.01")
MICRO = Decimal("0.000001")  # the ledger's precision


def usd_text(amount: Decimal) -> str:
    """An amount as people read it: cents, or more digits when it has them (0.50, 0.000125)."""
    if amount == amount.quantize(CENT):
        return f"{amount.quantize(CENT):f}"
    return f"{amount.normalize():f}"


def _ledger_entry(
    account: CreditAccount, kind: str, amount: Decimal, *, hold: CreditHold, user: Any, memo: str
) -> LedgerEntry:
    """The ledger row of a movement (unsaved), with the account's balance after it."""
    return LedgerEntry(
        organization_id=account.organization_id,
        kind=kind,
        amount=amount,
        balance_after=account.balance,
        run_id=hold.run_id,
        agent_id=hold.agent_id,
        user=user,
        memo=memo[:200],
    )


def _ledger_row(
    account: CreditAccount, kind: str, amount: Decimal, *, hold: CreditHold, user: Any, memo: str
) -> LedgerEntry:
    entry = _ledger_entry(account, kind, amount, hold=hold, user=user, memo=memo)
    entry.save()
    return entry


def _ensure_available(account: CreditAccount, amount: Decimal, *, what: str = "") -> None:
    """`insufficient_credit` (402) naming the shortfall when the balance is below `amount`."""
    available = account.balance
    if available >= amount:
        return
    short = amount - max(available, Decimal("0"))
    message = (
        f"Not enough credit{what}: needs {usd_text(amount)} USD, {usd_text(available)} "
        f"available: short {usd_text(short)}."
    )
    raise AppError(
        ErrorCode.INSUFFICIENT_CREDIT,
        message,
        details=[
            {
                "path": "/budget/max_usd",
                "message": message,
                "needed": usd_text(amount),
                "available": usd_text(available),
                "shortfall": usd_text(short),
            }
        ],
    )


@transaction.atomic
def credits_reserve(
    *,
    organization: Organization,
    amount: Decimal,
    run_id: Any = None,
    agent_id: Any = None,
    user: Any = None,
    memo: str = "",
) -> CreditHold:
    """Moves `amount` from the balance into `reserved` under the account's row lock (so
    concurrent starts, in any process, cannot spend the same credit twice); not enough
    credit is `insufficient_credit` (402) naming the shortfall."""
    amount = Decimal(amount)
    if not amount.is_finite() or amount < 0:
        raise AppError(ErrorCode.VALIDATION_ERROR, "A reservation is a positive amount.")
    amount = amount.quantize(MICRO)
    account = credit_account_locked(organization=organization)
    _ensure_available(account, amount)
    hold = CreditHold(organization=organization, run_id=run_id, agent_id=agent_id, amount=0)
    _reserve_into(account, hold, amount, user=user, memo=memo or "reserved for the run's max_usd")
    return hold


def _reserve_into(
    account: CreditAccount, hold: CreditHold, amount: Decimal, *, user: Any, memo: str
) -> None:
    """Moves `amount` from the locked account's balance into `hold` (saved), with its
    `reserve` ledger row."""
    account.balance -= amount
    account.reserved += amount
    account.save(update_fields=["balance", "reserved"])
    hold.amount += amount
    hold.save()
    _ledger_row(account, LedgerEntry.Kind.RESERVE, -amount, hold=hold, user=user, memo=memo)


@transaction.atomic
def credits_extend_run(*, run_id: Any, amount: Decimal, user: Any = None) -> CreditHold | None:
    """A run's `max_usd` was raised by `amount`: its open hold grows by as much, from the
    balance (a `reserve` row), so the credit still covers the most the run may spend;
    `insufficient_credit` (402) when the balance is short, which rolls the raise back. None
    when the run holds nothing (no credit was reserved for it)."""
    amount = Decimal(str(amount)).quantize(MICRO)
    hold = (
        CreditHold.objects.select_for_update()
        .filter(run_id=run_id, settled_at__isnull=True)
        .order_by("created_at")
        .first()
    )
    if hold is None or amount <= 0:
        return None
    account = credit_account_locked(organization=hold.organization)
    _ensure_available(account, amount, what=" to raise the budget")
    memo = f"reserved {usd_text(amount)} USD more: max_usd raised"
    _reserve_into(account, hold, amount, user=user, memo=memo)
    return hold


@transaction.atomic
def credits_settle_run(
    *, run_id: Any, spent_usd: Decimal, one_statement: bool | None = None
) -> CreditHold | None:
    """Settles the run's open hold: releases its reservation and charges what the run spent
    (`spent_usd`, the whole tree's, in total over every attempt) less what earlier holds
    already charged. Exactly once: the run's holds are locked and the open one is marked
    settled in the same transaction as its ledger rows, so a second call (or a sweep after
    a worker died mid-way) finds nothing open and is a no-op returning None.
    `one_statement`: the writes as one statement (default: on PostgreSQL), else the ORM's."""
    holds = list(
        CreditHold.objects.select_for_update().filter(run_id=run_id).order_by("created_at")
    )
    hold = next((each for each in holds if each.settled_at is None), None)
    if hold is None:
        return None
    charged = sum((each.charged_usd for each in holds if each.settled_at is not None), Decimal(0))
    spent = Decimal(spent_usd).quantize(MICRO)
    hold.charged_usd = max(spent - charged, Decimal("0"))
    hold.settled_at = timezone.now()
    if one_statement is None:
        one_statement = connection.vendor == "postgresql"
    if one_statement:
        _settle_statement(hold)
    else:
        _settle_orm(hold)
    return hold


def _settle_orm(hold: CreditHold) -> None:
    """The settlement's writes through the ORM (the embedded default's SQLite)."""
    charge = hold.charged_usd
    account = credit_account_locked(organization_id=hold.organization_id)
    account.balance += hold.amount
    account.reserved -= hold.amount
    release = _ledger_entry(
        account, LedgerEntry.Kind.RELEASE, hold.amount, hold=hold, user=None, memo="released"
    )
    account.balance -= charge
    taken = _ledger_entry(
        account,
        LedgerEntry.Kind.CHARGE,
        -charge if charge else Decimal("0"),
        hold=hold,
        user=None,
        memo=f"charged {usd_text(charge)} USD spent",
    )
    release.save()  # one by one: each row's created_at orders the ledger
    taken.save()
    account.save(update_fields=["balance", "reserved"])
    hold.save(update_fields=["charged_usd", "settled_at"])


def _settle_statement(hold: CreditHold) -> None:
    """The settlement's writes on PostgreSQL as one statement (the hold is locked already):
    the account gives the reservation back and takes the charge, the `release` and `charge`
    rows carry the balance after each, the hold is marked settled. The same rows as
    `_settle_orm`; run at every run's end, so one round trip instead of six."""
    account, ledger, holds = (
        model._meta.db_table for model in (CreditAccount, LedgerEntry, CreditHold)
    )
    row = "%(organization)s::uuid, %(run)s::uuid, %(agent)s::uuid"
    sql = (
        f'WITH account AS (UPDATE "{account}" SET "balance" = "balance" + %(amount)s'  # noqa: S608
        ' - %(charge)s, "reserved" = "reserved" - %(amount)s'
        ' WHERE "organization_id" = %(organization)s RETURNING "balance"),'
        f' ledger AS (INSERT INTO "{ledger}" ("id", "organization_id", "run_id", "agent_id",'
        ' "kind", "amount", "balance_after", "memo", "created_at", "user_id")'
        f" SELECT %(release_id)s::uuid, {row}, 'release', %(amount)s::numeric,"
        " \"balance\" + %(charge)s::numeric, 'released',"
        " %(released_at)s::timestamptz, NULL::integer FROM account"
        f" UNION ALL SELECT %(charge_id)s::uuid, {row}, 'charge', %(taken)s::numeric,"
        ' "balance", %(memo)s::varchar, %(charged_at)s::timestamptz, NULL::integer FROM account)'
        f' UPDATE "{holds}" SET "charged_usd" = %(charge)s, "settled_at" = %(released_at)s'
        ' WHERE "id" = %(hold)s'
    )
    charge = hold.charged_usd
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            {
                "organization": hold.organization_id,
                "run": hold.run_id,
                "agent": hold.agent_id,
                "amount": hold.amount,
                "charge": charge,
                "taken": -charge if charge else Decimal("0"),
                "memo": f"charged {usd_text(charge)} USD spent",
                "release_id": uuid.uuid4(),
                "charge_id": uuid.uuid4(),
                "released_at": hold.settled_at,
                # a microsecond later, so the ledger's order (by created_at) is the moves'
                "charged_at": hold.settled_at + timedelta(microseconds=1),
                "hold": hold.pk,
            },
        )


def holds_unsettled_run_ids(*, limit: int = 1000) -> list[Any]:
    """Runs with an open hold (the caller keeps only those that ended)."""
    return list(
        CreditHold.objects.filter(settled_at__isnull=True, run_id__isnull=False)
        .order_by("created_at")
        .values_list("run_id", flat=True)[:limit]
    )
