"""The run pages: a list scoped to the organization, a read-only detail page with steps,
events and outputs, Cancel / Retry buttons that call the run services, artifact downloads."""

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.html import escape

from agentstudio.accounts.models import Role
from approvals.models import Approval, ApprovalStatus
from playbooks.engine.runner import run_advance
from playbooks.models import Artifact, Run, RunStatus
from playbooks.runs.starting import run_start
from playbooks.services import playbook_activate_as_system, playbook_create
from playbooks.spec.checked import spec_check
from tests.admin.helpers import PASSWORD, WRITE_SPEC, page_messages

LIST_URL = reverse("admin:playbooks_run_changelist")

GATE_SPEC: dict[str, Any] = {
    "name": "Gated",
    "steps": [
        {"id": "check", "approval": {"title": "Check the plan", "payload": {"plan": "go"}}},
    ],
}
FAILING_SPEC: dict[str, Any] = {
    "name": "Fails",
    "steps": [
        {
            "id": "w",
            "tool": "tools.studio.files.write",
            "args": {"path": "a.txt", "content": "{{ inputs.missing }}"},
        }
    ],
    "tools": ["tools.studio.files.write"],
}


def _change_url(run: Run) -> str:
    return reverse("admin:playbooks_run_change", args=[run.pk])


def _button_url(run: Run, name: str) -> str:
    return reverse(f"admin:playbooks_run_{name}", args=[run.pk])


def _download_url(run: Run, artifact: Artifact) -> str:
    return reverse("admin:playbooks_run_artifact", args=[run.pk, artifact.pk])


@pytest.fixture
def start_run(db):
    """Activates `spec` as a playbook of `author`'s organization, starts a run and advances
    it once in-process (as tests/engine do), returning the run as stored afterwards."""

    def _start(author: Any, spec: dict[str, Any], inputs: dict[str, Any] | None = None) -> Run:
        checked = spec_check(spec=spec)
        assert checked.valid, [problem.as_dict() for problem in checked.report.errors]
        playbook = playbook_create(
            organization=author.membership.organization, actor=author, checked=checked
        )
        playbook = playbook_activate_as_system(playbook=playbook)
        run = run_start(playbook=playbook, actor=author, inputs=inputs or {})
        run_advance(run_id=run.pk)
        return Run.objects.get(pk=run.pk)

    return _start


@pytest.fixture
def succeeded_run(start_run, author) -> Run:
    run = start_run(author, WRITE_SPEC)
    assert run.status == RunStatus.SUCCEEDED
    return run


@pytest.fixture
def foreign_run(start_run, make_user, other_org) -> Run:
    foreign_author = make_user(Role.AUTHOR, organization=other_org, username="globex-author")
    run = start_run(foreign_author, WRITE_SPEC)
    assert run.status == RunStatus.SUCCEEDED
    return run


def test_list_is_scoped_to_the_organization(succeeded_run, foreign_run, approver, login):
    response = login(approver).get(LIST_URL)

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [succeeded_run]
    html = response.content.decode()
    assert "Write a file" in html
    assert "Succeeded" in html
    assert "v1" in html
    assert "bob-author" in html
    assert "globex-author" not in html


def test_list_queries_do_not_grow_with_rows(start_run, author, admin_user, login):
    client = login(admin_user)
    start_run(author, WRITE_SPEC)
    with CaptureQueriesContext(connection) as one:
        assert client.get(LIST_URL).status_code == 200
    for _ in range(3):
        start_run(author, WRITE_SPEC)
    with CaptureQueriesContext(connection) as four:
        response = client.get(LIST_URL)

    assert len(response.context["cl"].result_list) == 4
    assert len(four.captured_queries) == len(one.captured_queries)


