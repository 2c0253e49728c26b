"""The run page and the playbook page in a real browser at 1366x768: a finished run with a
decided gate and two artifacts, and a playbook with two versions. Neither page scrolls
sideways; screenshots var/test-artifacts/run-page.png and playbook-page.png."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from playbooks.services import playbook_activate_as_system, playbook_demote, playbook_update
from playbooks.spec.checked import spec_check
from tests.admin.helpers import WRITE_SPEC, finished_report_run
from tests.support.browser import admin_log_in, browser_launch, screenshot

pytestmark = pytest.mark.django_db(transaction=True)
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def test_the_run_and_playbook_pages_read_at_a_glance(
    live_server, active_playbook, author, approver, admin_user
):
    run = finished_report_run(active_playbook, author, approver)
    playbook = playbook_demote(playbook=run.playbook, actor=admin_user)
    edited = {**WRITE_SPEC, "name": "Weekly cleanup"}
    playbook = playbook_update(playbook=playbook, actor=author, checked=spec_check(spec=edited))
    playbook_activate_as_system(playbook=playbook)
    title = str(run)
    base = live_server.url

    with sync_playwright() as playwright:
        browser = browser_launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            admin_log_in(page, base, admin_user)

            page.goto(base + reverse("admin:playbooks_run_change", args=[run.pk]))
            expect(page.locator("h2.as-title")).to_contain_text(title)
            expect(page.locator("h2.as-title")).to_contain_text("Succeeded")
            expect(page.locator(".as-timeline-row")).to_have_count(3)
            gate = page.locator('.as-timeline-row[data-step="sign_off"]')
            expect(gate).to_contain_text("approved by ann-approver")
            page.locator('.as-artifact[data-path="report.md"] > summary').click()
            expect(page.locator(".as-markdown h1")).to_have_text("Weekly report")
            page.locator('.as-artifact[data-path="data.csv"] > summary').click()
            expect(page.locator(".as-table-preview tbody tr")).to_have_count(10)
            page.locator(".field-input_folded details.as-fold > summary").last.click()
            expect(page.locator(".field-input_folded pre.as-code").last).to_be_visible()
            expect(page.locator("#run-events .as-event").first).to_contain_text("run.queued")
            assert page.evaluate(NO_SIDEWAYS_SCROLL)
            run_shot = screenshot(page, "run-page.png")

            page.goto(base + reverse("admin:playbooks_playbook_change", args=[playbook.pk]))
            expect(page.locator("table.as-versions tr")).to_have_count(3)
            page.locator(".as-version-diff > summary").first.click()
            expect(page.locator(".as-version-diff pre .as-diff-del").first).to_be_visible()
            expect(page.locator("table.as-recent-runs a.as-run")).to_have_text(title)
            assert page.evaluate(NO_SIDEWAYS_SCROLL)
            playbook_shot = screenshot(page, "playbook-page.png")
        finally:
            browser.close()

    assert run_shot.stat().st_size > 0 and playbook_shot.stat().st_size > 0
