"""Operator commands: create_org, create_user --api-key, grant_credits print on the last line."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from agentstudio.accounts.services import organization_create
from agentstudio.billing.models import LedgerEntry


def _last_line(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue().strip().splitlines()[-1]


def test_create_org_then_user_with_api_key_that_works(db):
    org_id = _last_line("create_org", "Initech")
    key = _last_line("create_user", "peter", "--org", "Initech", "--role", "author", "--api-key")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    me = client.get("/api/v1/me/").json()
    assert me["organization"] == {"id": org_id, "name": "Initech"}
    assert me["role"] == "author"


def test_create_user_refuses_unknown_org(db):
    with pytest.raises(CommandError, match="No organization"):
        call_command("create_user", "x", "--org", "Nope", "--role", "viewer", stdout=StringIO())


def test_grant_credits_writes_a_ledger_row_with_balance_after(db):
    org = organization_create(name="Initrode")  # no starting credit, unlike the `org` fixture
    assert _last_line("grant_credits", "Initrode", "12.50") == "12.5"
    assert _last_line("grant_credits", "Initrode", "0.25") == "12.75"
    entries = LedgerEntry.objects.filter(organization=org).order_by("created_at")
    assert [str(e.balance_after.normalize()) for e in entries] == ["12.5", "12.75"]


def test_grant_credits_refuses_non_positive(org):
    with pytest.raises(CommandError, match="positive"):
        call_command("grant_credits", "Acme", "-3", stdout=StringIO())
