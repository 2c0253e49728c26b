"""Expired approvals: 410 on a decision, and the beat task expires overdue ones."""

from datetime import timedelta

from django.utils import timezone

from approvals.models import Approval
from approvals.services import approvals_expire_overdue
from playbooks.services import playbook_create, playbook_promote
from playbooks.spec.checked import spec_check
from tests.specs import WRITE_SPEC


def _pending(org, author):
    playbook = playbook_create(organization=org, actor=author, checked=spec_check(spec=WRITE_SPEC))
    return playbook_promote(playbook=playbook, actor=author)[1]


def test_deciding_an_overdue_approval_is_410_and_it_becomes_expired(
    org, author, approver, client_for
):
    approval = _pending(org, author)
    Approval.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client_for(approver).post(
        f"/api/v1/approvals/{approval.pk}/approve/",
        {"body_hash": approval.body_hash},
        format="json",
    )
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "expired"
    assert Approval.objects.get(pk=approval.pk).status == "expired"


def test_expire_task_expires_only_overdue(org, author):
    overdue, fresh = _pending(org, author), _pending(org, author)
    Approval.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert approvals_expire_overdue() == 1
    assert Approval.objects.get(pk=overdue.pk).status == "expired"
    assert Approval.objects.get(pk=fresh.pk).status == "pending"
