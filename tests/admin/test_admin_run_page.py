"""The run page at a glance: titled by playbook and start time, a timeline bar per step with
who decided its gate, artifacts previewed (Markdown rendered safely, CSV's and xlsx's first
rows), long step outputs folded; the playbook page's versions with diffs and its recent runs."""

import json
import re
from html import unescape

from django.urls import reverse
from openpyxl import Workbook

from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact, Run, RunStep
from playbooks.services import playbook_activate_as_system, playbook_demote, playbook_update
from playbooks.spec.checked import spec_check
from tests.admin.helpers import WRITE_SPEC, finished_report_run


def _run_page(client, run: Run) -> str:
    response = client.get(reverse("admin:playbooks_run_change", args=[run.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_run_page_is_titled_by_playbook_and_start_time(
    active_playbook, author, approver, admin_user, login
):
    run = finished_report_run(active_playbook, author, approver)
    started = run.started_at
    expected = f"Weekly cleanup — started {started.day} {started:%b %Y %H:%M} UTC"

    assert str(run) == expected
    html = _run_page(login(admin_user), run)
    title = re.search(r'<h2 class="as-title">(.*?)</h2>', html, re.DOTALL).group(1)
    assert title.startswith(expected)
    assert "Succeeded" in title
    assert str(run.pk) not in re.search(r"<title>(.*?)</title>", html).group(1)
    listing = login(admin_user).get(reverse("admin:playbooks_run_changelist")).content.decode()
    assert expected in listing


def test_the_timeline_has_a_bar_per_step_and_says_who_approved(
    active_playbook, author, approver, admin_user, login
):
    run = finished_report_run(active_playbook, author, approver)
    html = _run_page(login(admin_user), run)

    rows = re.findall(r'<div class="as-timeline-row"[^>]*data-step="(\w+)"', html)
    assert rows == ["write_report", "write_data", "sign_off"]
    widths = [
        float(w)
        for w in re.findall(r'class="as-timeline-bar" style="left:[\d.]+%;width:([\d.]+)%', html)
    ]
    assert len(widths) == 3 and all(0 < width <= 100 for width in widths)
    gate = re.search(r'data-step="sign_off".*?</div></div>', html, re.DOTALL).group(0)
    assert "approved by ann-approver" in gate
    assert " UTC" in gate


def test_artifacts_are_previewed_and_markdown_is_rendered_safely(
    active_playbook, author, approver, admin_user, login
):
    run = finished_report_run(active_playbook, author, approver)
    html = _run_page(login(admin_user), run)

    assert "<h1>Weekly report</h1>" in html
    assert "<em>All</em>" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    table = re.search(r'data-path="data.csv".*?</table>', html, re.DOTALL).group(0)
    assert "<th>name</th><th>amount</th>" in table
    assert "customer-10" in table
    assert "customer-11" not in table  # header and the first 10 rows only
    assert table.count("<tr>") == 11


def test_long_step_outputs_fold(active_playbook, author, approver, admin_user, login):
    run = finished_report_run(active_playbook, author, approver)
    assert "x" * 600 in json.dumps(RunStep.objects.get(run=run, step_id="sign_off").input)
    html = _run_page(login(admin_user), run)

    folds = re.findall(
        r'<details class="as-fold as-json"><summary><code>(.*?)</code></summary>'
        r'<pre class="as-code as-wrap">(.*?)</pre></details>',
        html,
        re.DOTALL,
    )
    assert len(folds) >= 4  # each step's input, and the outputs of the two writes
    assert all(len(unescape(summary)) <= 80 for summary, _full in folds)
    assert any("x" * 600 in full for _summary, full in folds)  # the whole value, folded


def test_the_playbook_page_shows_versions_with_diffs_and_recent_runs(
    active_playbook, author, admin_user, approver, login
):
    run = finished_report_run(active_playbook, author, approver)
    playbook = run.playbook
    playbook = playbook_demote(playbook=playbook, actor=admin_user)
    edited = {**WRITE_SPEC, "name": "Weekly cleanup"}
    playbook = playbook_update(playbook=playbook, actor=author, checked=spec_check(spec=edited))
    playbook_activate_as_system(playbook=playbook)

    response = login(admin_user).get(reverse("admin:playbooks_playbook_change", args=[playbook.pk]))
    html = response.content.decode()

    assert "Activated versions" in html
    versions = re.findall(
        r"<tr><td>(v\d)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", html
    )
    assert [(v, by, status) for v, _created, by, status in versions] == [
        ("v2", "system", "active"),
        ("v1", "system", "superseded"),
    ]
    assert all(created.endswith(" UTC") for _v, created, _by, _s in versions)
    diff = re.search(r'<details class="as-fold as-version-diff">.*?</details>', html, re.DOTALL)
    assert "diff against v1" in diff.group(0)
    assert re.search(r'<span class="as-diff-del">-[^<]*sign_off</span>', diff.group(0))
    recent = re.search(r'<table class="as-recent-runs">.*?</table>', html, re.DOTALL).group(0)
    assert reverse("admin:playbooks_run_change", args=[run.pk]) in recent
    assert "Succeeded" in recent
    assert "$0.00" in recent


def test_an_xlsx_artifact_shows_its_first_rows(
    active_playbook, author, approver, admin_user, login
):
    run = finished_report_run(active_playbook, author, approver)
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["region", "cost"])
    for number in range(1, 31):
        sheet.append([f"region-{number}", number * 1.5])
    target = run_workspace(run.pk) / "costs.xlsx"
    workbook.save(target)
    Artifact.objects.create(
        run=run,
        path="costs.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        size=target.stat().st_size,
        sha256="0" * 64,
        step_id="write_data",
    )

    html = _run_page(login(admin_user), run)

    table = re.search(r'data-path="costs.xlsx".*?</table>', html, re.DOTALL).group(0)
    assert "<th>region</th><th>cost</th>" in table
    assert "<td>region-10</td><td>15</td>" in table
    assert "region-11" not in table
