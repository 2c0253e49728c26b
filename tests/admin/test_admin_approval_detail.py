"""The approval detail page decides with context: the run and its inputs (linked), the
steps before with their outputs (folded), what approving and rejecting do next, the payload
rendered for people beside the raw JSON and full hash (folded), and a dry run that says the
call cannot succeed keeps Approve shut on the page and on the server; a tool call's
arguments are edited in a form built from the tool's inputSchema, an invalid edit refused
naming its field."""

import pytest
from django.urls import reverse
from django.utils.html import escape

from approvals.hashing import approval_body_hash
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from approvals.services import approval_create
from playbooks.engine.runner import Advance, run_advance
from playbooks.engine.workspace import run_workspace
from playbooks.runs.starting import run_start
from tests.admin.helpers import fresh, page_messages
from tests.engine import tools_for_tests  # noqa: F401  (registers tools.test.count)

CLEANUP_RULES = [
    {"id": "email", "fields": ["email"], "normalize": ["strip", "lowercase"], "keep": "first"},
    {
        "id": "name_postcode",
        "fields": ["name", "postcode"],
        "normalize": ["strip"],
        "keep": "first",
    },
]
CLEANUP_SPEC = {
    "name": "Cleanup alike",
    "inputs": {"type": "object", "properties": {"dataset": {"type": "string"}}},
    "tools": ["tools.test.count", "tools.studio.data.resolve_entities"],
    "max_risk": "write",
    "steps": [
        {
            "id": "profile",
            "title": "Profile the dataset",
            "tool": "tools.test.count",
            "args": {"value": "{{ inputs.dataset }}"},
        },
        {
            "id": "review_rules",
            "title": "Review the proposed rules",
            "approval": {
                "title": "Approve entity-resolution rules",
                "payload": {"rules": CLEANUP_RULES},
            },
        },
        {
            "id": "apply",
            "title": "Apply the approved rules",
            "tool": "tools.studio.data.resolve_entities",
            "args": {
                "dataset": "{{ inputs.dataset }}",
                "rules": "{{ steps.review_rules.output.rules }}",
                "output_path": "cleaned.csv",
            },
        },
    ],
}
UNREACHABLE_POST_SPEC = {
    "name": "Post the report",
    "tools": ["tools.studio.http.post"],
    "max_risk": "external_send",
    "steps": [
        {
            "id": "post",
            "title": "Post the report",
            "tool": "tools.studio.http.post",
            "args": {"url": "https://nowhere.invalid/hook", "json": {"rows": 3}},
        }
    ],
    "approval_policy": {"external_send": {"mode": "approve", "undo_seconds": 30}},
}


CUSTOMERS_CSV = (
    "customer_id,name,email,postcode\n"
    "1,Ann Lee, ann@example.com ,N1 1AA\n"
    "2,Bob Day,bob@example.com,E2 2BB\n"
    "3,ANN LEE,ANN@example.com,N1 1AA\n"
    "4,Cy Orr,cy@example.com,W3 3CC\n"
)


def upload_customers(approval) -> None:
    """The run's uploaded dataset, as data-cleanup's input puts it in the workspace."""
    (run_workspace(approval.run_id) / "customers.csv").write_text(CUSTOMERS_CSV)


def paused_approval(active_playbook, author, spec, inputs):
    run = run_start(playbook=active_playbook(spec), actor=author, inputs=inputs)
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    return Approval.objects.get(run=run, status=ApprovalStatus.PENDING)


def _change_url(approval):
    return reverse("admin:approvals_approval_change", args=[approval.pk])


