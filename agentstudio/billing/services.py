"""Writes for billing: every credit movement is one ledger row with the balance after it."""

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from agentstudio.accounts.models import Organization
from agentstudio.audit import events
from agentstudio.billing.models import CreditAccount, LedgerEntry
from agentstudio.errors import AppError, ErrorCode


def parse_usd(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"{value!r} is not an amount in USD.") from exc
    if not amount.is_finite():
        raise AppError(ErrorCode.VALIDATION_ERROR, f"{value!r} is not an amount in USD.")
    return amount


def credit_account_locked(*, organization: Organization) -> CreditAccount:
    CreditAccount.objects.get_or_create(organization=organization)
    return CreditAccount.objects.select_for_update().get(organization=organization)


@transaction.atomic
def credits_grant(*, organization: Organization, amount: Any, actor: Any = None) -> LedgerEntry:
    usd = parse_usd(amount)
    if usd <= 0:
        raise AppError(ErrorCode.VALIDATION_ERROR, "A grant must be a positive amount.")
    account = credit_account_locked(organization=organization)
    account.balance += usd
    account.save(update_fields=["balance"])
    entry = LedgerEntry.objects.create(
        organization=organization,
        kind=LedgerEntry.Kind.GRANT,
        amount=usd,
        balance_after=account.balance,
        user=actor,
        memo="grant",
    )
    events.credits_granted(
        organization=organization, actor=actor, amount=str(usd), balance_after=str(account.balance)
    )
    return entry
