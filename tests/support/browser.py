"""A real browser for the admin tests: Debian's chromium driven by Playwright (installed by
.ci/run; a missing one fails the test, never skips it), logging in and saving screenshots
under var/test-artifacts/ for a person to look at."""

from __future__ import annotations

from pathlib import Path

from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.admin.helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def browser_launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def admin_log_in(page: Page, base: str, user) -> None:
    page.goto(base + reverse("admin:login"))
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#user-tools")).to_contain_text(user.get_username())


def screenshot(page: Page, name: str) -> Path:
    """The whole page as var/test-artifacts/<name>; the file is removed first, so a caller
    that checks it sees this run's."""
    path = ARTIFACTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