def test_list_filters_and_search(succeeded_run, start_run, author, admin_user, login):
    failed = start_run(author, FAILING_SPEC)
    client = login(admin_user)

    by_status = client.get(LIST_URL, {"status__exact": RunStatus.FAILED})
    by_id = client.get(LIST_URL, {"q": str(succeeded_run.pk)[:13]})
    by_name = client.get(LIST_URL, {"q": "fails"})
    nothing = client.get(LIST_URL, {"q": "no such thing"})

    assert list(by_status.context["cl"].result_list) == [failed]
    assert list(by_id.context["cl"].result_list) == [succeeded_run]
    assert list(by_name.context["cl"].result_list) == [failed]
    assert list(nothing.context["cl"].result_list) == []


def test_playbook_filter_offers_only_own_organization(
    succeeded_run, foreign_run, start_run, author, approver, login
):
    failed = start_run(author, FAILING_SPEC)  # a filter with a single choice is not shown

    response = login(approver).get(LIST_URL)

    (playbook_filter,) = [
        spec for spec in response.context["cl"].filter_specs if spec.field_path == "playbook"
    ]
    offered = {pk for pk, _name in playbook_filter.lookup_choices}
    assert offered == {succeeded_run.playbook_id, failed.playbook_id}
    html = response.content.decode()
    assert f"playbook__id__exact={failed.playbook_id}" in html
    assert f"playbook__id__exact={foreign_run.playbook_id}" not in html


def test_detail_shows_steps_events_outputs_and_artifacts(succeeded_run, admin_user, login):
    response = login(admin_user).get(_change_url(succeeded_run))

    assert response.status_code == 200
    html = response.content.decode()
    invocation = succeeded_run.tool_invocations.get()
    assert invocation.key in html
    assert "tools.studio.files.write" in html
    pretty_outputs = json.dumps(succeeded_run.outputs, indent=2, sort_keys=True)
    assert escape(pretty_outputs) in html
    assert "max_usd" in html  # the budget
    events = response.context["run_events"]["rows"]
    types = [row["type"] for row in events]
    assert types[0] == "run.queued"
    assert types[-1] == "run.succeeded"
    assert [row["seq"] for row in events] == list(range(1, len(events) + 1))
    assert "run.succeeded" in html
    artifact = Artifact.objects.get(run=succeeded_run)
    assert _download_url(succeeded_run, artifact) in html
    assert 'name="run_action"' not in html  # a succeeded run offers no button
    step_rows = response.context["inline_admin_formsets"][0].formset.queryset
    assert [(row.step_id, row.status) for row in step_rows] == [("w", "succeeded")]


def test_detail_is_read_only(succeeded_run, admin_user, login):
    client = login(admin_user)

    assert client.post(_change_url(succeeded_run), {}).status_code == 403
    assert client.get(reverse("admin:playbooks_run_add")).status_code == 403
    delete_url = reverse("admin:playbooks_run_delete", args=[succeeded_run.pk])
    assert client.get(delete_url).status_code == 403


def test_cancel_button_cancels_a_paused_run(start_run, author, approver, login):
    run = start_run(author, GATE_SPEC)
    assert run.status == RunStatus.WAITING_FOR_APPROVAL
    approval = Approval.objects.get(run=run, status=ApprovalStatus.PENDING)
    client = login(approver)

    page = client.get(_change_url(run)).content.decode()
    assert f'action="{_button_url(run, "cancel")}"' in page
    assert f'action="{_button_url(run, "retry")}"' not in page
    assert reverse("admin:approvals_approval_change", args=[approval.pk]) in page
    response = client.post(_button_url(run, "cancel"), follow=True)

    assert response.status_code == 200
    assert "The run was cancelled." in page_messages(response)
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.CANCELLED
    assert Approval.objects.get(pk=approval.pk).status == ApprovalStatus.CANCELLED
    assert run.events.filter(type="run.cancelled", data__by=approver.username).exists()


