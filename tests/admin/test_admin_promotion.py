"""The promotion approval flow in the admin queue: approve with the rendered hash, stale
hashes, rejection reasons, and organization scoping of the queue."""

import re
from datetime import timedelta

from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from agentstudio.accounts.models import Role
from agentstudio.audit.models import AuditEvent
from approvals.hashing import approval_body_hash
from approvals.models import Approval, ApprovalDecision, ApprovalKind, ApprovalStatus
from approvals.services import approval_create, approval_reject
from playbooks.models import PlaybookStatus, PlaybookVersion
from playbooks.services import playbook_promote
from tests.admin.helpers import fresh, page_messages, rendered_body_hash

QUEUE_URL = reverse("admin:approvals_approval_changelist")


def _change_url(approval):
    return reverse("admin:approvals_approval_change", args=[approval.pk])


def _approve_url(approval):
    return reverse("admin:approvals_approval_approve", args=[approval.pk])


def _reject_url(approval):
    return reverse("admin:approvals_approval_reject", args=[approval.pk])


def _pending_promotion(make_playbook, author):
    playbook, approval = playbook_promote(playbook=make_playbook(author), actor=author)
    assert approval is not None
    assert playbook.status == PlaybookStatus.DRAFT
    return playbook, approval


def test_approver_approves_promotion_with_the_hash_the_page_rendered(
    make_playbook, author, approver, login
):
    playbook, approval = _pending_promotion(make_playbook, author)
    decided = approval_create(
        organization=author.membership.organization,
        kind=ApprovalKind.GATE,
        title="An older gate",
        payload={"rules": []},
        requested_by=author,
    )
    approval_reject(approval=decided, actor=approver, reason="not now")
    client = login(approver)

    queue = client.get(QUEUE_URL)
    assert queue.status_code == 200
    assert list(queue.context["cl"].result_list) == [approval, decided]
    assert approval.body_hash[:12] in queue.content.decode()

    page = client.get(_change_url(approval))
    html = page.content.decode()
    assert page.status_code == 200
    assert escape('"tools.studio.files.write"') in html
    assert approval.body_hash in html
    body_hash = rendered_body_hash(html)
    assert body_hash == approval.body_hash

    response = client.post(_approve_url(approval), {"body_hash": body_hash}, follow=True)

    assert response.redirect_chain[-1][0] == QUEUE_URL
    assert any("Approved" in message for message in page_messages(response))
    playbook = fresh(playbook)
    approval = fresh(approval)
    assert approval.status == ApprovalStatus.APPROVED
    assert approval.decided_by == approver
    assert playbook.status == PlaybookStatus.ACTIVE
    assert playbook.version == 1
    version = PlaybookVersion.objects.get(playbook=playbook)
    assert (version.number, version.activated_by) == (1, approver)
    assert AuditEvent.objects.filter(type="approval.approved", actor=approver).exists()


