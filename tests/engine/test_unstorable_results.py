"""Poison never loops (issue 13.3): a step whose result PostgreSQL cannot store (a NUL
character, a lone surrogate) fails with a clear error on every checkpoint path, and the tool
call it made still leaves its invocation and audit row."""

import pytest

from agentstudio.audit.models import AuditEvent
from playbooks.engine.runner import Advance, run_advance
from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact, Run, RunStep
from playbooks.runs.maintenance import runs_requeue_stalled
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests  # noqa: F401 (registers tools.test.*)
from tools.models import ToolInvocation

READ = "tools.studio.files.read"
WRITE = "tools.studio.files.write"
UNSTORABLE = "tools.test.unstorable"


def _start(active_playbook, author, steps: list[dict]) -> Run:
    spec = {"name": "Unstorable", "tools": sorted({s["tool"] for s in steps}), "steps": steps}
    return run_start(playbook=active_playbook(spec), actor=author, inputs={})


def _events(run: Run) -> list[tuple[str, dict]]:
    return list(run.events.order_by("seq").values_list("type", "data"))


def _assert_failed_unstorable(run: Run, step_id: str, problem: str) -> None:
    """The run failed for good (not leased, nothing left to re-deliver) with the reason."""
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.lease_owner == ""
    assert run.error.startswith(f"step {step_id} failed: step output cannot be stored: ")
    assert problem in run.error
    row = RunStep.objects.get(run=run, step_id=step_id)
    assert row.status == "failed"
    assert row.error == run.error.removeprefix(f"step {step_id} failed: ")
    assert row.output is None
    types = [kind for kind, _ in _events(run)]
    assert types[-2:] == ["step.failed", "run.failed"]
    assert _events(run)[-1][1] == {"error": run.error}
    seqs = list(run.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, run.event_seq + 1))
    assert runs_requeue_stalled() == 0  # the beat has nothing to ring for


def _assert_invocation_audited(run: Run, key: str) -> ToolInvocation:
    invocation = ToolInvocation.objects.get(run=run, key=key)
    assert invocation.status == "succeeded"
    audit = AuditEvent.objects.filter(stream=f"run:{run.pk}", type="tool.called")
    assert [row.data["key"] for row in audit] == [key]
    run.refresh_from_db()
    # the call's row comes after the run's queued and started rows; its failure ends the chain
    chain = list(AuditEvent.objects.filter(stream=f"run:{run.pk}").order_by("seq"))
    assert [row.type for row in chain] == ["run.queued", "run.started", "tool.called", "run.failed"]
    assert chain[2].hash == audit.get().hash and chain[3].prev_hash == chain[2].hash
    assert (run.audit_seq, run.audit_hash) == (chain[-1].seq, chain[-1].hash)
    return invocation


def _read_nul_file(active_playbook, author) -> Run:
    run = _start(active_playbook, author, [{"id": "r", "tool": READ, "args": {"path": "a.txt"}}])
    (run_workspace(run.pk) / "a.txt").write_bytes(b"before\x00after")
    return run


@pytest.mark.django_db(transaction=True)
def test_a_file_read_with_nul_bytes_fails_its_run_with_a_clear_error(active_playbook, author):
    run = _read_nul_file(active_playbook, author)
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    _assert_failed_unstorable(run, "r", "NUL character (\\u0000) at /content")
    invocation = _assert_invocation_audited(run, f"{run.pk}:r@1:0")
    # kept on the invocation with the character replaced, as the error says
    assert invocation.result["content"] == "before\ufffdafter"
    assert "replaced by U+FFFD" in run.error


def test_inside_a_transaction_the_same_read_fails_the_same_way(active_playbook, author):
    # the engine's own connection, inside the test's transaction: a refused statement must
    # not abort that transaction
    run = _read_nul_file(active_playbook, author)
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    _assert_failed_unstorable(run, "r", "NUL character (\\u0000) at /content")
    _assert_invocation_audited(run, f"{run.pk}:r@1:0")


@pytest.mark.django_db(transaction=True)
def test_a_lone_surrogate_in_a_result_fails_its_step(active_playbook, author):
    run = _start(
        active_playbook, author, [{"id": "u", "tool": UNSTORABLE, "args": {"value": "lone"}}]
    )
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    _assert_failed_unstorable(run, "u", "lone surrogate (\\ud800) at /text")
    invocation = _assert_invocation_audited(run, f"{run.pk}:u@1:0")
    assert invocation.result["text"] == "a\ufffdb"


