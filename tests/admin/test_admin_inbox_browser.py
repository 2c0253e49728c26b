"""The inbox in a real browser at 1366x768: the header counts what awaits the approver, the
badge leads to the queue filtered to "awaiting me" with its columns, and a bulk approve goes
through the review page of every payload and hash before anything is approved."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from approvals.models import ApprovalKind, ApprovalStatus
from approvals.services import approval_create
from playbooks.engine.runner import Advance, run_advance
from playbooks.runs.starting import run_start
from tests.admin.helpers import fresh
from tests.engine import tools_for_tests  # noqa: F401  (registers tools.test.notify)
from tests.support.approvals import notify_spec
from tests.support.browser import admin_log_in, browser_launch, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT = {"width": 1366, "height": 768}
NOTIFY = "tools.test.notify"
NOTIFY_SPEC = notify_spec(name="Notify the team")


def _approval(author, title, **fields):
    return approval_create(
        organization=author.membership.organization,
        requested_by=author,
        title=title,
        **fields,
    )


def test_inbox_count_filter_columns_and_bulk_approve_in_a_real_browser(
    live_server, active_playbook, author, approver
):
    run = run_start(playbook=active_playbook(NOTIFY_SPEC), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    urgent = _approval(
        author,
        "Send the quarterly numbers to every customer on the mailing list before the board "
        "meeting starts",
        kind=ApprovalKind.TOOL_CALL,
        tool="tools.studio.email.send",
        risk="external_send",
        payload={"tool": "tools.studio.email.send", "arguments": {"to": "all@example.com"}},
        expires_at=timezone.now() + timedelta(minutes=4),
    )
    rules = _approval(author, "Approve the merge rules", kind=ApprovalKind.GATE, payload={"r": 1})
    _approval(
        author,
        "Reset every password",
        kind=ApprovalKind.TOOL_CALL,
        tool="tools.studio.admin.reset",
        risk="admin",
        payload={"tool": "tools.studio.admin.reset", "arguments": {}},
    )
    base = live_server.url

    with sync_playwright() as playwright:
        browser = browser_launch(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            admin_log_in(page, base, approver)
            page.goto(base + reverse("admin:index"))
            badge = page.locator("#inbox-count")
            expect(badge).to_have_text("Awaiting you: 3")  # not the admin-class call
            badge.click()
            expect(page).to_have_url(
                f"{base}{reverse('admin:approvals_approval_changelist')}?awaiting=me"
            )
            rows = page.locator("#result_list tbody tr")
            expect(rows).to_have_count(3)
            expect(rows.first).to_contain_text("Send the quarterly numbers")
            expect(rows.first.locator(".as-time-left.as-urgent")).to_contain_text("min")
            expect(rows.first.locator(".field-target")).to_have_text("to: all@example.com")
            expect(page.locator("#result_list")).to_contain_text("Notify the team")
            expect(page.locator(".field-run_column a")).to_have_count(1)
            expect(page.locator("#result_list")).not_to_contain_text("Reset every password")
            screenshot(page, "inbox.png")

            page.locator("#result_list tbody tr", has_text="Approve the merge rules").locator(
                "input.action-select"
            ).check()
            rows.first.locator("input.action-select").check()
            page.select_option("select[name=action]", "approve_selected")
            page.click("button[name=index]")
            expect(page.locator(".as-bulk-item")).to_have_count(2)
            expect(page.locator("#content-main")).to_contain_text(urgent.body_hash)
            expect(page.locator("#content-main")).to_contain_text(rules.body_hash)
            expect(page.locator("#content-main")).to_contain_text('"to": "all@example.com"')
            screenshot(page, "bulk-confirm.png")
            page.click("#bulk-confirm-button")
            expect(page.locator(".messagelist")).to_contain_text("Approved 2 approval(s).")
            expect(page.locator("#inbox-count")).to_have_text("Awaiting you: 1")
            page.goto(base + reverse("admin:approvals_approval_changelist"))
            expect(page.locator("#result_list .field-status_badge")).to_have_count(4)
            screenshot(page, "inbox-all.png")
        finally:
            browser.close()

    assert fresh(urgent).status == fresh(rules).status == ApprovalStatus.APPROVED
    assert fresh(urgent).decisions.get(action="approve").body_hash == urgent.body_hash
