"""`bootstrap_demo`: demo organization with credit, an admin, an active playbook per blueprint."""

from io import StringIO

from django.core.management import call_command

from agentstudio.audit.models import AuditEvent
from agentstudio.billing.selectors import credit_balance
from playbooks.blueprint_loader import blueprints_seed
from playbooks.models import Blueprint, Playbook


def test_bootstrap_is_idempotent_and_activates_by_system(db):
    blueprints_seed()
    out = StringIO()
    call_command("bootstrap_demo", stdout=out)
    assert "admin login: username admin password " in out.getvalue()
    playbooks = Playbook.objects.filter(organization__name="Demo")
    assert playbooks.count() == Blueprint.objects.count()
    assert set(playbooks.values_list("status", flat=True)) == {"active"}
    assert playbooks.get(slug="data-cleanup").versions.get().activated_by is None
    promoted = AuditEvent.objects.filter(type="playbook.promoted")
    assert promoted.count() == playbooks.count()
    assert set(promoted.values_list("actor_label", flat=True)) == {"system"}
    balance, _reserved = credit_balance(organization=playbooks.first().organization)
    assert balance > 0
    again = StringIO()
    call_command("bootstrap_demo", stdout=again)
    assert "password" not in again.getvalue()
    assert Playbook.objects.filter(organization__name="Demo").count() == playbooks.count()
