"""Every tool call is appended to its run's hash-chained audit stream, on each checkpoint
path and through the API; `manage.py verify_audit` finds a tampered row."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agentstudio.audit.chain import audit_verify, run_audit_stream
from agentstudio.audit.models import AuditEvent, AuditStream
from playbooks.engine.runner import run_advance
from playbooks.models import ToolInvocation
from playbooks.run_services import run_create
from tools.scope import scope_token_issue, scope_token_verify
from tools.services import tool_call_external

ECHO = "tools.studio.util.echo"


def _spec(steps: int) -> dict:
    return {
        "name": "Audited",
        "tools": [ECHO],
        "steps": [{"id": f"s{i}", "tool": ECHO, "args": {"value": i}} for i in range(steps)],
    }


def _chain(run):
    return list(AuditEvent.objects.filter(stream=run_audit_stream(run.pk)).order_by("seq"))


def _assert_chained(run, steps):
    rows = _chain(run)
    assert [row.seq for row in rows] == list(range(1, steps + 1))
    assert {row.type for row in rows} == {"tool.called"}
    keys = set(ToolInvocation.objects.filter(run=run).values_list("key", flat=True))
    assert {row.data["key"] for row in rows} == keys
    assert all(rows[i].prev_hash == rows[i - 1].hash for i in range(1, len(rows)))
    head = AuditStream.objects.get(key=run_audit_stream(run.pk))
    assert (head.last_seq, head.last_hash) == (rows[-1].seq, rows[-1].hash)
    assert list(audit_verify()) == []


def test_tool_calls_chain_on_the_engines_own_connection(active_playbook, author):
    run = run_create(playbook=active_playbook(_spec(3)), actor=author, inputs={})
    run_advance(run_id=run.pk)
    _assert_chained(run, 3)


@pytest.mark.django_db(transaction=True)
def test_tool_calls_chain_when_checkpoints_are_pipelined(active_playbook, author):
    run = run_create(playbook=active_playbook(_spec(6)), actor=author, inputs={})
    run_advance(run_id=run.pk)
    _assert_chained(run, 6)


def test_an_api_call_extends_the_same_chain_and_tampering_is_found(running_run, author):
    run = running_run(_spec(1))
    scope, _run = scope_token_verify(scope_token_issue(run)[0])
    tool_call_external(scope=scope, run=run, name=ECHO, arguments={"value": "api"})
    [row] = _chain(run)
    assert (row.data["step"], row.data["status"]) == ("api", "succeeded")
    assert list(audit_verify()) == []
    AuditEvent.objects.filter(pk=row.pk).update(data={**row.data, "tool": "tools.other.x"})
    errors = io.StringIO()
    with pytest.raises(CommandError, match="1 broken chain"):
        call_command("verify_audit", stdout=io.StringIO(), stderr=errors)
    assert f"stream {run_audit_stream(run.pk)} at seq 1" in errors.getvalue()
