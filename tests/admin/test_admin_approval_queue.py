"""The approval queue in the admin: the changelist (order, counts per kind, filters, columns,
a flat query count), the detail page (target, payload, hashes, countdown, diff, dry run)
and the decisions it offers (edit and approve, reject, undo, bulk approve), each through
the services."""

import re
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from agentstudio.accounts.models import Role
from approvals.hashing import approval_body_hash
from approvals.models import Approval, ApprovalDecision, ApprovalKind, ApprovalStatus
from approvals.services import approval_approve, approval_create, approval_edit, approval_reject
from playbooks.engine.runner import Advance, run_advance
from playbooks.runs.starting import run_start
from tests.admin.helpers import fresh, page_messages, rendered_body_hash
from tests.engine import tools_for_tests  # noqa: F401  (registers tools.test.notify)

QUEUE_URL = reverse("admin:approvals_approval_changelist")
QUEUE_QUERY_LIMIT = 12  # session, user, membership, inbox badge, counts, filters, page
NOTIFY = "tools.test.notify"


def _change_url(approval):
    return reverse("admin:approvals_approval_change", args=[approval.pk])


def _approve_url(approval):
    return reverse("admin:approvals_approval_approve", args=[approval.pk])


def _review_url(approval):
    return reverse("admin:approvals_approval_review", args=[approval.pk])


def _gate(author, title="Approve the rules", payload=None, **fields):
    return approval_create(
        organization=author.membership.organization,
        kind=ApprovalKind.GATE,
        title=title,
        payload={"rules": ["merge on email"]} if payload is None else payload,
        requested_by=author,
        **fields,
    )


def _tool_call(author, arguments, *, risk="external_send", title="Post the report"):
    return approval_create(
        organization=author.membership.organization,
        kind=ApprovalKind.TOOL_CALL,
        title=title,
        payload={"tool": "tools.studio.http.post", "arguments": arguments},
        requested_by=author,
        tool="tools.studio.http.post",
        risk=risk,
    )


def _bulk_pending(author, count):
    """`count` pending approvals in one INSERT, of mixed kinds and risks."""
    organization = author.membership.organization
    expires_at = timezone.now() + timedelta(hours=1)
    kinds = (ApprovalKind.GATE, ApprovalKind.TOOL_CALL, ApprovalKind.BUDGET)
    Approval.objects.bulk_create(
        Approval(
            organization=organization,
            kind=kinds[n % 3],
            title=f"Pending {n}",
            payload={"n": n},
            body_hash=approval_body_hash({"n": n}),
            risk=("write", "external_send")[n % 2],
            tool="tools.studio.http.post",
            expires_at=expires_at,
            requested_by=author,
        )
        for n in range(count)
    )


