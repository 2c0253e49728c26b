"""The approval queue in a real browser (Playwright driving Debian's chromium) against a live
server: an approver edits a gate, reviews the edit and approves it, rejects another after an
empty reason is refused, and undoes an external send inside its undo window. A missing
chromium fails the test: it is installed by .ci/run, never skipped."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect, sync_playwright

from approvals.hashing import approval_body_hash
from approvals.models import Approval, ApprovalDecision, ApprovalKind, ApprovalStatus
from approvals.services import approval_approve, approval_create
from playbooks.engine.runner import Advance, run_advance
from playbooks.runs.starting import run_start
from tests.admin.helpers import fresh
from tests.engine import tools_for_tests  # registers tools.test.notify; CALLS counts sends
from tests.support.approvals import notify_spec
from tests.support.browser import ARTIFACTS, admin_log_in, browser_launch

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOT = ARTIFACTS / "approval-queue.png"
NOTIFY = "tools.test.notify"
NOTIFY_SPEC = notify_spec(name="Notify the team", undo_seconds=60)
EDITED_RULES = {"rules": ["merge on email", "merge on phone"]}


def _gate(author, title, payload):
    return approval_create(
        organization=author.membership.organization,
        kind=ApprovalKind.GATE,
        title=title,
        payload=payload,
        requested_by=author,
    )


def _approved_send(active_playbook, author, approver):
    """An external send approved through the service, inside a 60-second undo window."""
    run = run_start(playbook=active_playbook(NOTIFY_SPEC), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    approval = Approval.objects.get(run=run)
    return approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)


def _open(page: Page, base: str, approval) -> None:
    page.goto(base + reverse("admin:approvals_approval_change", args=[approval.pk]))


def _edit_and_approve(page: Page, base: str, gate) -> None:
    _open(page, base, gate)
    expect(page.locator("#decision-hash")).to_have_text(gate.body_hash)
    page.fill("#edit-payload", '{"rules": ["merge on email", "merge on phone"]}')
    page.click("#review-edit-button")
    expect(page.locator("#edited-hash")).to_have_text(approval_body_hash(EDITED_RULES))
    page.click("#confirm-approve-button")
    expect(page.locator(".messagelist")).to_contain_text("Approved “Approve the rules”")


def _reject_after_an_empty_reason(page: Page, base: str, gate) -> None:
    _open(page, base, gate)
    page.click("#reject-button")
    expect(page.locator(".messagelist .error")).to_contain_text("A reason is required")
    # no ORM here: Playwright's loop runs in this thread; the rows are checked afterwards
    expect(page.locator(".field-status_badge")).to_contain_text("Pending")
    page.fill("#reject-reason", "The discount list is out of date")
    page.click("#reject-button")
    expect(page.locator(".messagelist")).to_contain_text("Rejected “Approve the discounts”")


def _undo(page: Page, base: str, send) -> None:
    _open(page, base, send)
    page.click("#undo-form button")
    expect(page.locator(".messagelist")).to_contain_text("nothing was sent")
    expect(page.locator(".field-status_badge")).to_contain_text("Pending")


def _screenshot_queue(page: Page, base: str) -> None:
    page.goto(base + reverse("admin:approvals_approval_changelist"))
    expect(page.locator("#pending-counts")).to_contain_text("1 pending")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)  # the assertion below must see this run's file
    page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_approver_edits_rejects_and_undoes_in_a_real_browser(
    live_server, active_playbook, author, approver
):
    edited_gate = _gate(author, "Approve the rules", {"rules": ["merge on email"]})
    rejected_gate = _gate(author, "Approve the discounts", {"discounts": [10, 20]})
    send = _approved_send(active_playbook, author, approver)
    base = live_server.url

    with sync_playwright() as playwright:
        browser = browser_launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            admin_log_in(page, base, approver)
            _open(page, base, edited_gate)
            countdown = page.locator(".field-expires_in time")
            first = countdown.inner_text()
            expect(countdown).not_to_have_text(first, timeout=3000)  # the script ticks
            _edit_and_approve(page, base, edited_gate)
            _reject_after_an_empty_reason(page, base, rejected_gate)
            _undo(page, base, send)
            reopened_url = page.url
            _screenshot_queue(page, base)
        finally:
            browser.close()

    edited_gate = fresh(edited_gate)
    assert (edited_gate.status, edited_gate.payload) == (ApprovalStatus.APPROVED, EDITED_RULES)
    assert edited_gate.body_hash == approval_body_hash(EDITED_RULES)
    assert edited_gate.decisions.get(action=ApprovalDecision.Action.APPROVE).previous_payload == {
        "rules": ["merge on email"]
    }
    rejected_gate = fresh(rejected_gate)
    assert (rejected_gate.status, rejected_gate.reason, rejected_gate.decided_by) == (
        ApprovalStatus.REJECTED,
        "The discount list is out of date",
        approver,
    )
    assert rejected_gate.decisions.filter(action=ApprovalDecision.Action.REJECT).count() == 1
    reopened = Approval.objects.get(supersedes=send)
    assert fresh(send).status == ApprovalStatus.UNDONE
    assert (reopened.status, reopened.call_key, reopened.body_hash) == (
        ApprovalStatus.PENDING,
        send.call_key,
        send.body_hash,
    )
    assert str(reopened.pk) in reopened_url
    assert send.call_key not in tools_for_tests.CALLS  # undone: never sent
    assert SCREENSHOT.stat().st_size > 0
