"""Budgets on runs, in-process: a model call that does not fit pauses the run with a budget
approval (approve = raise the limit, resume from the same call; reject = fail) or fails it;
tool calls count against max_tool_calls; a sub-run draws on its parent's budget; wall time
is active time; every model and tool call leaves a usage record."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from agentstudio.billing.models import Budget, BudgetHold, UsageRecord
from approvals.models import Approval
from approvals.services import approval_approve, approval_reject
from playbooks.engine.runner import Advance, run_advance
from playbooks.models import Run
from playbooks.runs.starting import run_start
from tests.support.budgets import CALL_USD, ECHO, MODEL, agent_spec, budget_price_make
from tools.scope import scope_token_issue

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _price(db):
    budget_price_make()


def _advance_until_still(run: Run) -> Run:
    for _ in range(20):
        if run_advance(run_id=run.pk) in (Advance.PAUSED, Advance.FINISHED, Advance.IDLE):
            break
    return Run.objects.get(pk=run.pk)


def _budget(run: Run) -> Budget:
    return Budget.objects.get(pk=run.pk)


def _events(run: Run, kind: str) -> list[dict]:
    return [event.data for event in run.events.filter(type=kind).order_by("seq")]


def test_a_model_call_past_max_usd_pauses_and_an_approved_raise_resumes_it(
    active_playbook, author, approver
):
    playbook = active_playbook(agent_spec(max_usd=0.35))
    run = _advance_until_still(run_start(playbook=playbook, actor=author, inputs={}))
    assert (run.status, run.paused_reason) == ("waiting_for_approval", "budget")
    # three calls of 0.10 fit in 0.35; the fourth (0.10 and a little reserved) does not
    assert _budget(run).spent_usd == 3 * CALL_USD
    assert run.usage_usd == 3 * CALL_USD and run.usage_tool_calls == 3
    [exceeded] = _events(run, "budget.exceeded")
    assert (exceeded["limit"], exceeded["limit_value"], exceeded["usage"]) == (
        "max_usd", "0.350000", "0.300000",
    )  # fmt: skip
    approval = Approval.objects.get(run=run, status="pending")
    assert approval.kind == "budget"
    assert approval.title.startswith("Raise `max_usd` by 0.175000 USD?")
    assert approval.payload["raise_by"] == "0.175000"

    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    run = _advance_until_still(Run.objects.get(pk=run.pk))
    assert run.status == "succeeded", run.error
    budget = _budget(run)
    assert budget.max_usd == Decimal("0.525") and run.budget["max_usd"] == 0.525
    # five model calls in all, each made once: nothing that succeeded ran again
    assert budget.spent_usd == 5 * CALL_USD <= budget.max_usd
    assert UsageRecord.objects.filter(run_id=run.pk, kind="model").count() == 5
    assert UsageRecord.objects.filter(run_id=run.pk, kind="tool").count() == 4
    assert run.usage_tool_calls == 4 and run.usage_usd == 5 * CALL_USD
    assert budget.reserved_usd == 0 and not BudgetHold.objects.exists()


def test_a_rejected_raise_fails_the_run_naming_the_limit(active_playbook, author, approver):
    playbook = active_playbook(agent_spec(max_usd=0.35))
    run = _advance_until_still(run_start(playbook=playbook, actor=author, inputs={}))
    approval = Approval.objects.get(run=run, status="pending")
    approval_reject(approval=approval, actor=approver, reason="enough")
    run = Run.objects.get(pk=run.pk)
    assert run.status == "failed"
    assert run.error == "budget max_usd (0.350000) exceeded and the raise was rejected: enough"
    assert _budget(run).spent_usd == 3 * CALL_USD


def test_on_breach_fail_fails_at_once(active_playbook, author):
    playbook = active_playbook(agent_spec(max_usd=0.35, on_breach="fail"))
    run = _advance_until_still(run_start(playbook=playbook, actor=author, inputs={}))
    assert run.status == "failed"
    assert "budget max_usd (0.350000) exceeded" in run.error
    assert not Approval.objects.filter(run=run).exists()
    [exceeded] = _events(run, "budget.exceeded")
    assert (exceeded["limit"], exceeded["on_breach"]) == ("max_usd", "fail")
    assert _budget(run).spent_usd == 3 * CALL_USD


def test_max_tool_calls_pauses_before_the_call_and_resumes_at_it(active_playbook, author, approver):
    playbook = active_playbook(agent_spec(max_tool_calls=2))
    run = _advance_until_still(run_start(playbook=playbook, actor=author, inputs={}))
    assert (run.status, run.paused_reason) == ("waiting_for_approval", "budget")
    assert _budget(run).spent_tool_calls == 2
    [exceeded] = _events(run, "budget.exceeded")
    assert (exceeded["limit"], exceeded["limit_value"], exceeded["raise_by"]) == (
        "max_tool_calls", "2", "1",
    )  # fmt: skip
    approval = Approval.objects.get(run=run, status="pending")
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    run = _advance_until_still(Run.objects.get(pk=run.pk))
    # the third call was made after the raise (max 3); the fourth asks again
    assert (run.status, _budget(run).spent_tool_calls) == ("waiting_for_approval", 3)
    # the third turn's model reply was kept: no model call was made twice
    assert UsageRecord.objects.filter(run_id=run.pk, kind="model").count() == 4


def test_max_tokens_is_a_limit_too(active_playbook, author):
    playbook = active_playbook(agent_spec(max_tokens=2500, on_breach="fail"))
    run = _advance_until_still(run_start(playbook=playbook, actor=author, inputs={}))
    assert run.status == "failed" and "budget max_tokens (2500) exceeded" in run.error
    assert _budget(run).spent_tokens <= 2500


def test_usage_records_name_the_call(active_playbook, author):
    playbook = active_playbook(agent_spec(tool_turns=1))
    run = _advance_until_still(run_start(playbook=playbook, actor=author, inputs={}))
    assert run.status == "succeeded", run.error
    model = UsageRecord.objects.filter(run_id=run.pk, kind="model").order_by("created_at")[0]
    assert (model.organization_id, model.playbook_id, model.step_id, model.user_id) == (
        run.organization_id, run.playbook_id, "work", author.pk,
    )  # fmt: skip
    assert (model.provider, model.model, model.output_tokens, model.usd) == (
        "scripted", MODEL, 1000, CALL_USD,
    )  # fmt: skip
    assert (model.scripted, model.price_fallback, model.usage_estimated) == (True, False, False)
    assert model.wall_seconds > 0
    tool = UsageRecord.objects.get(run_id=run.pk, kind="tool")
    assert (tool.tool, tool.step_id, tool.usd, tool.user_id) == (ECHO, "work", 0, author.pk)
    assert tool.wall_seconds >= 0
    # the run's totals equal its records: nothing counted twice
    assert run.usage_usd == 2 * CALL_USD and run.usage_tool_calls == 1
    assert run.usage_output_tokens == 2000


def test_an_unpriced_model_is_billed_at_the_fallback_and_flagged(active_playbook, author):
    spec = agent_spec(tool_turns=0)
    spec["model"]["name"] = "nobody-prices-this"
    run = _advance_until_still(run_start(playbook=active_playbook(spec), actor=author, inputs={}))
    record = UsageRecord.objects.get(run_id=run.pk, kind="model")
    assert record.price_fallback is True and record.usd == Decimal("0.03")  # 1,000 out at 30/Mtok


def test_a_sub_run_draws_on_its_parents_budget(active_playbook, author):
    child = active_playbook({**agent_spec(tool_turns=3), "name": "Child"}, slug="child-agent")
    parent_spec = {
        "name": "Parent",
        "tools": [ECHO],
        "budget": {"max_usd": 0.25, "on_breach": "fail"},
        "steps": [{"id": "delegate", "playbook": {"slug": child.slug}}],
    }
    parent = run_start(playbook=active_playbook(parent_spec), actor=author, inputs={})
    parent = _advance_until_still(parent)
    sub = Run.objects.get(parent_run=parent)
    sub = _advance_until_still(sub)
    # the child's own budget (5 USD) would fit its four calls; the parent's 0.25 does not
    assert sub.status == "failed" and "budget max_usd (0.250000) exceeded" in sub.error
    assert not Budget.objects.filter(pk=sub.pk).exists()
    assert _budget(parent).spent_usd == 2 * CALL_USD
    # the sub-run's usage rows name the sub-run
    assert UsageRecord.objects.filter(run_id=sub.pk, kind="model").count() == 2
    assert not UsageRecord.objects.filter(run_id=parent.pk).exists()


GATED = {
    "name": "Gated",
    "tools": [ECHO],
    "steps": [
        {"id": "before", "tool": ECHO, "args": {"value": 1}},
        {"id": "gate", "approval": {"title": "Go on?", "payload": {"ok": True}}},
        {"id": "after", "tool": ECHO, "args": {"value": 2}},
    ],
}


def test_wall_time_counts_the_steps_not_the_wait_for_a_person(active_playbook, author, approver):
    run = _advance_until_still(run_start(playbook=active_playbook(GATED), actor=author, inputs={}))
    assert run.status == "waiting_for_approval"
    time.sleep(1.5)  # a person takes their time
    approval = Approval.objects.get(run=run, status="pending")
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    run = _advance_until_still(Run.objects.get(pk=run.pk))
    assert run.status == "succeeded"
    elapsed = (run.finished_at - run.started_at).total_seconds()
    assert elapsed > 1.5 and 0 < run.usage_wall_seconds < 1.0


def test_max_wall_seconds_stops_a_run_that_used_its_active_time(active_playbook, author):
    spec = {**GATED, "budget": {"max_wall_seconds": 0.000001, "on_breach": "fail"}}
    run = _advance_until_still(run_start(playbook=active_playbook(spec), actor=author, inputs={}))
    assert run.status == "failed" and "budget max_wall_seconds" in run.error


def test_a_tool_call_through_the_api_is_counted_and_refused_on_breach(running_run):
    from rest_framework.test import APIClient

    spec = {
        "name": "API calls",
        "tools": [ECHO],
        "budget": {"max_tool_calls": 2},
        "steps": [{"id": "s", "tool": ECHO, "args": {"value": 1}}],
    }
    run = running_run(spec)
    token, _ = scope_token_issue(run)
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")

    def call(value):
        body = {"name": ECHO, "arguments": {"value": value}}
        response = client.post("/api/v1/tools/call/", body, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    assert [call(1)["isError"], call(2)["isError"]] == [False, False]
    refused = call(3)
    assert refused["isError"] is True
    assert refused["structuredContent"]["error"] == "budget_exceeded"
    assert refused["structuredContent"]["limit"] == "max_tool_calls"
    assert "budget max_tool_calls (2) exceeded" in refused["content"][0]["text"]
    assert _budget(run).spent_tool_calls == 2
    records = UsageRecord.objects.filter(run_id=run.pk, kind="tool")
    assert records.count() == 2 and {r.step_id for r in records} == {"api"}
    run.refresh_from_db()
    assert run.usage_tool_calls == 2


def test_a_hold_left_by_a_dead_worker_is_released_when_the_run_is_claimed(active_playbook, author):
    from agentstudio.billing.budgets import budget_reserve
    from playbooks.engine.budget import run_budget_ref

    run = run_start(playbook=active_playbook(agent_spec(max_usd=0.35)), actor=author, inputs={})
    # a worker reserved most of the budget for a call and died before it settled
    budget_reserve(run_budget_ref(run), run_id=run.pk, usd=Decimal("0.3"), tokens=10)
    run = _advance_until_still(run)
    # the next lease holder gave the room back first: three calls fit, as without the crash
    assert (run.status, _budget(run).spent_usd) == ("waiting_for_approval", 3 * CALL_USD)
    assert _budget(run).reserved_usd == 0 and not BudgetHold.objects.exists()


REFINE = "tools.studio.ai.refine_prompt"
REFINED = {
    "messages": [
        {"role": "system", "content": "You are a courteous support agent."},
        {"role": "user", "content": "Help the customer. Be brief."},
    ],
    "summary": "Asked for brevity.",
}


def _refining_spec(max_usd: float) -> dict:
    """Two tool steps whose tool (refine_prompt) asks the run's model once each, every call
    billed 0.10 USD: the tool's model calls are the run's, inside its budget."""
    template = '{"system": "be nice", "user": "Help the customer"}'
    usage = {"input_tokens": 0, "output_tokens": 1000}
    return {
        "name": "Refining twice",
        "tools": [REFINE],
        "model": {
            "provider": "scripted",
            "name": MODEL,
            "max_tokens": 1000,
            "responses": [
                {"step": step, "content": REFINED, "usage": usage} for step in ("one", "two")
            ],
        },
        "budget": {"max_usd": max_usd},
        "steps": [
            {"id": step, "tool": REFINE, "args": {"prompt_template_json": template}}
            for step in ("one", "two")
        ],
    }


def test_a_tools_own_model_calls_are_reserved_in_the_runs_budget(active_playbook, author, approver):
    playbook = active_playbook(_refining_spec(max_usd=0.15))
    run = _advance_until_still(run_start(playbook=playbook, actor=author, inputs={}))
    # the first tool's model call (0.10) fits in 0.15; the second's reservation does not, so
    # the run pauses before that model call is made, as for the run's own model calls
    assert (run.status, run.paused_reason) == ("waiting_for_approval", "budget"), run.error
    budget = _budget(run)
    assert (budget.spent_usd, budget.reserved_usd) == (CALL_USD, 0)
    [exceeded] = _events(run, "budget.exceeded")
    assert (exceeded["limit"], exceeded["usage"]) == ("max_usd", "0.100000")
    [record] = UsageRecord.objects.filter(run_id=run.pk, kind="model")
    assert (record.step_id, record.usd, record.model) == ("one", CALL_USD, MODEL)

    approval = Approval.objects.get(run=run, status="pending", kind="budget")
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    run = _advance_until_still(Run.objects.get(pk=run.pk))
    assert run.status == "succeeded", run.error
    budget = _budget(run)
    assert budget.spent_usd == 2 * CALL_USD <= budget.max_usd and budget.reserved_usd == 0
    records = UsageRecord.objects.filter(run_id=run.pk, kind="model").order_by("created_at")
    assert [r.step_id for r in records] == ["one", "two"]
    # the run's totals and the budget agree: every model call counted once
    assert run.usage_usd == budget.spent_usd and not BudgetHold.objects.exists()


def _echo_steps(count: int, **budget) -> dict:
    """`count` tool steps of echo: a pure tool, so each call is charged by the checkpoint
    that records it (tool_call(charge_at_commit=True))."""
    return {
        "name": "Echoes",
        "tools": [ECHO],
        "budget": budget,
        "steps": [{"id": f"e{i}", "tool": ECHO, "args": {"value": i}} for i in range(count)],
    }


def test_pure_tool_steps_are_charged_once_each_by_their_checkpoints(active_playbook, author):
    from tools.models import ToolInvocation

    run = _advance_until_still(
        run_start(playbook=active_playbook(_echo_steps(5)), actor=author, inputs={})
    )
    assert run.status == "succeeded", run.error
    assert _budget(run).spent_tool_calls == 5 == run.usage_tool_calls
    assert ToolInvocation.objects.filter(run=run).count() == 5
    assert UsageRecord.objects.filter(run_id=run.pk, kind="tool").count() == 5


def test_a_pure_call_the_budget_has_no_room_for_is_dropped_and_the_run_pauses(
    active_playbook, author, approver
):
    from tools.models import ToolInvocation

    spec = _echo_steps(4, max_tool_calls=2)
    run = _advance_until_still(run_start(playbook=active_playbook(spec), actor=author, inputs={}))
    assert (run.status, run.paused_reason) == ("waiting_for_approval", "budget"), run.error
    # the third call ran ahead of its charge; its checkpoint found no room, so it is as if
    # it was never made: not charged, not recorded, its step waiting on the raise
    assert _budget(run).spent_tool_calls == 2 == run.usage_tool_calls
    assert sorted(ToolInvocation.objects.filter(run=run).values_list("step_id", flat=True)) == [
        "e0",
        "e1",
    ]
    assert UsageRecord.objects.filter(run_id=run.pk, kind="tool").count() == 2
    [exceeded] = _events(run, "budget.exceeded")
    assert (exceeded["limit"], exceeded["limit_value"], exceeded["requested"]) == (
        "max_tool_calls", "2", "1",
    )  # fmt: skip
    assert run.steps.get(step_id="e2").status == "waiting"

    approval = Approval.objects.get(run=run, status="pending", kind="budget")
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    run = _advance_until_still(Run.objects.get(pk=run.pk))
    # max 3 now: the third call is made and charged, the fourth asks again
    assert (run.status, _budget(run).spent_tool_calls) == ("waiting_for_approval", 3)
    assert ToolInvocation.objects.filter(run=run).count() == 3


SLOW = "tools.test.budget_slow"


@pytest.fixture
def slow_tool():
    """A tool that takes `value` seconds (registered for the test only: other tests' tools
    of the same kind come and go with theirs)."""
    from tests.engine.tools_for_tests import _definition
    from tools.plugins import PLUGIN_IMPLEMENTATIONS, tool_plugin_register
    from tools.registry import tool_registry

    def _slow(ctx, args):
        time.sleep(float(args["value"]))
        return {"value": "slept"}

    tool_plugin_register(_definition(SLOW, idempotent=True), _slow)
    yield SLOW
    tool_registry.unregister(SLOW)
    PLUGIN_IMPLEMENTATIONS.pop(SLOW, None)


def test_max_wall_seconds_is_checked_before_each_call_inside_a_long_step(
    active_playbook, author, slow_tool
):
    slow = slow_tool
    spec = agent_spec(tool_turns=0, max_wall_seconds=0.25, on_breach="fail")
    spec["tools"] = [slow, ECHO]
    spec["steps"][0]["agent"]["allowed_tools"] = [slow, ECHO]
    usage = {"input_tokens": 0, "output_tokens": 10}
    spec["model"]["responses"] = [
        {"step": "work", "tool_calls": [{"id": "a", "name": slow, "arguments": {"value": 0.4}}]},
        {"step": "work", "tool_calls": [{"id": "b", "name": ECHO, "arguments": {"value": 1}}]},
        {"step": "work", "content": "done", "usage": usage},
    ]
    run = _advance_until_still(run_start(playbook=active_playbook(spec), actor=author, inputs={}))
    # the step began inside its 0.25 s; the slow call took 0.4 s of it, so the next model
    # call is refused mid-step (a check before each step only would have let it finish)
    assert run.status == "failed", run.error
    assert "budget max_wall_seconds (0.25) exceeded" in run.error
    [exceeded] = _events(run, "budget.exceeded")
    assert exceeded["limit"] == "max_wall_seconds" and float(exceeded["usage"]) >= 0.4
    assert UsageRecord.objects.filter(run_id=run.pk, kind="model").count() == 1


def test_a_sub_run_counts_its_trees_active_time_against_the_roots_max_wall_seconds(
    active_playbook, author
):
    child = active_playbook({**GATED, "name": "Child"}, slug="child-gated")
    parent_spec = {
        "name": "Parent",
        "tools": [ECHO],
        "budget": {"max_wall_seconds": 5, "on_breach": "fail"},
        "steps": [{"id": "delegate", "playbook": {"slug": child.slug}}],
    }
    parent = _advance_until_still(
        run_start(playbook=active_playbook(parent_spec), actor=author, inputs={})
    )
    sub = Run.objects.get(parent_run=parent)
    assert sub.budget["max_wall_seconds"] == 3600  # its own default would let it run
    Run.objects.filter(pk=parent.pk).update(usage_wall_seconds=5.5)  # the parent's steps
    sub = _advance_until_still(sub)
    assert sub.status == "failed" and "budget max_wall_seconds (5) exceeded" in sub.error


def test_an_approved_wall_clock_raise_on_a_sub_run_raises_its_roots_limit(
    active_playbook, author, approver
):
    child = active_playbook({**GATED, "name": "Child"}, slug="child-gated-2")
    parent_spec = {
        "name": "Parent",
        "tools": [ECHO],
        "budget": {"max_wall_seconds": 5},
        "steps": [{"id": "delegate", "playbook": {"slug": child.slug}}],
    }
    parent = _advance_until_still(
        run_start(playbook=active_playbook(parent_spec), actor=author, inputs={})
    )
    sub = Run.objects.get(parent_run=parent)
    Run.objects.filter(pk=parent.pk).update(usage_wall_seconds=5.5)
    sub = _advance_until_still(sub)
    assert (sub.status, sub.paused_reason) == ("waiting_for_approval", "budget")
    approval = Approval.objects.get(run=sub, kind="budget", status="pending")
    assert approval.payload["limit"] == "max_wall_seconds"
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    parent.refresh_from_db()
    assert parent.budget["max_wall_seconds"] == 5 + float(approval.payload["raise_by"])
    sub = _advance_until_still(Run.objects.get(pk=sub.pk))
    assert sub.status == "waiting_for_approval" and sub.paused_reason != "budget"  # its gate


def test_checkpoint_charges_and_concurrent_charges_never_pass_max_tool_calls(
    active_playbook, author
):
    import threading

    from django.db import connection

    from agentstudio.billing.budgets import BudgetExceeded, budget_charge_tool_call
    from playbooks.engine.budget import run_budget_ref
    from tools.models import ToolInvocation

    run = run_start(
        playbook=active_playbook(_echo_steps(20, max_tool_calls=10)), actor=author, inputs={}
    )
    ref = run_budget_ref(run)
    outside = []  # an agent with the run's scope token, calling as fast as it can
    go = threading.Event()

    def charge_outside() -> None:
        try:
            go.wait()
            while True:
                budget_charge_tool_call(ref)
                outside.append(1)
                time.sleep(0.001)
        except BudgetExceeded:
            pass
        finally:
            connection.close()

    thread = threading.Thread(target=charge_outside)
    thread.start()
    go.set()
    run = _advance_until_still(run)
    thread.join()
    assert (run.status, run.paused_reason) == ("waiting_for_approval", "budget")
    made = ToolInvocation.objects.filter(run=run).count()
    # every slot taken once, by one side or the other; none past the limit
    assert _budget(run).spent_tool_calls == 10 == made + len(outside)
    assert run.usage_tool_calls == made