@pytest.mark.django_db(transaction=True)
def test_an_overlapped_checkpoint_that_is_refused_fails_the_run_and_records_no_later_step(
    active_playbook, author
):
    # s0's checkpoint is in flight on the writer while s1 (pure) executes; s0's refusal must
    # fail the run, and s1 (which ran on s0's unrecorded result) leaves no row.
    run = _start(
        active_playbook,
        author,
        [
            {"id": "s0", "tool": UNSTORABLE, "args": {"value": "nul"}},
            {"id": "s1", "tool": "tools.test.count", "args": {"value": 1}},
            {"id": "s2", "tool": "tools.test.count", "args": {"value": 2}},
        ],
    )
    run_advance(run_id=run.pk)
    _assert_failed_unstorable(run, "s0", "NUL character (\\u0000) at /text")
    assert list(RunStep.objects.filter(run=run).values_list("step_id", flat=True)) == ["s0"]
    assert list(ToolInvocation.objects.filter(run=run).values_list("step_id", flat=True)) == ["s0"]


@pytest.mark.django_db(transaction=True)
def test_a_file_write_whose_checkpoint_is_refused_leaves_its_invocation_and_audit_row(
    active_playbook, author
):
    # The content renders a NUL: the file is written (a side effect), then the step's input
    # and the invocation's arguments cannot be stored as they are.
    content = "one{{ '\\x00' }}two"
    run = _start(
        active_playbook,
        author,
        [{"id": "w", "tool": WRITE, "args": {"path": "out.txt", "content": content}}],
    )
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    assert (run_workspace(run.pk) / "out.txt").read_bytes() == b"one\x00two"
    _assert_failed_unstorable(run, "w", "NUL character (\\u0000) at /content")
    invocation = _assert_invocation_audited(run, f"{run.pk}:w@1:0")
    assert invocation.arguments == {"path": "out.txt", "content": "one\ufffdtwo"}
    artifact = Artifact.objects.get(run=run)
    assert (artifact.path, artifact.size, artifact.step_id) == ("out.txt", 7, "w")
    assert RunStep.objects.get(run=run).input == {"path": "out.txt", "content": "one\ufffdtwo"}


@pytest.mark.django_db(transaction=True)
def test_an_attempt_to_be_retried_whose_error_cannot_be_stored_is_still_retried(
    active_playbook, author
):
    step = {"id": "f", "tool": UNSTORABLE, "args": {"value": "fail"}}
    step["retry"] = {"attempts": 2, "backoff_seconds": 60}
    run = _start(active_playbook, author, [step])
    assert run_advance(run_id=run.pk) == Advance.REQUEUED
    run.refresh_from_db()
    assert run.status == "running" and run.not_before is not None
    row = RunStep.objects.get(run=run)
    assert (row.attempt, row.status) == (1, "failed")
    assert row.error.startswith(
        "step output cannot be stored: PostgreSQL cannot store a NUL character (\\u0000) at / "
        "of its error"
    )
    invocation = ToolInvocation.objects.get(run=run)
    assert invocation.result == {"error": "bad\ufffdbyte"}
    assert [kind for kind, _ in _events(run)][-1] == "step.failed"


@pytest.mark.django_db(transaction=True)
def test_an_agent_turn_that_reads_nul_bytes_fails_its_step_with_its_call_recorded(
    active_playbook, author
):
    # the tool's result enters the conversation the turn's checkpoint carries
    spec = {
        "name": "Agent reads a binary file",
        "tools": [READ],
        "model": {
            "provider": "scripted",
            "name": "gpt-4o-mini",
            "responses": [
                {"step": "a", "tool_calls": [{"name": READ, "arguments": {"path": "a.txt"}}]},
                {"step": "a", "content": "done"},
            ],
        },
        "steps": [
            {
                "id": "a",
                "agent": {"instruction": "Read a.txt", "allowed_tools": [READ], "max_turns": 3},
            }
        ],
    }
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    (run_workspace(run.pk) / "a.txt").write_bytes(b"x\x00y")
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error.startswith("step a failed: step output cannot be stored: ")
    assert "NUL character (\\u0000)" in run.error
    [invocation] = ToolInvocation.objects.filter(run=run)
    assert (invocation.tool, invocation.result["content"]) == (READ, "x\ufffdy")
    assert AuditEvent.objects.filter(stream=f"run:{run.pk}", type="tool.called").count() == 1
    assert runs_requeue_stalled() == 0
