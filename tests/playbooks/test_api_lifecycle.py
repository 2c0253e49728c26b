"""Lifecycle through the API: promotion (automatic or approved), demote, archive, restore."""

from agentstudio.audit.models import AuditEvent
from approvals.hashing import approval_body_hash
from approvals.models import Approval
from playbooks.models import PlaybookVersion
from tests.specs import READ_ONLY_SPEC, WRITE_SPEC, spec


def _draft(client, body_spec):
    return client.post("/api/v1/playbooks/", {"spec": body_spec}, format="json").json()


def test_read_only_playbook_promotes_at_once_with_version_one(author, client_for):
    client = client_for(author)
    playbook = _draft(client, READ_ONLY_SPEC)
    requirements = client.get(f"/api/v1/playbooks/{playbook['id']}/promotion-requirements/")
    assert requirements.json() == {"requires_approval": False, "reasons": [], "risk_max": "read"}
    response = client.post(f"/api/v1/playbooks/{playbook['id']}/promote/")
    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert response.json()["version"] == 1
    version = PlaybookVersion.objects.get(playbook_id=playbook["id"])
    assert version.spec == READ_ONLY_SPEC
    assert version.activated_by == author
    assert AuditEvent.objects.filter(
        type="playbook.promoted", data__playbook=playbook["id"]
    ).exists()


def test_write_tool_needs_approval_and_promote_again_returns_same(author, client_for):
    client = client_for(author)
    playbook = _draft(client, WRITE_SPEC)
    requirements = client.get(f"/api/v1/playbooks/{playbook['id']}/promotion-requirements/").json()
    assert requirements["requires_approval"] is True
    assert requirements["risk_max"] == "write"
    assert any("tools.studio.files.write" in reason for reason in requirements["reasons"])
    first = client.post(f"/api/v1/playbooks/{playbook['id']}/promote/")
    assert first.status_code == 202
    approval = first.json()["approval"]
    assert approval["kind"] == "promotion"
    assert approval["status"] == "pending"
    assert approval["body_hash"] == approval_body_hash(approval["payload"])
    assert approval["payload"]["spec"] == WRITE_SPEC
    again = client.post(f"/api/v1/playbooks/{playbook['id']}/promote/")
    assert again.status_code == 202
    assert again.json()["approval"]["id"] == approval["id"]
    detail = client.get(f"/api/v1/playbooks/{playbook['id']}/").json()
    assert detail["status"] == "draft"
    assert detail["pending_promotion"]["id"] == approval["id"]


def test_promotion_expires_in_seven_days(author, client_for):
    approval = (
        client_for(author)
        .post(f"/api/v1/playbooks/{_draft(client_for(author), WRITE_SPEC)['id']}/promote/")
        .json()["approval"]
    )
    row = Approval.objects.get(pk=approval["id"])
    assert round((row.expires_at - row.created_at).total_seconds() / 86400) == 7


