"""Two approvers deciding at the same moment: exactly one wins, the other gets 409."""

import threading

import pytest
from django.db import connection

from agentstudio.errors import AppError
from approvals.models import Approval
from approvals.services import approval_approve, approval_reject
from playbooks.models import Playbook
from playbooks.services import playbook_create, playbook_promote
from playbooks.spec.checked import spec_check
from tests.specs import WRITE_SPEC


@pytest.mark.django_db(transaction=True)
def test_approve_and_reject_race_one_wins(org, author, make_user):
    first, second = make_user("approver"), make_user("admin")
    playbook = playbook_create(organization=org, actor=author, checked=spec_check(spec=WRITE_SPEC))
    _, approval = playbook_promote(playbook=playbook, actor=author)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(action):
        barrier.wait()
        try:
            action()
            outcomes.append("ok")
        except AppError as exc:
            outcomes.append(f"{exc.status}:{exc.code}")
        finally:
            connection.close()

    threads = [
        threading.Thread(
            target=decide,
            args=(
                lambda: approval_approve(
                    approval=approval, actor=first, body_hash=approval.body_hash
                ),
            ),
        ),
        threading.Thread(
            target=decide,
            args=(lambda: approval_reject(approval=approval, actor=second, reason="no"),),
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["409:invalid_state", "ok"]
    final = Approval.objects.get(pk=approval.pk)
    assert final.decisions.filter(action__in=["approve", "reject"]).count() == 1
    expected = "active" if final.status == "approved" else "draft"
    assert Playbook.objects.get(pk=playbook.pk).status == expected
