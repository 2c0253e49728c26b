"""Calls an agent makes in one turn that need a person get one approval each: the run
waits (holding no worker) until every one is decided; an approved call is made once, as
approved; a rejected one is not made and the model receives the rejection and its reason
as that call's result; calls that needed no approval are made at once and not again."""

from datetime import timedelta

from django.utils import timezone

from approvals.models import Approval
from approvals.services import approval_approve, approval_reject, approvals_expire_overdue
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run, RunStep
from playbooks.runs.starting import run_start
from tests.engine import tools_for_tests
from tests.support.approvals import undo_window_elapse
from tools.models import ToolInvocation

NOTIFY = "tools.test.notify"  # external_send: approve by default
COUNT = "tools.test.count"  # compute: allowed


def _spec() -> dict:
    calls = [
        {"name": NOTIFY, "arguments": {"value": "to finance"}},
        {"name": COUNT, "arguments": {"value": "tally"}},
        {"name": NOTIFY, "arguments": {"value": "to everyone"}},
    ]
    return {
        "name": "Agent that notifies",
        "tools": [NOTIFY, COUNT],
        "max_risk": "external_send",
        "model": {
            "provider": "scripted",
            "name": "gpt-4o-mini",
            "responses": [
                {"step": "tell", "tool_calls": calls},
                {"step": "tell", "content": "Done: finance told, everyone not."},
            ],
        },
        "steps": [
            {
                "id": "tell",
                "agent": {
                    "instruction": "Tell people",
                    "allowed_tools": [NOTIFY, COUNT],
                    "max_turns": 4,
                },
            }
        ],
    }


def _paused_turn(active_playbook, author):
    tools_for_tests.CALLS.clear()
    run = run_start(playbook=active_playbook(_spec()), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    run.refresh_from_db()
    approvals = list(Approval.objects.filter(run=run).order_by("call_key"))
    return run, approvals


def test_each_call_needing_a_person_gets_its_own_approval(active_playbook, author):
    run, approvals = _paused_turn(active_playbook, author)
    assert (run.status, run.paused_reason) == ("waiting_for_approval", "tool_call")
    assert [(a.kind, a.status, a.payload["arguments"]["value"]) for a in approvals] == [
        ("tool_call", "pending", "to finance"),
        ("tool_call", "pending", "to everyone"),
    ]
    # the allowed call was made at once; neither send was
    assert [i.tool for i in ToolInvocation.objects.filter(run=run)] == [COUNT]
    assert sum(tools_for_tests.CALLS.values()) == 1
    paused = run.events.filter(type="run.paused").get().data
    assert sorted(paused["approvals"]) == sorted(str(a.pk) for a in approvals)


def test_decisions_are_per_call_and_the_model_hears_each_rejection(
    active_playbook, author, approver
):
    run, (finance, everyone) = _paused_turn(active_playbook, author)
    approval_approve(approval=finance, actor=approver, body_hash=finance.body_hash)
    undo_window_elapse(finance)
    run.refresh_from_db()
    assert run.status == "waiting_for_approval"  # one call still waits for a person
    approval_reject(approval=everyone, actor=approver, reason="too broad an audience")
    run.refresh_from_db()
    assert run.status == "running"  # resumed: a rejected call does not end an agent's run

    assert run_advance(run_id=run.pk) == Advance.FINISHED
    run = Run.objects.get(pk=run.pk)
    assert run.status == "succeeded"
    step = RunStep.objects.get(run=run, step_id="tell", status="succeeded")
    assert step.output == "Done: finance told, everyone not."
    tool_messages = [m for m in step.state["messages"] if m["role"] == "tool"]
    assert [m["name"] for m in tool_messages] == [NOTIFY, COUNT, NOTIFY]
    assert tool_messages[0]["content"] == '{"value":"to finance","calls":1}'
    assert tool_messages[1]["content"] == '{"value":"tally","calls":1}'
    assert tool_messages[2]["content"].startswith("ERROR: ")
    assert "rejected" in tool_messages[2]["content"]
    assert "too broad an audience" in tool_messages[2]["content"]
    # each call made at most once: the count once, the approved send once, the other never
    made = {k.rsplit(":", 1)[-1]: n for k, n in tools_for_tests.CALLS.items()}
    assert sorted(made.items()) == [("t0.0", 1), ("t0.1", 1)]
    finance.refresh_from_db()
    everyone.refresh_from_db()
    assert (finance.status, everyone.status) == ("executed", "rejected")


def test_an_undecided_call_keeps_the_run_waiting_without_asking_twice(
    active_playbook, author, approver
):
    run, (finance, _everyone) = _paused_turn(active_playbook, author)
    approval_approve(approval=finance, actor=approver, body_hash=finance.body_hash)
    undo_window_elapse(finance)
    # a stray wake-up (the beat, a lost doorbell) finds the run still waiting: nothing runs
    assert run_advance(run_id=run.pk) != Advance.FINISHED
    assert Approval.objects.filter(run=run).count() == 2
    assert sum(tools_for_tests.CALLS.values()) == 1


def _overdue(run) -> None:
    Approval.objects.filter(run=run).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_unanswered_calls_fail_the_run_by_default(active_playbook, author):
    run, _approvals = _paused_turn(active_playbook, author)
    _overdue(run)
    assert approvals_expire_overdue() == 2
    run.refresh_from_db()
    assert run.status == "failed"
    assert set(Approval.objects.filter(run=run).values_list("status", flat=True)) == {"expired"}
    assert sum(tools_for_tests.CALLS.values()) == 1  # neither send was made


def test_on_expire_reject_tells_the_agent_and_the_run_goes_on(active_playbook, author):
    tools_for_tests.CALLS.clear()
    spec = {**_spec(), "on_expire": "reject"}
    run = run_start(playbook=active_playbook(spec), actor=author, inputs={})
    assert run_advance(run_id=run.pk) == Advance.PAUSED
    _overdue(run)
    assert approvals_expire_overdue() == 2
    assert set(Approval.objects.filter(run=run).values_list("status", flat=True)) == {"rejected"}
    assert run_advance(run_id=run.pk) == Advance.FINISHED
    step = RunStep.objects.get(run=run, step_id="tell", status="succeeded")
    sends = [m["content"] for m in step.state["messages"] if m.get("name") == NOTIFY]
    assert len(sends) == 2
    assert all("Nobody decided in time" in text for text in sends)
    assert sum(tools_for_tests.CALLS.values()) == 1
