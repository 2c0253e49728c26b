"""Small things of the admin: "View site" opens the API docs, a favicon (linked from every
admin page, and at /favicon.ico), and times that name their time zone on the run and
approval pages."""

import re
from pathlib import Path

from django.contrib.staticfiles import finders
from django.test import Client, override_settings
from django.urls import reverse

from approvals.models import Approval
from tests.admin.helpers import finished_report_run


def test_view_site_leads_to_the_api_docs(admin_user, login):
    html = login(admin_user).get(reverse("admin:index")).content.decode()

    assert '<a href="/api/v1/docs/">View site</a>' in html
    assert Client().get("/api/v1/docs/").status_code == 200


def test_every_admin_page_links_the_favicon_which_is_also_at_favicon_ico(admin_user, login):
    html = login(admin_user).get(reverse("admin:playbooks_run_changelist")).content.decode()

    link = re.search(r'<link rel="icon" type="image/svg\+xml" href="([^"]+)">', html)
    assert link and link.group(1) == "/static/agentstudio/favicon.svg"
    icon = Client().get("/favicon.ico")
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")
    assert Path(finders.find("agentstudio/favicon.svg")).read_bytes() == icon.content


def test_run_and_approval_times_name_their_time_zone(
    active_playbook, author, approver, admin_user, login
):
    run = finished_report_run(active_playbook, author, approver)
    client = login(admin_user)
    url = reverse("admin:playbooks_run_change", args=[run.pk])

    started = run.started_at
    assert f"{started.day} {started:%b %Y %H:%M} UTC" in client.get(url).content.decode()
    with override_settings(TIME_ZONE="Asia/Tokyo"):
        html = client.get(url).content.decode()
    assert re.search(r'<div class="readonly">\d{1,2} \w{3} \d{4} \d\d:\d\d JST</div>', html)
    assert "approved by ann-approver" in html and " JST</span>" in html


def test_the_approval_page_names_the_time_zone(
    active_playbook, author, approver, admin_user, login
):
    run = finished_report_run(active_playbook, author, approver)
    approval = Approval.objects.get(run=run)
    url = reverse("admin:approvals_approval_change", args=[approval.pk])

    html = login(admin_user).get(url).content.decode()

    created = approval.created_at
    assert f"{created.day} {created:%b %Y %H:%M} UTC" in html
