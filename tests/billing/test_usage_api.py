"""GET /usage/ sums the organization's usage records per playbook, user, model or day over
a window; GET /credits/ and /credits/ledger/ are the organization's and paginated."""

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from agentstudio.billing.models import UsageRecord
from agentstudio.billing.usage import usage_record_add

PLAYBOOK_A, PLAYBOOK_B = uuid.uuid4(), uuid.uuid4()
RUN_1, RUN_2, RUN_3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def _at(record: UsageRecord, day: str) -> None:
    UsageRecord.objects.filter(pk=record.pk).update(
        created_at=datetime.fromisoformat(day).replace(tzinfo=UTC)
    )


@pytest.fixture
def records(org, other_org, author, approver, make_user):
    def add(organization, day, **fields):
        _at(usage_record_add(organization_id=organization.pk, **fields), day)

    model = {"kind": "model", "provider": "openai", "model": "gpt-4o-mini"}
    add(
        org,
        "2026-03-01T10:00",
        run_id=RUN_1,
        playbook_id=PLAYBOOK_A,
        user_id=author.pk,
        input_tokens=100,
        output_tokens=10,
        usd=Decimal("0.25"),
        **model,
    )
    add(
        org,
        "2026-03-01T11:00",
        run_id=RUN_1,
        playbook_id=PLAYBOOK_A,
        user_id=author.pk,
        kind="tool",
        tool="tools.studio.util.echo",
    )
    add(
        org,
        "2026-03-02T09:00",
        run_id=RUN_2,
        playbook_id=PLAYBOOK_A,
        user_id=approver.pk,
        input_tokens=50,
        output_tokens=5,
        usd=Decimal("0.5"),
        **model,
    )
    add(
        org,
        "2026-03-03T09:00",
        run_id=RUN_3,
        playbook_id=PLAYBOOK_B,
        user_id=author.pk,
        kind="model",
        provider="anthropic",
        model="claude-haiku-4-5",
        input_tokens=7,
        output_tokens=3,
        usd=Decimal("1"),
    )
    outsider = make_user("admin", organization=other_org, username="gus-globex")
    add(
        other_org,
        "2026-03-01T10:00",
        run_id=uuid.uuid4(),
        playbook_id=PLAYBOOK_A,
        user_id=outsider.pk,
        input_tokens=999,
        usd=Decimal("99"),
        **model,
    )


def _get(client, **params):
    return client.get("/api/v1/usage/", params)


def test_usage_by_playbook_is_the_organizations_only(records, admin_user, client_for):
    body = _get(client_for(admin_user), group_by="playbook").json()
    assert body["group_by"] == "playbook"
    assert body["count"] == 2 and body["next"] is None and body["previous"] is None
    by_key = {row["key"]: row for row in body["results"]}
    assert by_key[str(PLAYBOOK_A)] == {
        "key": str(PLAYBOOK_A),
        "usd": "0.750000",
        "input_tokens": 150,
        "output_tokens": 15,
        "tool_calls": 1,
        "runs": 2,
    }
    assert by_key[str(PLAYBOOK_B)]["usd"] == "1.000000"


def test_usage_by_user_model_and_day(records, author, approver, client_for):
    client = client_for(author)
    users = {
        r["key"]: (r["usd"], r["runs"]) for r in _get(client, group_by="user").json()["results"]
    }
    assert users == {author.username: ("1.250000", 2), approver.username: ("0.500000", 1)}
    models = {r["key"]: r["usd"] for r in _get(client, group_by="model").json()["results"]}
    assert models == {None: "0.000000", "claude-haiku-4-5": "1.000000", "gpt-4o-mini": "0.750000"}
    days = _get(client, group_by="day").json()["results"]
    assert [(r["key"], r["usd"], r["tool_calls"]) for r in days] == [
        ("2026-03-01", "0.250000", 1),
        ("2026-03-02", "0.500000", 0),
        ("2026-03-03", "1.000000", 0),
    ]


def test_the_window_and_pagination(records, approver, client_for):
    client = client_for(approver)
    days = _get(client, group_by="day", **{"from": "2026-03-02", "to": "2026-03-02"}).json()
    assert [r["key"] for r in days["results"]] == ["2026-03-02"]
    since = _get(client, group_by="day", **{"from": "2026-03-01T10:30:00Z"}).json()
    assert [(r["key"], r["usd"]) for r in since["results"]] == [
        ("2026-03-01", "0.000000"),  # the tool call at 11:00, not the model call at 10:00
        ("2026-03-02", "0.500000"),
        ("2026-03-03", "1.000000"),
    ]
    page = _get(client, group_by="day", page_size=2).json()
    assert (page["count"], len(page["results"]), page["group_by"]) == (3, 2, "day")
    assert "page=2" in page["next"]


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"group_by": "colour"}, "/group_by"),
        ({"group_by": "Playbook"}, "/group_by"),
        ({"group_by": "day", "from": "yesterday"}, "/from"),
        ({"group_by": "day", "to": "2026-13-45"}, "/to"),
        ({"group_by": "day", "from": "2026-03-05", "to": "2026-03-01"}, "/to"),
    ],
)
def test_bad_parameters_are_400_with_a_pointer(db, admin_user, client_for, params, path):
    response = _get(client_for(admin_user), **params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["details"][0]["path"]) == ("validation_error", path)


@pytest.mark.parametrize("role", ["runner", "viewer"])
def test_runners_and_viewers_may_not_read_usage_or_credits(db, make_user, client_for, role):
    client = client_for(make_user(role))
    for url in ("/api/v1/usage/?group_by=day", "/api/v1/credits/", "/api/v1/credits/ledger/"):
        assert client.get(url).status_code == 403, url


def test_credits_and_the_ledger_are_the_organizations_and_paginated(
    org, other_org, approver, client_for
):
    client = client_for(approver)
    assert client.get("/api/v1/credits/").json() == {
        "balance": "100000.000000",
        "reserved": "0.000000",
    }
    ledger = client.get("/api/v1/credits/ledger/").json()
    assert ledger["count"] == 1 and ledger["next"] is None
    (row,) = ledger["results"]
    assert (row["kind"], row["amount"], row["run"], row["agent"]) == (
        "grant",
        "100000.000000",
        None,
        None,
    )
    assert {e.organization_id for e in other_org.ledger_entries.all()} == {other_org.pk}


def test_group_by_left_out_or_empty_groups_per_playbook(db, admin_user, client_for):
    client = client_for(admin_user)
    for params in ({}, {"group_by": ""}):
        response = _get(client, **params)
        assert (response.status_code, response.json()["group_by"]) == (200, "playbook")
