"""`manage.py run_playbook`: inputs, users, exit codes and the progress lines."""

import io
import re

import pytest
from django.core.management import CommandError, call_command

from agentstudio.accounts.models import Role
from approvals.models import Approval
from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact, Run
from tests.runs.conftest import ECHO_SPEC, GATE_SPEC, READ_SPEC, UPLOAD_SPEC, advance


def _run(*args):
    out = io.StringIO()
    try:
        call_command("run_playbook", *args, stdout=out)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue().splitlines()


def test_no_follow_starts_the_run(active_playbook, author, admin_user):
    active_playbook(ECHO_SPEC, slug="echo")
    code, lines = _run("echo", "--input", "topic=tea", "--input", "count=3", "--no-follow")
    run = Run.objects.get()
    assert code == 0
    assert lines[0] == f"Started run {run.pk} of echo v1"
    assert lines[-1] == f"run {run.pk} queued"
    assert run.inputs == {"topic": "tea", "count": 3}
    assert run.created_by == admin_user  # the organization's only admin
    advance(run.pk)
    run.refresh_from_db()
    assert run.outputs == {"said": "tea"}


def test_values_are_json_when_they_parse(active_playbook, author, admin_user):
    active_playbook(ECHO_SPEC, slug="echo")
    _run(
        "echo",
        "--input-json",
        '{"topic": "x", "count": 1}',
        "--input",
        "count=5",
        "--input",
        "topic=hello world",
        "--no-follow",
        "--user",
        author.username,
    )
    with pytest.raises(CommandError, match="Invalid inputs"):
        call_command(
            "run_playbook", "echo", "--input", "topic=3", "--no-follow", stdout=io.StringIO()
        )
    run = Run.objects.get()
    assert run.inputs == {"topic": "hello world", "count": 5}
    assert run.created_by == author


def test_binary_input_from_a_local_file(active_playbook, author, tmp_path):
    active_playbook(UPLOAD_SPEC, slug="upload")
    local = tmp_path / "people.csv"
    local.write_bytes(b"a,b\n1,2\n")
    code, _lines = _run(
        "upload",
        "--input",
        f"dataset=@{local}",
        "--input",
        "label=x",
        "--no-follow",
        "--user",
        author.username,
    )
    run = Run.objects.get()
    assert code == 0
    assert run.inputs["dataset"] == "inputs/dataset/people.csv"
    assert (run_workspace(run.pk) / "inputs/dataset/people.csv").read_bytes() == b"a,b\n1,2\n"
    assert Artifact.objects.get(run=run).step_id == "inputs"


def test_binary_input_needs_a_file(active_playbook, author):
    active_playbook(UPLOAD_SPEC, slug="upload")
    with pytest.raises(CommandError, match="file input"):
        call_command(
            "run_playbook",
            "upload",
            "--input",
            "dataset=plain",
            "--input",
            "label=x",
            "--user",
            author.username,
            stdout=io.StringIO(),
        )


def test_refusals(active_playbook, author, admin_user, make_user, viewer):
    active_playbook(ECHO_SPEC, slug="echo")
    with pytest.raises(CommandError, match="No playbook 'nope'") as caught:
        call_command("run_playbook", "nope", "--input", "topic=t", stdout=io.StringIO())
    assert caught.value.returncode == 2
    with pytest.raises(CommandError, match="may not start runs"):
        call_command("run_playbook", "echo", "--user", viewer.username, stdout=io.StringIO())
    with pytest.raises(CommandError, match="key=value"):
        call_command("run_playbook", "echo", "--input", "topic", stdout=io.StringIO())
    make_user(Role.ADMIN, username="second-admin")
    with pytest.raises(CommandError, match="pass --user"):
        call_command("run_playbook", "echo", "--input", "topic=t", stdout=io.StringIO())
    assert not Run.objects.exists()


LINE = re.compile(r"^\s*(\d+)  (\S+)\s+(\S*)\s*(.*)$")


@pytest.mark.django_db(transaction=True)
def test_follow_until_succeeded(active_playbook, admin_user, thread_worker):
    active_playbook(ECHO_SPEC, slug="echo")
    code, lines = _run("echo", "--input", "topic=tea")
    run = Run.objects.get()
    assert code == 0
    events = [LINE.match(line).groups() for line in lines[1:-1]]
    assert [int(seq) for seq, *_ in events] == list(range(1, len(events) + 1))
    assert [kind for _, kind, *_ in events][:2] == ["run.queued", "run.started"]
    assert events[-1][1] == "run.succeeded"
    assert events[2][1:3] == ("step.started", "say")
    assert lines[-1] == f"run {run.pk} succeeded"


@pytest.mark.django_db(transaction=True)
def test_follow_until_failed_exits_1(active_playbook, admin_user, thread_worker):
    active_playbook(READ_SPEC, slug="reader")
    code, lines = _run("reader")
    run = Run.objects.get()
    assert code == 1
    assert any("run.failed" in line and "notes.txt" in line for line in lines)
    assert lines[-1] == f"run {run.pk} failed"


@pytest.mark.django_db(transaction=True)
def test_follow_stops_when_the_run_waits_for_a_person(active_playbook, admin_user, thread_worker):
    active_playbook(GATE_SPEC, slug="gated")
    code, lines = _run("gated")
    run = Run.objects.get()
    gate = Approval.objects.get(run=run)
    assert code == 3
    assert f"Waiting for gate approval {gate.pk}: Check it" in lines[-2]
    assert lines[-1] == f"run {run.pk} waiting_for_approval"