def test_stale_hash_is_refused_with_a_message_and_changes_nothing(
    make_playbook, author, approver, login
):
    playbook, approval = _pending_promotion(make_playbook, author)
    client = login(approver)
    seen_hash = rendered_body_hash(client.get(_change_url(approval)).content.decode())
    changed = {**approval.payload, "reasons": ["edited by someone else meanwhile"]}
    Approval.objects.filter(pk=approval.pk).update(
        payload=changed, body_hash=approval_body_hash(changed)
    )

    response = client.post(_approve_url(approval), {"body_hash": seen_hash}, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == _change_url(approval)
    assert any("payload changed" in message for message in page_messages(response))
    assert any("hash_mismatch" in message for message in page_messages(response))
    assert approval_body_hash(changed) in response.content.decode()
    approval = fresh(approval)
    playbook = fresh(playbook)
    assert approval.status == ApprovalStatus.PENDING
    assert playbook.status == PlaybookStatus.DRAFT
    assert not PlaybookVersion.objects.filter(playbook=playbook).exists()
    assert not approval.decisions.filter(action=ApprovalDecision.Action.APPROVE).exists()


def test_reject_requires_a_reason(make_playbook, author, approver, login):
    playbook, approval = _pending_promotion(make_playbook, author)
    client = login(approver)

    refused = client.post(_reject_url(approval), {"reason": "  "}, follow=True)

    assert any("A reason is required" in message for message in page_messages(refused))
    approval = fresh(approval)
    assert approval.status == ApprovalStatus.PENDING

    response = client.post(_reject_url(approval), {"reason": "Writes files"}, follow=True)

    assert response.redirect_chain[-1][0] == QUEUE_URL
    approval = fresh(approval)
    playbook = fresh(playbook)
    assert approval.status == ApprovalStatus.REJECTED
    assert (approval.reason, approval.decided_by) == ("Writes files", approver)
    assert playbook.status == PlaybookStatus.DRAFT


def test_decision_panel_offers_both_buttons_and_no_edit_of_a_promotion(
    make_playbook, author, approver, login
):
    _playbook, approval = _pending_promotion(make_playbook, author)

    html = login(approver).get(_change_url(approval)).content.decode()

    assert f'action="{_approve_url(approval)}"' in html
    assert f'action="{_reject_url(approval)}"' in html
    assert "Reason (required)" in html
    assert 'id="edit-form"' not in html  # a promotion's spec is the playbook's


def test_decided_approval_shows_no_buttons(make_playbook, author, approver, login):
    _playbook, approval = _pending_promotion(make_playbook, author)
    approval_reject(approval=approval, actor=approver, reason="no")

    html = login(approver).get(_change_url(approval)).content.decode()

    assert 'name="body_hash"' not in html
    assert "it can no longer be decided" in html


def test_requester_sees_why_they_cannot_decide_their_own_promotion(
    make_playbook, admin_user, login
):
    _playbook, approval = _pending_promotion(make_playbook, admin_user)

    html = login(admin_user).get(_change_url(approval)).content.decode()

    assert 'name="body_hash"' not in html
    assert "another approver must decide it" in html


def test_approver_of_another_organization_gets_404_and_an_empty_queue(
    make_playbook, author, make_user, other_org, login
):
    _playbook, approval = _pending_promotion(make_playbook, author)
    outsider = make_user(Role.APPROVER, organization=other_org, username="oscar-outsider")
    client = login(outsider)

    assert client.get(_change_url(approval)).status_code == 404
    queue = client.get(QUEUE_URL)
    assert queue.status_code == 200
    assert list(queue.context["cl"].result_list) == []
    assert approval.title not in queue.content.decode()
    forged = client.post(_approve_url(approval), {"body_hash": approval.body_hash})
    assert forged.status_code == 404
    approval = fresh(approval)
    assert approval.status == ApprovalStatus.PENDING


def test_decision_urls_refuse_get(make_playbook, author, approver, login):
    _playbook, approval = _pending_promotion(make_playbook, author)
    client = login(approver)

    assert client.get(_approve_url(approval)).status_code == 405
    assert client.get(_reject_url(approval)).status_code == 405


def test_nobody_adds_changes_or_deletes_approvals(make_playbook, author, approver, login):
    _playbook, approval = _pending_promotion(make_playbook, author)
    client = login(approver)

    assert client.get(reverse("admin:approvals_approval_add")).status_code == 403
    assert (
        client.get(reverse("admin:approvals_approval_delete", args=[approval.pk])).status_code
        == 403
    )
    edited = client.post(_change_url(approval), {"title": "renamed"})
    assert edited.status_code == 403
    approval = fresh(approval)
    assert approval.title != "renamed"


def test_approve_form_carries_its_csrf_token(make_playbook, author, approver):
    _playbook, approval = _pending_promotion(make_playbook, author)
    client = Client(enforce_csrf_checks=True)
    client.force_login(approver)
    html = client.get(_change_url(approval)).content.decode()
    form = html[html.index('id="approve-form"') :]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)

    response = client.post(
        _approve_url(approval),
        {"csrfmiddlewaretoken": token, "body_hash": rendered_body_hash(html)},
    )

    assert response.status_code == 302
    assert fresh(approval).status == ApprovalStatus.APPROVED


def test_tool_call_approval_takes_the_chosen_scope(author, approver, login):
    approval = approval_create(
        organization=author.membership.organization,
        kind=ApprovalKind.TOOL_CALL,
        title="Post the report",
        payload={"tool": "tools.studio.http.post", "arguments": {"url": "https://example.com"}},
        requested_by=author,
        tool="tools.studio.http.post",
        risk="external_send",
    )
    client = login(approver)
    html = client.get(_change_url(approval)).content.decode()
    assert '<option value="session">' in html

    client.post(
        _approve_url(approval),
        {"body_hash": rendered_body_hash(html), "scope": "session", "reason": "known host"},
    )

    approval = fresh(approval)
    assert (approval.status, approval.scope, approval.reason) == (
        ApprovalStatus.APPROVED,
        "session",
        "known host",
    )


def test_expired_approval_is_refused_with_a_message(author, approver, login):
    approval = approval_create(
        organization=author.membership.organization,
        kind=ApprovalKind.GATE,
        title="Late gate",
        payload={"rules": []},
        requested_by=author,
        expires_at=timezone.now() - timedelta(minutes=1),
    )

    response = login(approver).post(
        _approve_url(approval), {"body_hash": approval.body_hash}, follow=True
    )

    assert response.status_code == 200
    assert any("expired" in message for message in page_messages(response))
    assert fresh(approval).status == ApprovalStatus.EXPIRED
