"""S3 on a real worker, through the REST API: an agent step whose scripted model keeps
calling a tool passes `max_usd`. It pauses with a budget approval; approving the increase
resumes it from the same call; rejecting fails it with the limit named; with
`on_breach: fail` it fails at once. Total spend never passes the budget by more than the
one call that crossed it (here not at all: every call reserves its most first)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agentstudio.billing.models import Budget, UsageRecord
from playbooks.models import Run
from tests.support.budgets import CALL_USD, agent_spec, budget_price_make
from tests.support.runs import run_wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response.json()


def _start(client, playbook, budget: dict) -> Run:
    body = {"inputs": {}, "budget": budget}
    started = _ok(client.post(f"/api/v1/playbooks/{playbook.pk}/runs/", body, format="json"), 201)
    return Run.objects.get(pk=started["id"])


def _breached(client, run: Run) -> dict:
    """The run waits on one budget approval that asks to raise max_usd; its stream said so."""
    run_wait_for_status(run, "waiting_for_approval", timeout=30)
    shown = _ok(client.get(f"/api/v1/runs/{run.pk}/"))
    assert [a["kind"] for a in shown["pending_approvals"]] == ["budget"]
    [approval] = _ok(client.get(f"/api/v1/approvals/?run={run.pk}&status=pending"))["results"]
    assert approval["title"].startswith("Raise `max_usd` by 0.175000 USD?")
    assert approval["payload"]["limit"] == "max_usd"
    exceeded = run.events.filter(type="budget.exceeded").order_by("-seq").first()
    assert (exceeded.data["limit"], exceeded.data["limit_value"]) == ("max_usd", "0.350000")
    paused = run.events.filter(type="run.paused").order_by("-seq").first()
    assert paused.data["reason"] == "budget"
    assert Decimal(shown["usage"]["usd"]) == 3 * CALL_USD
    return approval


def _spent(run: Run) -> Decimal:
    return Budget.objects.get(pk=run.pk).spent_usd


def test_s3_a_budget_breach_pauses_then_an_approved_raise_finishes_the_run(
    e2e_stack, active_playbook, author, approver, client_for
):
    budget_price_make()
    e2e_stack.start_worker()
    playbook = active_playbook(agent_spec())
    run = _start(client_for(author), playbook, {"max_usd": 0.35})
    approval = _breached(client_for(approver), run)
    _ok(
        client_for(approver).post(
            f"/api/v1/approvals/{approval['id']}/approve/", {"body_hash": approval["body_hash"]}
        )
    )
    run = run_wait_for_status(run, "succeeded", timeout=30)
    budget = Budget.objects.get(pk=run.pk)
    assert budget.max_usd == Decimal("0.525")
    # five model calls, each made once (the breached one after the raise): within budget
    assert budget.spent_usd == 5 * CALL_USD <= budget.max_usd
    assert budget.reserved_usd == 0
    assert UsageRecord.objects.filter(run_id=run.pk, kind="model").count() == 5
    assert UsageRecord.objects.filter(run_id=run.pk, kind="tool").count() == 4
    shown = _ok(client_for(author).get(f"/api/v1/runs/{run.pk}/"))
    assert (Decimal(shown["usage"]["usd"]), shown["usage"]["tool_calls"]) == (5 * CALL_USD, 4)
    assert shown["budget"]["max_usd"] == 0.525


def test_s3_a_rejected_raise_fails_the_run_and_on_breach_fail_fails_at_once(
    e2e_stack, active_playbook, author, approver, client_for
):
    budget_price_make()
    e2e_stack.start_worker()
    playbook = active_playbook(agent_spec())
    paused = _start(client_for(author), playbook, {"max_usd": 0.35})
    failing = _start(client_for(author), playbook, {"max_usd": 0.35, "on_breach": "fail"})

    approval = _breached(client_for(approver), paused)
    _ok(
        client_for(approver).post(
            f"/api/v1/approvals/{approval['id']}/reject/", {"reason": "over plan"}
        )
    )
    paused = run_wait_for_status(paused, "failed", timeout=30)
    assert (
        paused.error == "budget max_usd (0.350000) exceeded and the raise was rejected: over plan"
    )
    assert _spent(paused) == 3 * CALL_USD <= Decimal("0.35")

    failing = run_wait_for_status(failing, "failed", timeout=30)
    assert "budget max_usd (0.350000) exceeded" in failing.error
    assert not failing.approvals.exists()
    assert failing.events.filter(type="budget.exceeded").count() == 1
    assert _spent(failing) == 3 * CALL_USD <= Decimal("0.35")
