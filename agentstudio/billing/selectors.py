"""Reads for billing."""

from decimal import Decimal

from django.db.models import QuerySet

from agentstudio.accounts.models import Organization
from agentstudio.billing.models import CreditAccount, LedgerEntry


def credit_balance(*, organization: Organization) -> tuple[Decimal, Decimal]:
    account = CreditAccount.objects.filter(organization=organization).first()
    if account is None:
        return Decimal("0"), Decimal("0")
    return account.balance, account.reserved


def ledger_list(*, organization: Organization) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(organization=organization).select_related("user")
