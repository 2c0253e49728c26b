"""Every tool call is appended to its run's hash-chained audit stream (head on the run
row), on each checkpoint path and through the API; `manage.py verify_audit` finds a
tampered, deleted or re-ordered row and a head that does not match."""

import hashlib
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agentstudio.audit.chain import audit_verify, canonical_json, run_audit_stream
from agentstudio.audit.models import AuditEvent
from playbooks.engine.runner import run_advance
from playbooks.models import Run
from playbooks.runs.starting import run_start
from tools.models import ToolInvocation
from tools.scope import scope_token_issue, scope_token_verify
from tools.services import tool_call_external

ECHO = "tools.studio.util.echo"


def _spec(steps: int) -> dict:
    return {
        "name": "Audited",
        "tools": [ECHO],
        "steps": [{"id": f"s{i}", "tool": ECHO, "args": {"value": i}} for i in range(steps)],
    }


def _sha256(value) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def _chain(run, type="tool.called"):
    """The run's stream (its tool calls, or every row with `type=None`: its transitions
    too)."""
    rows = AuditEvent.objects.filter(stream=run_audit_stream(run.pk)).order_by("seq")
    return list(rows if type is None else rows.filter(type=type))


def _assert_chained(run, steps):
    chain = _chain(run, type=None)
    # the calls come between the run's queued and started rows and its success
    assert [row.seq for row in chain] == list(range(1, steps + 4))
    assert [row.type for row in chain] == (
        ["run.queued", "run.started"] + ["tool.called"] * steps + ["run.succeeded"]
    )
    rows = _chain(run)
    assert [row.seq for row in rows] == list(range(3, steps + 3))
    assert {row.type for row in rows} == {"tool.called"}
    assert {row.organization_id for row in chain} == {run.organization_id}
    invocations = {i.key: i for i in ToolInvocation.objects.filter(run=run)}
    assert {row.data["key"] for row in rows} == set(invocations)
    assert {row.data["status"] for row in rows} == {"succeeded"}
    for row in rows:  # digests of the canonical JSON of what was called and returned
        invocation = invocations[row.data["key"]]
        assert row.data["arguments_sha256"] == _sha256(invocation.arguments)
        assert row.data["result_sha256"] == _sha256(invocation.result)
    assert chain[0].prev_hash == ""
    assert all(chain[i].prev_hash == chain[i - 1].hash for i in range(1, len(chain)))
    run.refresh_from_db()
    assert (run.audit_seq, run.audit_hash) == (chain[-1].seq, chain[-1].hash)
    assert list(audit_verify()) == []


def _broken() -> str:
    errors = io.StringIO()
    with pytest.raises(CommandError, match="1 broken chain"):
        call_command("verify_audit", stdout=io.StringIO(), stderr=errors)
    return errors.getvalue()


def test_tool_calls_chain_on_the_engines_own_connection(active_playbook, author):
    run = run_start(playbook=active_playbook(_spec(3)), actor=author, inputs={})
    run_advance(run_id=run.pk)
    _assert_chained(run, 3)


@pytest.mark.django_db(transaction=True)
def test_tool_calls_chain_when_checkpoints_are_pipelined(active_playbook, author):
    run = run_start(playbook=active_playbook(_spec(6)), actor=author, inputs={})
    run_advance(run_id=run.pk)
    _assert_chained(run, 6)


def test_non_idempotent_calls_chain_through_the_orm_checkpoint(active_playbook, author):
    # their "started" row exists before the call, so their checkpoint takes the ORM path
    spec = {
        "name": "Sends",
        "tools": ["tools.test.send"],
        "steps": [{"id": f"s{i}", "tool": "tools.test.send", "args": {"value": i}} for i in (0, 1)],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    _assert_chained(run, 2)


@pytest.mark.django_db(transaction=True)
def test_a_guard_miss_chains_through_the_row_lock(active_playbook, author):
    # tools.test.poke appends an event from outside: the next checkpoint takes the row lock
    spec = {
        "name": "Poked",
        "tools": [ECHO, "tools.test.poke"],
        "steps": [
            {"id": "s0", "tool": ECHO, "args": {"value": 0}},
            {"id": "s1", "tool": "tools.test.poke", "args": {"value": 1}},
            {"id": "s2", "tool": ECHO, "args": {"value": 2}},
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    run_advance(run_id=run.pk)
    _assert_chained(run, 3)


def test_an_api_call_extends_the_same_chain_and_tampering_is_found(running_run):
    run = running_run(_spec(1))
    scope, _run = scope_token_verify(scope_token_issue(run)[0])
    tool_call_external(scope=scope, run=run, name=ECHO, arguments={"value": "api"})
    tool_call_external(scope=scope, run=run, name=ECHO, arguments={"value": "again"})
    first, second = _chain(run)  # after the run's own run.queued row
    assert (first.data["step"], first.data["status"]) == ("api", "succeeded")
    assert second.prev_hash == first.hash
    assert list(audit_verify()) == []
    AuditEvent.objects.filter(pk=first.pk).update(data={**first.data, "tool": "tools.other.x"})
    assert f"stream {run_audit_stream(run.pk)} at seq {first.seq}: row content" in _broken()


def test_a_deleted_last_row_and_a_moved_head_are_found(running_run):
    run = running_run(_spec(1))
    scope, _run = scope_token_verify(scope_token_issue(run)[0])
    for value in ("a", "b"):
        tool_call_external(scope=scope, run=run, name=ECHO, arguments={"value": value})
    _first, last = _chain(run)  # after the run's own run.queued row
    AuditEvent.objects.filter(pk=last.pk).delete()
    assert f"at seq {last.seq}: rows missing at the end" in _broken()
    Run.objects.filter(pk=run.pk).update(audit_seq=last.seq - 1, audit_hash="0" * 64)
    assert "the head's hash does not match" in _broken()


def test_rows_of_a_stream_without_a_head_are_reported(running_run):
    run = running_run(_spec(1))
    scope, _run = scope_token_verify(scope_token_issue(run)[0])
    tool_call_external(scope=scope, run=run, name=ECHO, arguments={"value": "a"})
    Run.objects.filter(pk=run.pk).update(audit_seq=0, audit_hash="")
    assert "the stream's head is missing" in _broken()
