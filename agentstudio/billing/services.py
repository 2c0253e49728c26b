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


def credit_account_locked(
    *, organization: Organization | None = None, organization_id: Any = None
) -> CreditAccount:
    """The organization's account under its row lock (made first if it has none): one
    SELECT ... FOR UPDATE when it exists."""
    organization_id = organization.pk if organization is not None else organization_id
    locked = CreditAccount.objects.select_for_update().filter(organization_id=organization_id)
    account = locked.first()
    if account is None:
        CreditAccount.objects.get_or_create(organization_id=organization_id)
        account = locked.get()
    return account


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
