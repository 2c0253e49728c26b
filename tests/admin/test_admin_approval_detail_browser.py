"""The approval detail page in a real browser (Playwright driving Debian's chromium): an
approver decides a cleanup gate with its run context in view, edits a payload, reviews the
diff and new hash and confirms, sees Approve disabled where the dry run says the call cannot
succeed, and approves an external send to stay on its page with the undo window counting
down beside Undo. Screenshots at 1366x768 under var/test-artifacts/."""

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect, sync_playwright

from approvals.hashing import approval_body_hash
from approvals.models import Approval, ApprovalStatus
from tests.admin.helpers import fresh
from tests.admin.test_admin_approval_detail import (
    CLEANUP_RULES,
    CLEANUP_SPEC,
    UNREACHABLE_POST_SPEC,
    paused_approval,
    upload_customers,
)
from tests.engine import tools_for_tests  # registers tools.test.notify; CALLS counts sends
from tests.support.approvals import notify_spec
from tests.support.browser import admin_log_in, browser_launch, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 768}
NOTIFY_SPEC = notify_spec(name="Notify the team", undo_seconds=120)
EDITED_RULES = {"rules": CLEANUP_RULES[:1]}


def _open(page: Page, base: str, approval) -> None:
    page.goto(base + reverse("admin:approvals_approval_change", args=[approval.pk]))


def _decide_with_context(page: Page, base: str, gate) -> None:
    """The context above the decision; the raw JSON and full hash one click away."""
    _open(page, base, gate)
    expect(page.locator("#run-link")).to_contain_text("Cleanup alike")
    expect(page.locator("#decision-outcomes")).to_contain_text(
        "Apply the approved rules” (tools.studio.data.resolve_entities on customers.csv, "
        "writing cleaned.csv)"
    )
    expect(page.locator(".field-payload_readable")).to_contain_text("name_postcode")
    expect(page.locator("#merge-preview")).to_contain_text("ANN LEE")
    expect(page.locator("#raw-payload pre")).to_be_hidden()
    page.click("#raw-payload summary")
    expect(page.locator("#raw-payload pre")).to_be_visible()
    page.click("#full-hash summary")
    expect(page.locator("#full-hash")).to_contain_text(gate.body_hash)
    page.click("#previous-steps summary")
    expect(page.locator("#previous-steps pre")).to_contain_text("customers.csv")
    screenshot(page, "approval-detail.png")


def _edit_review_confirm(page: Page, base: str, gate) -> None:
    page.fill(
        "#edit-payload",
        '{"rules": [{"id": "email", "fields": ["email"], '
        '"normalize": ["strip", "lowercase"], "keep": "first"}]}',
    )
    page.click("#review-edit-button")
    expect(page.locator("#edited-hash")).to_have_text(approval_body_hash(EDITED_RULES))
    expect(page.locator(".as-diff-del").filter(has_text="name_postcode")).to_be_visible()
    screenshot(page, "approval-edit-review.png")
    page.click("#confirm-approve-button")
    expect(page.locator(".messagelist")).to_contain_text("Approved “Approve entity-resolution")


def _dry_run_blocks_approve(page: Page, base: str, call) -> None:
    _open(page, base, call)
    expect(page.locator("#dry-run-warning")).to_contain_text("nowhere.invalid does not resolve")
    expect(page.locator("#approve-button")).to_be_disabled()
    expect(page.locator("#reject-button")).to_be_enabled()


def _approve_then_undo_countdown(page: Page, base: str, send) -> None:
    _open(page, base, send)
    page.click("#approve-button")
    expect(page.locator(".messagelist")).to_contain_text("Approved “")
    expect(page.locator("#undo-button")).to_be_in_viewport()  # on top, where one lands
    countdown = page.locator("#undo-window time")
    first = countdown.inner_text()
    assert first.startswith("in 1m") or first.startswith("in 2m"), first
    expect(countdown).not_to_have_text(first, timeout=3000)  # the script counts down
    screenshot(page, "approval-undo.png")


def test_approver_decides_with_context_reviews_an_edit_and_sees_the_undo_countdown(
    live_server, active_playbook, author, approver
):
    gate = paused_approval(active_playbook, author, CLEANUP_SPEC, {"dataset": "customers.csv"})
    upload_customers(gate)
    unreachable = paused_approval(active_playbook, author, UNREACHABLE_POST_SPEC, {})
    send = paused_approval(active_playbook, author, NOTIFY_SPEC, {})
    base = live_server.url

    with sync_playwright() as playwright:
        browser = browser_launch(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            admin_log_in(page, base, approver)
            _decide_with_context(page, base, gate)
            _edit_review_confirm(page, base, gate)
            _dry_run_blocks_approve(page, base, unreachable)
            _approve_then_undo_countdown(page, base, send)
            undo_page = page.url
        finally:
            browser.close()

    gate = fresh(gate)
    assert (gate.status, gate.payload) == (ApprovalStatus.APPROVED, EDITED_RULES)
    assert gate.body_hash == approval_body_hash(EDITED_RULES)
    assert fresh(unreachable).status == ApprovalStatus.PENDING
    send = fresh(send)
    assert send.status == ApprovalStatus.APPROVED and send.undo_until is not None
    assert undo_page.endswith(reverse("admin:approvals_approval_change", args=[send.pk]))
    assert send.call_key not in tools_for_tests.CALLS  # inside the window: not sent yet
    assert not Approval.objects.filter(supersedes=send).exists()