@pytest.mark.django_db
def test_gate_shows_its_run_inputs_earlier_steps_and_what_follows(
    active_playbook, author, approver, login
):
    gate = paused_approval(active_playbook, author, CLEANUP_SPEC, {"dataset": "customers.csv"})
    upload_customers(gate)

    html = login(approver).get(_change_url(gate)).content.decode()

    run_url = reverse("admin:playbooks_run_change", args=[gate.run_id])
    assert f'<a href="{run_url}" id="run-link">Cleanup alike' in html
    assert escape('"dataset": "customers.csv"') in html
    assert "Profile the dataset" in html and escape('"value": "customers.csv"') in html
    assert '<details class="as-fold"><summary>Profile the dataset' in html
    assert (
        escape(
            "next, “Apply the approved rules” (tools.studio.data.resolve_entities on "
            "customers.csv, writing cleaned.csv) runs with it."
        )
        in html
    )
    assert "Rejecting fails the run with your reason." in html
    # the rules as a table, the raw JSON and the full hash folded
    assert "<caption>rules</caption>" in html
    assert "<td>name_postcode</td><td>first</td><td>name, postcode</td><td>strip</td>" in html
    assert '<details class="as-fold" id="raw-payload"><summary>Raw JSON</summary>' in html
    assert '<details class="as-fold" id="full-hash">' in html and gate.body_hash in html
    assert "dry-run-warning" not in html and 'id="approve-button">' in html
    # the apply step's dry run on the uploaded file: rows 1 and 3 are one customer
    assert "4 rows in, 3 rows out; groups that would merge: 1." in html
    assert '<tr class="as-kept"><td>1 (kept)</td><td>1</td><td>Ann Lee</td>' in html
    assert '<tr class="as-merged"><td>3</td><td>3</td><td>ANN LEE</td>' in html


@pytest.mark.django_db
def test_a_dry_run_that_cannot_succeed_disables_approve_and_the_server_refuses(
    active_playbook, author, approver, login
):
    call = paused_approval(active_playbook, author, UNREACHABLE_POST_SPEC, {})
    assert "does not resolve" in call.dry_run["refused"]
    client = login(approver)

    html = client.get(_change_url(call)).content.decode()
    response = client.post(
        reverse("admin:approvals_approval_approve", args=[call.pk]),
        {"body_hash": call.body_hash},
        follow=True,
    )

    assert 'id="dry-run-warning"' in html and "nowhere.invalid does not resolve" in html
    assert 'id="approve-button" disabled>' in html
    assert (
        '<strong class="as-method">POST</strong> <code>https://nowhere.invalid/hook</code>' in html
    )
    assert "Approving makes the call to tools.studio.http.post" in html
    assert any("cannot succeed" in message for message in page_messages(response))
    assert fresh(call).status == ApprovalStatus.PENDING
    # rejecting stays open: it is how the approver ends a call that cannot succeed
    assert 'id="reject-button"' in html


def _post_call(author):
    return approval_create(
        organization=author.membership.organization,
        kind=ApprovalKind.TOOL_CALL,
        title="Post the report",
        payload={
            "tool": "tools.studio.http.post",
            "arguments": {"url": "https://example.com/hook", "json": {"rows": 3}},
        },
        requested_by=author,
        tool="tools.studio.http.post",
        risk="external_send",
    )


@pytest.mark.django_db
def test_a_tool_call_is_edited_in_a_form_from_its_input_schema(author, approver, login):
    call = _post_call(author)
    client = login(approver)
    review_url = reverse("admin:approvals_approval_review", args=[call.pk])
    form = {"body_hash": call.body_hash, "editor": "schema"}

    html = client.get(_change_url(call)).content.decode()
    review = client.post(
        review_url,
        {**form, "arg:url": "https://example.com/other", "arg:json": '{"rows": 4}'},
    ).content.decode()

    assert 'name="arg:url" id="field-url" value="https://example.com/hook"' in html
    assert '<textarea name="arg:json" id="field-json"' in html
    assert 'name="arg:headers"' in html  # optional, absent from the request: empty
    edited = {
        "tool": "tools.studio.http.post",
        "arguments": {"url": "https://example.com/other", "json": {"rows": 4}},
    }
    assert f'id="edited-hash">{approval_body_hash(edited)}<' in review
    assert escape('+    "url": "https://example.com/other"') in review
    assert fresh(call).status == ApprovalStatus.PENDING


@pytest.mark.django_db
def test_an_invalid_edit_is_refused_naming_the_field(author, approver, login):
    call = _post_call(author)
    client = login(approver)
    review_url = reverse("admin:approvals_approval_review", args=[call.pk])
    form = {"body_hash": call.body_hash, "editor": "schema", "arg:json": "{}"}

    bad_url = client.post(review_url, {**form, "arg:url": "ftp://example.com/x"}, follow=True)
    bad_json = client.post(
        review_url, {**form, "arg:url": "https://example.com/x", "arg:json": "{rows"}, follow=True
    )

    assert any("/url:" in message for message in page_messages(bad_url)), page_messages(bad_url)
    assert any("/payload/arguments/json: not JSON" in m for m in page_messages(bad_json))
    call = fresh(call)
    assert call.status == ApprovalStatus.PENDING
    assert call.payload["arguments"]["url"] == "https://example.com/hook"
