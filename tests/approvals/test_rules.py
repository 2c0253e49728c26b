"""Who decides: the rules fixed on an approval at creation (approvers, exclude_requester,
required_approvals, escalation), honoured by the services and the REST API."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from agentstudio.accounts.models import Role
from agentstudio.audit.models import AuditEvent
from agentstudio.celery import app as celery_app
from agentstudio.errors import AppError
from approvals.models import Approval, ApprovalRuleDefault, ApprovalVote
from approvals.services import approval_approve, approval_edit
from approvals.services.escalation import approvals_escalate_due
from playbooks.models import Playbook
from playbooks.services import playbook_create, playbook_promote
from playbooks.spec.checked import spec_check
from tests.specs import WRITE_SPEC
from tests.support.approvals import notify_spec, notify_waiting


def _approve(client, approval, body_hash=None, **extra):
    return client.post(
        f"/api/v1/approvals/{approval.pk}/approve/",
        {"body_hash": body_hash or approval.body_hash, **extra},
        format="json",
    )


def test_nobody_approves_their_own_external_send(active_playbook, make_user, client_for, db):
    starter = make_user(Role.ADMIN, username="ann-admin")
    _run, approval = notify_waiting(active_playbook, starter)
    assert approval.rules["exclude_requester"] is True
    response = _approve(client_for(starter), approval)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "exclude_requester" in response.json()["error"]["message"]
    other = make_user(Role.APPROVER)
    assert _approve(client_for(other), approval).status_code == 200


def test_approvers_from_the_playbook_are_recorded_and_enforced(
    active_playbook, author, make_user, client_for
):
    spec = notify_spec(approvers=["admin"])
    _run, approval = notify_waiting(active_playbook, author, spec)
    assert approval.rules["approvers"] == ["admin"]
    response = _approve(client_for(make_user(Role.APPROVER)), approval)
    assert response.status_code == 403
    assert "approvers" in response.json()["error"]["message"]
    assert _approve(client_for(make_user(Role.ADMIN)), approval).status_code == 200


def test_organization_defaults_apply_when_the_playbook_says_nothing(
    org, active_playbook, author, make_user, client_for
):
    ApprovalRuleDefault.objects.create(
        organization=org, applies_to="external_send", approvers=["carol"]
    )
    _run, approval = notify_waiting(active_playbook, author)
    assert approval.rules["approvers"] == ["carol"]
    assert _approve(client_for(make_user(Role.ADMIN)), approval).status_code == 403
    carol = make_user(Role.APPROVER, username="carol")
    assert _approve(client_for(carol), approval).status_code == 200


def test_two_of_n_counts_distinct_approvers_of_the_same_hash(
    active_playbook, author, make_user, client_for
):
    _run, approval = notify_waiting(active_playbook, author, notify_spec(required_approvals=2))
    first, second = make_user(Role.APPROVER), make_user(Role.ADMIN)
    response = _approve(client_for(first), approval)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending"
    assert body["required_approvals"] == 2
    assert [vote["user"] for vote in body["approvals"]] == [first.username]
    again = _approve(client_for(first), approval)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "invalid_state"
    done = _approve(client_for(second), approval)
    assert done.status_code == 200
    assert done.json()["status"] == "approved"
    assert len(done.json()["approvals"]) == 2


def test_an_edit_resets_the_votes_and_the_editors_approve_is_the_first(
    active_playbook, author, make_user, client_for
):
    _run, approval = notify_waiting(active_playbook, author, notify_spec(required_approvals=2))
    first, editor = make_user(Role.APPROVER), make_user(Role.ADMIN)
    assert _approve(client_for(first), approval).status_code == 200
    edited_payload = {**approval.payload, "arguments": {"value": "ship it later"}}
    response = _approve(client_for(editor), approval, payload=edited_payload)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending"
    assert [vote["user"] for vote in body["approvals"]] == [editor.username]
    assert _approve(client_for(first), approval, body["body_hash"]).json()["status"] == ("approved")


def test_a_patch_resets_the_votes(active_playbook, author, make_user):
    _run, approval = notify_waiting(active_playbook, author, notify_spec(required_approvals=2))
    first = make_user(Role.APPROVER)
    approval_approve(approval=approval, actor=first, body_hash=approval.body_hash)
    approval_edit(
        approval=approval,
        actor=make_user(Role.ADMIN),
        payload={**approval.payload, "arguments": {"value": "changed"}},
    )
    assert ApprovalVote.objects.filter(approval=approval).count() == 0


def test_a_rejection_rejects_whatever_the_votes(active_playbook, author, make_user, client_for):
    _run, approval = notify_waiting(active_playbook, author, notify_spec(required_approvals=3))
    assert _approve(client_for(make_user(Role.APPROVER)), approval).status_code == 200
    response = client_for(make_user(Role.ADMIN)).post(
        f"/api/v1/approvals/{approval.pk}/reject/", {"reason": "no"}, format="json"
    )
    assert response.json()["status"] == "rejected"


@pytest.mark.django_db(transaction=True)
def test_two_approvers_racing_on_the_last_vote_approve_once(org, author, make_user):
    ApprovalRuleDefault.objects.create(
        organization=org, applies_to="promotion", required_approvals=2
    )
    playbook = playbook_create(organization=org, actor=author, checked=spec_check(spec=WRITE_SPEC))
    _, approval = playbook_promote(playbook=playbook, actor=author)
    assert approval.rules["required_approvals"] == 2
    approval_approve(
        approval=approval, actor=make_user(Role.APPROVER), body_hash=approval.body_hash
    )
    racers = [make_user(Role.APPROVER), make_user(Role.ADMIN)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def vote(user):
        barrier.wait()
        try:
            approval_approve(approval=approval, actor=user, body_hash=approval.body_hash)
            outcomes.append("ok")
        except AppError as exc:
            outcomes.append(f"{exc.status}:{exc.code}")
        finally:
            connection.close()

    threads = [threading.Thread(target=vote, args=(user,)) for user in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["409:invalid_state", "ok"]
    final = Approval.objects.get(pk=approval.pk)
    assert final.status == "approved"
    assert final.decisions.filter(action="approve").count() == 1
    assert final.votes.count() == 2
    assert Playbook.objects.get(pk=playbook.pk).status == "active"


def test_escalation_lets_the_backup_decide_once_it_waited(
    active_playbook, author, make_user, client_for
):
    spec = notify_spec(approvers=["alice"], escalate_after_seconds=60, escalate_to=["admin"])
    _run, approval = notify_waiting(active_playbook, author, spec)
    admin = make_user(Role.ADMIN)
    assert _approve(client_for(admin), approval).status_code == 403
    assert approvals_escalate_due() == 0
    Approval.objects.filter(pk=approval.pk).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )
    assert approvals_escalate_due() == 1
    assert approvals_escalate_due() == 0
    approval.refresh_from_db()
    assert approval.escalated_at is not None
    assert (
        AuditEvent.objects.filter(
            type="approval.escalated", data__approval=str(approval.pk)
        ).count()
        == 1
    )
    detail = client_for(admin).get(f"/api/v1/approvals/{approval.pk}/").json()
    assert detail["escalated_at"] is not None
    assert _approve(client_for(admin), approval).status_code == 200


@pytest.fixture
def tasks_run_here():
    """The notification task runs in this process when it is queued (the real task)."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def test_escalation_emails_the_escalate_to_deciders(
    active_playbook,
    author,
    make_user,
    tasks_run_here,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    backup = make_user(Role.ADMIN, username="bea-backup")
    spec = notify_spec(
        approvers=["alice"], escalate_after_seconds=60, escalate_to=[backup.username]
    )
    _run, approval = notify_waiting(active_playbook, author, spec)
    Approval.objects.filter(pk=approval.pk).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        approvals_escalate_due()
    assert [message.to for message in mailoutbox] == [[backup.email]]
    assert "escalated" in mailoutbox[0].subject
