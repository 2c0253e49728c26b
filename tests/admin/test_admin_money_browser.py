"""The money pages in a real browser (Playwright driving Debian's chromium) against a live
server, as an organization's admin sees them: a run's spend against its budget with its
scripted step badged, the organization's credit account, and its model providers. Each page
is saved under var/test-artifacts/ for a person to look at."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect, sync_playwright

from playbooks.engine.runner import run_advance
from playbooks.models import Run
from playbooks.runs.starting import run_start
from tests.support.browser import admin_log_in, browser_launch, screenshot
from tests.support.model_servers import provider_configure

pytestmark = pytest.mark.django_db(transaction=True)

SPEC = {
    "name": "Scripted summary with a budget",
    "model": {
        "provider": "scripted",
        "name": "gpt-4o-mini",
        "responses": [
            {
                "step": "summarise",
                "content": "A summary.",
                "usage": {"input_tokens": 1200, "output_tokens": 300},
            }
        ],
    },
    "tools": ["tools.studio.files.write"],
    "budget": {"max_usd": 0.5, "max_tool_calls": 10},
    "steps": [
        {
            "id": "write_notes",
            "tool": "tools.studio.files.write",
            "args": {"path": "a.txt", "content": "x"},
        },
        {"id": "summarise", "llm": {"prompt": "Summarise the notes."}},
    ],
    "outputs": {"summary": "{{ steps.summarise.output }}"},
}


def test_an_admin_reads_spend_credit_and_providers_in_a_real_browser(
    live_server, active_playbook, author, admin_user, org, openai_server
):
    run = run_start(playbook=active_playbook(SPEC), actor=author, inputs={})
    run_advance(run_id=run.pk)
    run = Run.objects.get(pk=run.pk)
    assert run.status == "succeeded", run.error
    provider_configure(org, openai_server, name="house-vllm", default_model="llama-3")
    base = live_server.url
    shots = []

    with sync_playwright() as playwright:
        browser = browser_launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            admin_log_in(page, base, admin_user)

            page.goto(base + reverse("admin:playbooks_run_change", args=[run.pk]))
            spend = page.locator(".field-spend_against_budget")
            expect(spend).to_contain_text("max_usd")
            expect(spend).to_contain_text("max_tool_calls")
            expect(page.locator(".field-credit_holds")).to_contain_text("settled")
            expect(page.locator(".as-scripted")).to_have_count(1)
            expect(page.locator(".as-scripted")).to_contain_text("scripted")
            shots.append(screenshot(page, "run-spend.png"))

            page.goto(base + reverse("admin:billing_creditaccount_change", args=[org.pk]))
            expect(page.locator("#content")).to_contain_text("Acme")
            expect(page.locator("#content")).to_contain_text("ledger")
            shots.append(screenshot(page, "credit-account.png"))

            page.goto(base + reverse("admin:tools_modelproviderconfig_changelist"))
            expect(page.locator("#result_list")).to_contain_text("house-vllm")
            expect(page.locator("#result_list")).to_contain_text("llama-3")
            shots.append(screenshot(page, "model-providers.png"))
        finally:
            browser.close()

    assert all(shot.stat().st_size > 0 for shot in shots)
