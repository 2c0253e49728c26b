"""Bulk decisions from the queue: the action only opens a review page with every selected
payload and its full hash; the confirm POST decides each row through the service with the
hash the page showed, refusing a row whose payload changed since and skipping decided ones."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from agentstudio.accounts.admin import pretty_json
from approvals.models import ApprovalDecision, ApprovalKind, ApprovalStatus
from approvals.services import approval_create, approval_edit, approval_reject
from tests.admin.helpers import fresh, page_messages

QUEUE_URL = reverse("admin:approvals_approval_changelist")


def _gate(author, title, payload=None, **fields):
    return approval_create(
        organization=author.membership.organization,
        kind=ApprovalKind.GATE,
        title=title,
        payload={"rules": [f"<{title}>"]} if payload is None else payload,
        requested_by=author,
        **fields,
    )


def _confirm(client, action, approvals, hashes, **fields):
    data = {"action": action, "confirm": "yes", "_selected_action": [a.pk for a in approvals]}
    data.update({f"body_hash_{a.pk}": h for a, h in hashes.items()})
    return client.post(QUEUE_URL, {**data, **fields}, follow=True)


def test_the_action_shows_every_payload_and_hash_and_approves_nothing(author, approver, login):
    first, second = _gate(author, "First"), _gate(author, "Second")
    decided = _gate(author, "Decided")
    approval_reject(approval=decided, actor=approver, reason="no")
    selected = [first.pk, second.pk, decided.pk]

    response = login(approver).post(
        QUEUE_URL, {"action": "approve_selected", "_selected_action": selected}
    )

    assert response.status_code == 200
    html = response.content.decode()
    for approval in (first, second):
        assert escape(pretty_json(approval.payload)) in html
        assert f'name="body_hash_{approval.pk}" value="{approval.body_hash}"' in html
    assert f'name="body_hash_{decided.pk}"' not in html
    assert "Skipped: already rejected." in html
    assert "2 of 3 will be approved" in html
    assert fresh(first).status == fresh(second).status == ApprovalStatus.PENDING
    assert not ApprovalDecision.objects.filter(action=ApprovalDecision.Action.APPROVE).exists()


def test_confirm_approves_at_the_hashes_shown_and_refuses_a_changed_one(author, approver, login):
    first, changed = _gate(author, "First"), _gate(author, "Changed")
    expired = _gate(author, "Expired", expires_at=timezone.now() + timedelta(seconds=1))
    shown = {first: first.body_hash, changed: changed.body_hash, expired: expired.body_hash}
    client = login(approver)
    client.post(
        QUEUE_URL, {"action": "approve_selected", "_selected_action": [a.pk for a in shown]}
    )
    approval_edit(approval=changed, actor=approver, payload={"rules": ["edited meanwhile"]})
    expired.expires_at = timezone.now() - timedelta(seconds=1)
    expired.save(update_fields=["expires_at"])

    response = _confirm(client, "approve_selected", list(shown), shown)

    messages = page_messages(response)
    assert (fresh(first).status, fresh(changed).status) == ("approved", "pending")
    assert fresh(first).decisions.get(action="approve").body_hash == shown[first]
    assert fresh(expired).status == ApprovalStatus.PENDING
    assert "Approved 1 approval(s)." in messages
    assert any(m.startswith("“Changed”: ") and "hash_mismatch" in m for m in messages)
    assert "“Expired”: skipped, expired." in messages


def test_a_row_whose_hash_was_not_shown_is_not_approved(author, approver, login):
    unseen = _gate(author, "Unseen")

    response = _confirm(login(approver), "approve_selected", [unseen], {})

    assert fresh(unseen).status == ApprovalStatus.PENDING
    assert any(m.startswith("“Unseen”: ") and "hash_mismatch" in m for m in page_messages(response))


def test_bulk_reject_asks_for_one_reason_then_rejects_each(author, approver, login):
    first, second = _gate(author, "First"), _gate(author, "Second")
    client = login(approver)
    review = client.post(
        QUEUE_URL, {"action": "reject_selected", "_selected_action": [first.pk, second.pk]}
    )
    assert 'id="bulk-reason"' in review.content.decode()

    refused = _confirm(client, "reject_selected", [first, second], {}, reason="  ")
    assert "A reason is required." in refused.content.decode()
    assert fresh(first).status == fresh(second).status == ApprovalStatus.PENDING

    done = _confirm(client, "reject_selected", [first, second], {}, reason="Out of date")
    assert "Rejected 2 approval(s)." in page_messages(done)
    assert {fresh(first).reason, fresh(second).reason} == {"Out of date"}
    assert fresh(first).status == fresh(second).status == ApprovalStatus.REJECTED


def test_more_than_a_page_is_refused_before_any_review(author, approver, login):
    approvals = [_gate(author, f"Gate {n}") for n in range(101)]

    response = login(approver).post(
        QUEUE_URL,
        {"action": "approve_selected", "_selected_action": [a.pk for a in approvals]},
        follow=True,
    )

    assert any("at most 100" in m for m in page_messages(response))
    assert fresh(approvals[0]).status == ApprovalStatus.PENDING


def test_a_call_whose_dry_run_cannot_succeed_is_not_approved_in_bulk(author, approver, login):
    doomed = _gate(author, "Doomed", dry_run={"refused": "nowhere.invalid does not resolve"})
    fine = _gate(author, "Fine", dry_run={"ok": True})
    shown = {doomed: doomed.body_hash, fine: fine.body_hash}
    client = login(approver)
    review = client.post(
        QUEUE_URL, {"action": "approve_selected", "_selected_action": [a.pk for a in shown]}
    )
    assert "its dry run says the call cannot succeed" in review.content.decode()

    response = _confirm(client, "approve_selected", list(shown), shown)

    assert (fresh(doomed).status, fresh(fine).status) == ("pending", "approved")
    assert any("“Doomed”: skipped, its dry run says" in m for m in page_messages(response))