def test_approver_approves_with_hash_and_playbook_activates(author, approver, client_for):
    playbook = _draft(client_for(author), WRITE_SPEC)
    approval = (
        client_for(author).post(f"/api/v1/playbooks/{playbook['id']}/promote/").json()["approval"]
    )
    response = client_for(approver).post(
        f"/api/v1/approvals/{approval['id']}/approve/",
        {"body_hash": approval["body_hash"], "reason": "looks right"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "approved"
    assert response.json()["decided_by"] == approver.username
    detail = client_for(author).get(f"/api/v1/playbooks/{playbook['id']}/").json()
    assert detail["status"] == "active"
    assert detail["version"] == 1
    assert detail["pending_promotion"] is None
    assert PlaybookVersion.objects.get(playbook_id=playbook["id"]).activated_by == approver


def test_stale_hash_is_409_hash_mismatch_and_nothing_changes(author, approver, client_for):
    playbook = _draft(client_for(author), WRITE_SPEC)
    approval = (
        client_for(author).post(f"/api/v1/playbooks/{playbook['id']}/promote/").json()["approval"]
    )
    response = client_for(approver).post(
        f"/api/v1/approvals/{approval['id']}/approve/", {"body_hash": "0" * 64}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "hash_mismatch"
    assert Approval.objects.get(pk=approval["id"]).status == "pending"


def test_requester_may_not_approve_own_promotion(admin_user, client_for):
    client = client_for(admin_user)
    playbook = _draft(client, WRITE_SPEC)
    approval = client.post(f"/api/v1/playbooks/{playbook['id']}/promote/").json()["approval"]
    response = client.post(
        f"/api/v1/approvals/{approval['id']}/approve/",
        {"body_hash": approval["body_hash"]},
        format="json",
    )
    assert response.status_code == 403
    assert Approval.objects.get(pk=approval["id"]).status == "pending"


def test_author_cannot_decide_and_outsider_gets_404(author, make_user, other_org, client_for):
    playbook = _draft(client_for(author), WRITE_SPEC)
    approval = (
        client_for(author).post(f"/api/v1/playbooks/{playbook['id']}/promote/").json()["approval"]
    )
    other_author = make_user("author", username="carol")
    assert (
        client_for(other_author)
        .post(
            f"/api/v1/approvals/{approval['id']}/approve/",
            {"body_hash": approval["body_hash"]},
            format="json",
        )
        .status_code
        == 404
    )  # not visible: only deciders and the requester see it
    outsider = make_user("approver", organization=other_org, username="eve")
    assert client_for(outsider).get(f"/api/v1/approvals/{approval['id']}/").status_code == 404


def test_editing_the_spec_cancels_the_pending_promotion(author, approver, client_for):
    client = client_for(author)
    playbook = _draft(client, WRITE_SPEC)
    approval = client.post(f"/api/v1/playbooks/{playbook['id']}/promote/").json()["approval"]
    client.patch(
        f"/api/v1/playbooks/{playbook['id']}/",
        {"spec": spec(WRITE_SPEC, description="changed")},
        format="json",
    )
    assert Approval.objects.get(pk=approval["id"]).status == "cancelled"
    response = client_for(approver).post(
        f"/api/v1/approvals/{approval['id']}/approve/",
        {"body_hash": approval["body_hash"]},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_state"


def test_reject_needs_a_reason_and_keeps_draft(author, approver, client_for):
    playbook = _draft(client_for(author), WRITE_SPEC)
    approval = (
        client_for(author).post(f"/api/v1/playbooks/{playbook['id']}/promote/").json()["approval"]
    )
    client = client_for(approver)
    assert (
        client.post(f"/api/v1/approvals/{approval['id']}/reject/", {}, format="json").status_code
        == 400
    )
    rejected = client.post(
        f"/api/v1/approvals/{approval['id']}/reject/", {"reason": "too risky"}, format="json"
    )
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["reason"] == "too risky"
    assert client.get(f"/api/v1/playbooks/{playbook['id']}/").json()["status"] == "draft"


def test_invalid_spec_cannot_be_promoted(author, client_for, org):
    from playbooks.models import Playbook

    client = client_for(author)
    playbook = _draft(client, READ_ONLY_SPEC)
    Playbook.objects.filter(pk=playbook["id"]).update(spec={"name": "broken"})
    response = client.post(f"/api/v1/playbooks/{playbook['id']}/promote/")
    assert response.status_code == 400
    assert response.json()["error"]["details"]


def test_transitions_from_wrong_states_are_409(admin_user, client_for):
    client = client_for(admin_user)
    url = f"/api/v1/playbooks/{_draft(client, READ_ONLY_SPEC)['id']}/"
    assert client.post(f"{url}demote/").status_code == 409
    assert client.post(f"{url}archive/").status_code == 409
    assert client.post(f"{url}restore/").status_code == 409
    assert client.post(f"{url}promote/").status_code == 200
    assert client.post(f"{url}promote/").status_code == 409
    assert client.post(f"{url}archive/").json()["status"] == "archived"
    assert client.post(f"{url}restore/").json()["status"] == "draft"
    assert client.post(f"{url}promote/").json()["version"] == 2
    assert client.post(f"{url}demote/").json()["status"] == "draft"


def test_every_transition_is_audited(admin_user, client_for):
    client = client_for(admin_user)
    url = f"/api/v1/playbooks/{_draft(client, READ_ONLY_SPEC)['id']}/"
    for action in ("promote", "archive", "restore"):
        client.post(f"{url}{action}/")
    types = list(
        AuditEvent.objects.filter(type__startswith="playbook.")
        .order_by("seq")
        .values_list("type", flat=True)
    )
    assert types == [
        "playbook.created",
        "playbook.promoted",
        "playbook.archived",
        "playbook.restored",
    ]