def _queue_queries(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(QUEUE_URL)
    assert response.status_code == 200
    return response, len(queries)


# -- the changelist


def test_queue_lists_pending_first_then_soonest_expiry_with_counts_per_kind(
    author, approver, login
):
    decided = _gate(author, "Decided gate", expires_at=timezone.now() + timedelta(minutes=1))
    approval_reject(approval=decided, actor=approver, reason="no")
    later = _gate(author, "Gate expiring later")
    newer = _tool_call(author, {"url": "https://example.com/hook"})
    sooner = _gate(author, "Gate expiring soon", expires_at=timezone.now() + timedelta(minutes=5))

    response = login(approver).get(QUEUE_URL)

    assert list(response.context["cl"].result_list) == [sooner, later, newer, decided]
    assert response.context["pending_total"] == 3
    assert response.context["pending_by_kind"] == [
        ("tool_call", "Tool call", 1),
        ("gate", "Gate", 2),
    ]
    html = response.content.decode()
    assert 'id="pending-counts"' in html
    assert "?status__exact=pending&amp;kind__exact=gate" in html
    row = html[html.index(newer.body_hash[:12]) - 2000 : html.index(newer.body_hash[:12]) + 200]
    assert "tools.studio.http.post" in row and "external_send" in row and "Pending" in row
    assert newer.body_hash[12:] not in html.replace(f'title="{newer.body_hash}"', "")


def test_queue_filters_by_kind_risk_status_and_playbook(author, approver, login, make_playbook):
    playbook = make_playbook(author)
    on_playbook = _gate(author, "Gate of a playbook", playbook=playbook)
    _tool_call(author, {"url": "https://example.com"})
    client = login(approver)

    spec = client.get(QUEUE_URL).context["cl"].list_filter
    assert [getattr(item, "__name__", item) for item in spec][:3] == ["kind", "risk", "status"]
    by_playbook = client.get(QUEUE_URL, {"playbook__id__exact": playbook.pk})
    assert list(by_playbook.context["cl"].result_list) == [on_playbook]
    by_risk = client.get(QUEUE_URL, {"risk": "external_send"})
    assert [a.kind for a in by_risk.context["cl"].result_list] == ["tool_call"]
    by_status = client.get(QUEUE_URL, {"status__exact": "rejected"})
    assert list(by_status.context["cl"].result_list) == []


def test_queue_query_count_stays_flat_with_ten_thousand_pending(author, approver, login):
    client = login(approver)
    _bulk_pending(author, 10)
    _response, with_ten = _queue_queries(client)
    _bulk_pending(author, 9_990)

    response, with_ten_thousand = _queue_queries(client)

    print(f"changelist queries: 10 pending {with_ten}, 10,000 pending {with_ten_thousand}")
    assert with_ten_thousand == with_ten
    assert with_ten_thousand <= QUEUE_QUERY_LIMIT
    assert response.context["pending_total"] == 10_000
    assert len(response.context["cl"].result_list) == 100


def test_queue_of_another_organization_counts_nothing(author, make_user, other_org, login):
    _gate(author)
    outsider = make_user(Role.APPROVER, organization=other_org, username="oscar-outsider")

    response = login(outsider).get(QUEUE_URL)

    assert response.context["pending_total"] == 0
    assert "Nothing is waiting for a decision." in response.content.decode()


# -- the detail page


def test_detail_shows_target_payload_hashes_countdown_and_dry_run(author, approver, login):
    approval = _tool_call(author, {"url": "https://example.com/<hook>", "json": {"a": 1}})
    Approval.objects.filter(pk=approval.pk).update(dry_run={"would_send": "<b>1 row</b>"})

    html = login(approver).get(_change_url(approval)).content.decode()

    assert escape("url: https://example.com/<hook>") in html
    assert escape('"url": "https://example.com/<hook>"') in html
    assert "https://example.com/<hook>" not in html
    assert approval.body_hash in html
    assert f">{approval.body_hash[:12]}</code>" in html
    assert f'data-countdown-to="{approval.expires_at.isoformat()}"' in html
    assert "window.setInterval(tick, 1000)" in html
    assert escape('"would_send": "<b>1 row</b>"') in html
    assert "<b>1 row</b>" not in html


def test_detail_diffs_against_the_payload_an_edit_replaced(author, approver, login):
    approval = _gate(author, payload={"rules": ["merge on email"]})
    approval_edit(approval=approval, actor=approver, payload={"rules": ["merge on <phone>"]})

    html = login(approver).get(_change_url(fresh(approval))).content.decode()

    assert "before the edit by ann-approver" in html
    assert f'<span class="as-diff-del">{escape("-    ")}&quot;merge on email&quot;</span>' in html
    assert escape('+    "merge on <phone>"') in html


def test_detail_diffs_against_the_superseded_approval_and_hides_what_is_absent(
    author, approver, login
):
    rejected = _gate(author, payload={"limit": 10})
    approval_reject(approval=rejected, actor=approver, reason="too low")
    again = _gate(author, payload={"limit": 20}, supersedes=rejected)
    plain = _gate(author, "No history")
    client = login(approver)

    html = client.get(_change_url(again)).content.decode()
    plain_html = client.get(_change_url(plain)).content.decode()

    assert "of the rejected approval it supersedes" in html
    assert escape('-  "limit": 10') in html and escape('+  "limit": 20') in html
    assert "field-payload_diff" not in plain_html
    assert "field-payload_diff" in html
    assert "field-dry_run_pretty" not in plain_html


# -- deciding


def test_edit_then_approve_approves_the_edited_payload_and_its_hash(author, approver, login):
    approval = _gate(author)
    client = login(approver)
    html = client.get(_change_url(approval)).content.decode()
    edited = {"rules": ["merge on email", "merge on phone"]}
    edit = {
        "body_hash": rendered_body_hash(html),
        "payload": '{"rules": ["merge on email", "merge on phone"]}',
    }

    review = client.post(_review_url(approval), edit).content.decode()
    assert fresh(approval).status == ApprovalStatus.PENDING  # reviewing approves nothing
    assert escape('+    "merge on phone"') in review
    edited_hash = re.search(r'name="edited_hash" value="([0-9a-f]{64})"', review).group(1)
    assert edited_hash == approval_body_hash(edited)
    response = client.post(
        _approve_url(approval), {**edit, "edited_hash": edited_hash}, follow=True
    )

    assert response.redirect_chain[-1][0] == QUEUE_URL
    approval = fresh(approval)
    assert (approval.status, approval.payload) == (ApprovalStatus.APPROVED, edited)
    assert approval.body_hash == approval_body_hash(edited)
    decision = approval.decisions.get(action=ApprovalDecision.Action.APPROVE)
    assert decision.previous_payload == {"rules": ["merge on email"]}


def test_an_edit_is_approved_only_with_the_hash_its_review_showed(author, approver, login):
    approval = _gate(author)
    client = login(approver)
    edit = {"body_hash": approval.body_hash, "payload": '{"rules": ["merge on phone"]}'}

    unreviewed = client.post(_approve_url(approval), edit, follow=True)
    other = client.post(
        _approve_url(approval),
        {**edit, "edited_hash": approval_body_hash({"rules": ["merge on fax"]})},
        follow=True,
    )

    assert any("Review the edit first" in m for m in page_messages(unreviewed))
    assert any("not the one you reviewed" in m for m in page_messages(other))
    assert fresh(approval).status == ApprovalStatus.PENDING
    assert fresh(approval).payload == {"rules": ["merge on email"]}


def test_invalid_json_changes_nothing_and_keeps_the_draft(author, approver, login):
    approval = _gate(author)
    client = login(approver)

    response = client.post(
        _approve_url(approval),
        {"body_hash": approval.body_hash, "payload": '{"rules": [<oops>'},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == _change_url(approval)
    assert any("not valid JSON" in message for message in page_messages(response))
    assert escape('{"rules": [<oops>') in response.content.decode()
    assert fresh(approval).status == ApprovalStatus.PENDING
    assert fresh(approval).payload == {"rules": ["merge on email"]}
    # the draft is shown once; the next visit starts from the stored payload again
    assert "oops" not in client.get(_change_url(approval)).content.decode()


def test_a_refused_edit_shows_the_service_error_and_changes_nothing(author, approver, login):
    approval = _tool_call(author, {"url": "https://example.com"})

    response = login(approver).post(
        _approve_url(approval),
        {
            "body_hash": approval.body_hash,
            "payload": '{"tool": "tools.studio.files.write", "arguments": {}}',
        },
        follow=True,
    )

    assert response.status_code == 200
    assert any("not its tool" in message for message in page_messages(response))
    assert fresh(approval).status == ApprovalStatus.PENDING
    assert not approval.decisions.exists()


def test_undo_inside_the_window_opens_the_reopened_approval(
    active_playbook, author, approver, login
):
    spec = {
        "name": "Notify",
        "tools": [NOTIFY],
        "max_risk": "external_send",
        "steps": [{"id": "tell", "tool": NOTIFY, "args": {"value": "ship it"}}],
        "approval_policy": {"external_send": {"mode": "approve", "undo_seconds": 60}},
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    approval = Approval.objects.get(run=run)
    approval = approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    client = login(approver)
    html = client.get(_change_url(approval)).content.decode()
    undo_url = reverse("admin:approvals_approval_undo", args=[approval.pk])
    assert f'action="{undo_url}"' in html

    response = client.post(undo_url, follow=True)

    reopened = Approval.objects.get(supersedes=approval)
    assert response.redirect_chain[-1][0] == _change_url(reopened)
    assert any("Undid" in message for message in page_messages(response))
    assert (fresh(approval).status, reopened.status) == ("undone", "pending")
    again = client.post(undo_url, follow=True)
    assert any("nothing to undo" in message for message in page_messages(again))


def test_bulk_approve_approves_each_at_its_hash_and_reports_each_refusal(author, approver, login):
    first, second = _gate(author, "First"), _gate(author, "Second")
    decided = _gate(author, "Already decided")
    approval_reject(approval=decided, actor=approver, reason="no")

    client = login(approver)
    selected = [first.pk, second.pk, decided.pk]
    review = client.post(QUEUE_URL, {"action": "approve_selected", "_selected_action": selected})
    assert fresh(first).status == fresh(second).status == ApprovalStatus.PENDING

    response = client.post(
        QUEUE_URL,
        {
            "action": "approve_selected",
            "confirm": "yes",
            "_selected_action": selected,
            f"body_hash_{first.pk}": first.body_hash,
            f"body_hash_{second.pk}": second.body_hash,
        },
        follow=True,
    )

    assert review.status_code == 200 and first.body_hash in review.content.decode()
    assert fresh(first).status == fresh(second).status == ApprovalStatus.APPROVED
    assert fresh(decided).status == ApprovalStatus.REJECTED
    shown = page_messages(response)
    assert "Approved 2 approval(s)." in shown
    assert "“Already decided”: skipped, already rejected." in shown


def test_buttons_are_hidden_from_those_the_services_would_refuse(author, approver, login):
    admin_class = _tool_call(author, {"url": "https://example.com"}, risk="admin")

    html = login(approver).get(_change_url(admin_class)).content.decode()

    assert 'name="body_hash"' not in html
    assert "Admin-class tool calls need an admin." in html


def test_no_form_edits_a_status_and_nobody_adds(author, approver, login):
    approval = _gate(author)
    client = login(approver)

    html = client.get(_change_url(approval)).content.decode()

    assert 'name="status"' not in html
    assert client.get(reverse("admin:approvals_approval_add")).status_code == 403
    assert "approve_selected" in client.get(QUEUE_URL).content.decode()


def test_nan_in_an_edited_payload_is_refused_not_a_500(author, approver, login):
    approval = _gate(author)
    client = login(approver)
    for text in ('{"rules": NaN}', '{"rules": [Infinity]}'):
        response = client.post(
            _approve_url(approval), {"body_hash": approval.body_hash, "payload": text}, follow=True
        )
        assert response.status_code == 200
        assert any("not valid JSON" in message for message in page_messages(response))
        assert fresh(approval).status == ApprovalStatus.PENDING


def test_unstorable_text_in_an_edited_payload_is_refused_not_a_500(author, approver, login):
    """NUL, lone surrogates and too-deep nesting: the API's parser refusals, here too."""
    approval = _gate(author)
    client = login(approver)
    for text, expected in (
        ('{"rules": "a\\u0000b"}', "/payload/rules contains a NUL character"),
        ('{"rules": ["\\udfff"]}', "/payload/rules/0 contains a lone UTF-16 surrogate"),
        ('{"r\\u0000": 1}', "key contains a NUL character"),
        ("[" * 50_000 + "]" * 50_000, "nested deeper than 100 levels"),
        ('{"rules": ' + "[" * 100 + "]" * 100 + "}", "nested deeper than 100 levels"),
    ):
        response = client.post(
            _approve_url(approval), {"body_hash": approval.body_hash, "payload": text}, follow=True
        )
        assert response.status_code == 200
        assert any(expected in message for message in page_messages(response)), text[:40]
        assert fresh(approval).status == ApprovalStatus.PENDING


def test_nul_in_an_admin_form_field_is_400_not_a_500(author, approver, login):
    """Admin pages read some fields straight from the form; NUL never reaches the database."""
    approval = _gate(author)
    client = login(approver)
    reject = reverse("admin:approvals_approval_reject", args=[approval.pk])
    response = client.post(reject, {"reason": "no\x00pe"})
    assert response.status_code == 400
    approve = client.post(_approve_url(approval), {"body_hash": "x", "reason": "a\x00"})
    assert approve.status_code == 400
    assert fresh(approval).status == ApprovalStatus.PENDING