def test_cancel_of_a_finished_run_shows_the_service_refusal(succeeded_run, admin_user, login):
    response = login(admin_user).post(_button_url(succeeded_run, "cancel"), follow=True)

    assert response.status_code == 200
    assert any("already succeeded" in message for message in page_messages(response))
    assert Run.objects.get(pk=succeeded_run.pk).status == RunStatus.SUCCEEDED


def test_retry_button_requeues_a_failed_run(start_run, author, admin_user, login):
    run = start_run(author, FAILING_SPEC)
    assert run.status == RunStatus.FAILED
    client = login(admin_user)

    page = client.get(_change_url(run)).content.decode()
    assert f'action="{_button_url(run, "retry")}"' in page
    assert f'action="{_button_url(run, "cancel")}"' not in page
    assert escape(run.error) in page
    response = client.post(_button_url(run, "retry"), follow=True)

    assert response.status_code == 200
    assert "The run was queued again from its failed step." in page_messages(response)
    run = Run.objects.get(pk=run.pk)
    assert (run.status, run.attempt, run.error) == (RunStatus.QUEUED, 2, "")
    assert run.events.filter(type="run.queued", data__by=admin_user.username).exists()


def test_buttons_accept_only_post(start_run, author, admin_user, login):
    run = start_run(author, FAILING_SPEC)
    client = login(admin_user)

    assert client.get(_button_url(run, "retry")).status_code == 405
    assert client.get(_button_url(run, "cancel")).status_code == 405
    assert Run.objects.get(pk=run.pk).status == RunStatus.FAILED


def test_artifact_download_streams_the_file(succeeded_run, approver, login):
    artifact = Artifact.objects.get(run=succeeded_run, path="a.txt")

    response = login(approver).get(_download_url(succeeded_run, artifact))

    assert response.status_code == 200
    assert response["Content-Type"].startswith(artifact.content_type)
    assert 'filename="a.txt"' in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"x"


def test_another_organizations_run_is_404(succeeded_run, foreign_run, admin_user, login):
    client = login(admin_user)
    foreign_artifact = Artifact.objects.get(run=foreign_run)
    own_artifact = Artifact.objects.get(run=succeeded_run)

    assert client.get(_change_url(foreign_run)).status_code == 404
    assert client.get(_download_url(foreign_run, foreign_artifact)).status_code == 404
    # Another run's artifact under your own run's URL is refused too.
    mixed = reverse("admin:playbooks_run_artifact", args=[succeeded_run.pk, foreign_artifact.pk])
    assert client.get(mixed).status_code == 404
    assert client.post(_button_url(foreign_run, "cancel")).status_code == 404
    assert client.get(_download_url(succeeded_run, own_artifact)).status_code == 200


def test_artifact_path_outside_the_workspace_is_404(succeeded_run, admin_user, login):
    artifact = Artifact.objects.get(run=succeeded_run)
    Artifact.objects.filter(pk=artifact.pk).update(path="../../../etc/hostname")

    response = login(admin_user).get(_download_url(succeeded_run, artifact))

    assert response.status_code == 404


def test_superuser_sees_every_organizations_runs(succeeded_run, foreign_run, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    client.force_login(root)

    response = client.get(LIST_URL)

    assert {run.pk for run in response.context["cl"].result_list} == {
        succeeded_run.pk,
        foreign_run.pk,
    }
    assert client.get(_change_url(foreign_run)).status_code == 200


def test_runner_cannot_log_in_to_see_runs(succeeded_run, runner):
    client = Client()

    response = client.post(
        reverse("admin:login"), {"username": runner.username, "password": PASSWORD}
    )

    assert response.status_code == 200
    assert "correct username and password for a staff account" in response.content.decode()
    for url in (LIST_URL, _change_url(succeeded_run)):
        page = client.get(url)
        assert page.status_code == 302
        assert page["Location"].startswith(reverse("admin:login"))
    # Even a session made without the login form gets no further.
    client.force_login(runner)
    assert client.get(LIST_URL).status_code == 302
