"""The admin shows money: a run's spend against its budget and its credit hold, an
organization's balance, reservations and spend this month with a link to its ledger, usage
records read-only; superusers edit prices (marked `admin`, in force at once)."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from agentstudio.billing.models import ModelPrice, PriceSource, UsageRecord
from agentstudio.billing.price_seed import prices_seed_from_dataset
from agentstudio.billing.prices import model_rates
from agentstudio.billing.usage import usage_record_add
from playbooks.models import Run
from playbooks.runs.services import run_cancel
from playbooks.runs.starting import run_start
from tests.admin.helpers import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)  # settlement runs after commit


def _login(user) -> Client:
    client = Client()
    assert client.login(username=user.get_username(), password=PASSWORD)
    return client


def test_the_run_page_shows_spend_against_budget_and_the_credit_hold(
    grant, small_org, small_author, one_usd_playbook, make_user
):
    grant("5")
    run = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    Run.objects.filter(pk=run.pk).update(
        usage_usd=Decimal("0.25"), usage_input_tokens=1200, usage_output_tokens=300
    )
    run_cancel(run=run, actor=small_author)
    admin = make_user("admin", organization=small_org, username="amy-admin")
    page = _login(admin).get(reverse("admin:playbooks_run_change", args=[run.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "spend against budget" in html.lower()
    assert "<td>max_usd</td><td>0.25 USD</td><td>1 USD</td><td>25%</td>" in html
    assert "<td>max_tokens</td><td>1,500</td><td>1,000,000</td><td>0%</td>" in html
    assert "<td>1 USD</td><td>0.25 USD</td><td>1 USD</td><td>settled" in html


def test_the_credit_account_page_shows_balance_reserved_month_spend_and_the_ledger(
    grant, small_org, small_author, one_usd_playbook, make_user
):
    grant("5")
    done = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    Run.objects.filter(pk=done.pk).update(usage_usd=Decimal("0.4"))
    run_cancel(run=done, actor=small_author)
    run_start(playbook=one_usd_playbook, actor=small_author, inputs={})  # 1 reserved
    admin = make_user("admin", organization=small_org, username="amy-admin")
    client = _login(admin)
    page = client.get(reverse("admin:billing_creditaccount_change", args=[small_org.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert '<div class="readonly">3.60 USD</div>' in html  # balance
    assert '<div class="readonly">1.00 USD</div>' in html  # reserved
    row = page.context["adminform"].form.instance
    model_admin = page.context["adminform"].model_admin
    assert model_admin.spent_this_month(row) == Decimal("0.4")
    ledger_url = reverse("admin:billing_ledgerentry_changelist")
    assert f"{ledger_url}?organization__id__exact={small_org.pk}" in html
    ledger = client.get(f"{ledger_url}?organization__id__exact={small_org.pk}")
    assert ledger.status_code == 200
    kinds = sorted(entry.kind for entry in ledger.context["cl"].result_list)
    assert kinds == ["charge", "grant", "release", "reserve", "reserve"]


def test_usage_records_are_read_only_and_filter_by_kind_and_model(small_org, make_user):
    record = usage_record_add(
        organization_id=small_org.pk, kind="model", model="gpt-4o-mini", usd=Decimal("0.1")
    )
    usage_record_add(organization_id=small_org.pk, kind="tool", tool="tools.studio.util.echo")
    admin = make_user("admin", organization=small_org, username="amy-admin")
    client = _login(admin)
    url = reverse("admin:billing_usagerecord_changelist")
    assert [r.pk for r in client.get(url, {"kind": "model"}).context["cl"].result_list] == [
        record.pk
    ]
    assert len(client.get(url, {"model": "gpt-4o-mini"}).context["cl"].result_list) == 1
    change = reverse("admin:billing_usagerecord_change", args=[record.pk])
    client.post(change, {"usd": "99"})
    assert UsageRecord.objects.get(pk=record.pk).usd == Decimal("0.1")
    assert client.get(reverse("admin:billing_usagerecord_add")).status_code == 403


def test_a_superuser_edits_a_price_which_is_then_marked_admin_and_in_force(db):
    prices_seed_from_dataset()  # a transactional test starts from emptied tables
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    client = _login(root)
    price = ModelPrice.objects.get(provider="openai", model="gpt-4o-mini")
    assert model_rates(provider="openai", model="gpt-4o-mini").input == Decimal("0.15")
    found = client.get(reverse("admin:billing_modelprice_changelist"), {"q": "gpt-4o-mini"})
    assert price.pk in [row.pk for row in found.context["cl"].result_list]
    response = client.post(
        reverse("admin:billing_modelprice_change", args=[price.pk]),
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "input_usd_per_mtok": "0.2",
            "output_usd_per_mtok": "0.8",
            "cached_input_usd_per_mtok": "",
        },
    )
    assert response.status_code == 302
    price.refresh_from_db()
    assert (price.source, price.input_usd_per_mtok) == (PriceSource.ADMIN, Decimal("0.2"))
    assert model_rates(provider="openai", model="gpt-4o-mini").input == Decimal("0.2")


def test_organization_staff_read_prices_but_do_not_edit_them(small_org, make_user):
    prices_seed_from_dataset()
    admin = make_user("admin", organization=small_org, username="amy-admin")
    client = _login(admin)
    price = ModelPrice.objects.get(provider="openai", model="gpt-4o-mini")
    url = reverse("admin:billing_modelprice_change", args=[price.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"provider": "openai", "model": "gpt-4o-mini", "input_usd_per_mtok": "0"})
    assert ModelPrice.objects.get(pk=price.pk).input_usd_per_mtok == Decimal("0.15")
