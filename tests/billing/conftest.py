"""An organization with a known, small credit (the shared fixtures' organizations get a
large grant), its author, and a playbook whose runs reserve 1 USD (max_usd)."""

from decimal import Decimal

import pytest

from agentstudio.accounts.models import Role
from agentstudio.accounts.services import organization_create
from agentstudio.billing.models import LedgerEntry
from agentstudio.billing.services import credits_grant

ECHO = "tools.studio.util.echo"
ONE_USD_SPEC = {
    "name": "Costs a dollar at most",
    "tools": [ECHO],
    "budget": {"max_usd": 1},
    "steps": [{"id": "say", "tool": ECHO, "args": {"value": "hi"}}],
}


@pytest.fixture
def small_org(db):
    return organization_create(name="Small Co")


@pytest.fixture
def small_author(make_user, small_org):
    return make_user(Role.AUTHOR, organization=small_org, username="sam-small")


@pytest.fixture
def grant(small_org):
    def _grant(amount: str) -> None:
        credits_grant(organization=small_org, amount=amount)

    return _grant


@pytest.fixture
def one_usd_playbook(active_playbook, small_author):
    return active_playbook(ONE_USD_SPEC, owner=small_author)


def ledger(organization) -> list[tuple[str, Decimal, Decimal]]:
    rows = LedgerEntry.objects.filter(organization=organization).order_by("created_at")
    return [(row.kind, row.amount, row.balance_after) for row in rows]


def ledger_sum(organization) -> Decimal:
    return sum((amount for _kind, amount, _after in ledger(organization)), Decimal("0"))
