"""A run's start reserves its max_usd, its end (succeeded, failed, cancelled) releases the
reservation and charges what its tree spent, exactly once; a retry reserves again and is
charged only what it spent since; not enough credit is 402 naming the shortfall."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from agentstudio.billing.models import CreditHold
from agentstudio.billing.selectors import credit_balance
from agentstudio.errors import AppError, ErrorCode
from playbooks.engine.runner import run_advance
from playbooks.models import Run
from playbooks.runs.credit import run_credit_settle
from playbooks.runs.finishing import run_fail_locked
from playbooks.runs.maintenance import runs_settle_credit_holds
from playbooks.runs.services import run_cancel, run_locked, run_retry
from playbooks.runs.starting import run_start
from tests.billing.conftest import ledger, ledger_sum

pytestmark = pytest.mark.django_db(transaction=True)  # settlement runs after commit

D = Decimal


def _spend(run: Run, usd: str) -> None:
    """What the usage recorder does for a model call: the run's total grows."""
    Run.objects.filter(pk=run.pk).update(usage_usd=D(usd))


def _fail(run: Run) -> None:
    with transaction.atomic():
        locked = run_locked(run.pk)
        if locked.status == "queued":
            locked.start()
        run_fail_locked(locked, "boom")
        locked.save()


def test_a_succeeded_run_reserves_then_releases_and_charges(
    grant, small_org, small_author, one_usd_playbook
):
    grant("10")
    run = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    assert credit_balance(organization=small_org) == (D("9"), D("1"))
    _spend(run, "0.3")
    run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded"
    assert ledger(small_org) == [
        ("grant", D("10"), D("10")),
        ("reserve", D("-1"), D("9")),
        ("release", D("1"), D("10")),
        ("charge", D("-0.3"), D("9.7")),
    ]
    assert credit_balance(organization=small_org) == (D("9.7"), D("0"))
    assert ledger_sum(small_org) == D("9.7")
    hold = CreditHold.objects.get(run_id=run.pk)
    assert (hold.amount, hold.charged_usd, hold.settled_at is not None) == (D("1"), D("0.3"), True)


def test_a_failed_run_is_settled_and_its_retry_reserves_again_and_pays_only_the_rest(
    grant, small_org, small_author, one_usd_playbook
):
    grant("10")
    run = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    _spend(run, "0.25")
    _fail(run)
    assert credit_balance(organization=small_org) == (D("9.75"), D("0"))
    run_retry(run=run, actor=small_author)
    assert credit_balance(organization=small_org) == (D("8.75"), D("1"))
    _spend(run, "0.40")  # 0.15 more in the second attempt
    run_advance(run_id=run.pk)
    assert Run.objects.get(pk=run.pk).status == "succeeded"
    assert [row[:2] for row in ledger(small_org)] == [
        ("grant", D("10")),
        ("reserve", D("-1")),
        ("release", D("1")),
        ("charge", D("-0.25")),
        ("reserve", D("-1")),
        ("release", D("1")),
        ("charge", D("-0.15")),
    ]
    assert credit_balance(organization=small_org) == (D("9.6"), D("0"))
    assert ledger_sum(small_org) == D("9.6")


def test_a_run_cancelled_from_queued_gives_the_whole_reservation_back(
    grant, small_org, small_author, one_usd_playbook
):
    grant("3")
    run = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    run_cancel(run=run, actor=small_author)
    assert ledger(small_org)[1:] == [
        ("reserve", D("-1"), D("2")),
        ("release", D("1"), D("3")),
        ("charge", D("0"), D("3")),
    ]
    assert credit_balance(organization=small_org) == (D("3"), D("0"))


def test_not_enough_credit_is_402_naming_the_shortfall_and_starts_nothing(
    grant, small_org, small_author, one_usd_playbook, client_for
):
    grant("0.20")
    response = client_for(small_author).post(
        f"/api/v1/playbooks/{one_usd_playbook.pk}/runs/",
        {"inputs": {}, "budget": {"max_usd": 0.5}},
        format="json",
    )
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "insufficient_credit"
    assert "needs 0.50 USD, 0.20 available: short 0.30" in error["message"]
    assert error["details"][0]["shortfall"] == "0.30"
    assert Run.objects.filter(playbook=one_usd_playbook).count() == 0
    assert credit_balance(organization=small_org) == (D("0.2"), D("0"))
    assert [row[0] for row in ledger(small_org)] == ["grant"]


def test_an_idempotent_replay_reserves_nothing_twice(
    grant, small_org, small_author, one_usd_playbook, client_for
):
    grant("5")
    client = client_for(small_author)
    url = f"/api/v1/playbooks/{one_usd_playbook.pk}/runs/"
    first = client.post(url, {"inputs": {}}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post(url, {"inputs": {}}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert credit_balance(organization=small_org) == (D("4"), D("1"))
    assert [row[0] for row in ledger(small_org)] == ["grant", "reserve"]


def test_sub_runs_reserve_nothing_and_the_parent_is_charged_the_whole_tree(
    grant, small_org, small_author, one_usd_playbook
):
    grant("5")
    parent = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    child = run_start(playbook=one_usd_playbook, actor=small_author, inputs={}, parent=parent)
    grandchild = run_start(playbook=one_usd_playbook, actor=small_author, inputs={}, parent=child)
    assert CreditHold.objects.filter(run_id__in=[child.pk, grandchild.pk]).count() == 0
    _spend(parent, "0.1")
    _spend(child, "0.2")
    _spend(grandchild, "0.05")
    run_cancel(run=parent, actor=small_author)  # cancels the children too
    assert ledger(small_org)[-1] == ("charge", D("-0.35"), D("4.65"))
    assert credit_balance(organization=small_org) == (D("4.65"), D("0"))


def _ended_without_settlement(run: Run) -> None:
    """The state a worker leaves when it dies after committing the end, before settling."""
    Run.objects.filter(pk=run.pk).update(status="failed", usage_usd=D("0.4"))


def test_settlement_happens_once_when_called_twice_and_from_racing_threads(
    grant, small_org, small_author, one_usd_playbook
):
    grant("5")
    run = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    _ended_without_settlement(run)
    results: list[object] = []
    barrier = threading.Barrier(6)

    def settle() -> None:
        try:
            barrier.wait()
            results.append(run_credit_settle(run_id=run.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=settle) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(1 for result in results if result is not None) == 1
    assert run_credit_settle(run_id=run.pk) is None
    assert [row[0] for row in ledger(small_org)] == ["grant", "reserve", "release", "charge"]
    assert credit_balance(organization=small_org) == (D("4.6"), D("0"))


def test_the_sweep_settles_an_ended_run_a_dead_worker_left_open(
    grant, small_org, small_author, one_usd_playbook
):
    grant("5")
    ended = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    still_queued = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    _ended_without_settlement(ended)
    assert runs_settle_credit_holds() == 1
    assert runs_settle_credit_holds() == 0
    assert CreditHold.objects.get(run_id=ended.pk).charged_usd == D("0.4")
    assert CreditHold.objects.get(run_id=still_queued.pk).settled_at is None
    assert credit_balance(organization=small_org) == (D("3.6"), D("1"))
    assert ledger_sum(small_org) == D("3.6")


def test_a_reservation_refused_raises_the_402_code(grant, small_org, small_author):
    from agentstudio.billing.credits import credits_reserve

    grant("1")
    with pytest.raises(AppError) as refused:
        credits_reserve(organization=small_org, amount=D("1.5"))
    assert refused.value.code == ErrorCode.INSUFFICIENT_CREDIT
    assert "short 0.50" in refused.value.message


def test_a_review_accepted_settles_when_the_run_succeeds(
    grant, small_org, small_author, active_playbook, make_user
):
    from approvals.models import Approval
    from approvals.services import approval_approve
    from tests.billing.conftest import ONE_USD_SPEC

    grant("4")
    playbook = active_playbook({**ONE_USD_SPEC, "review": {"title": "Look"}}, owner=small_author)
    run = run_start(playbook=playbook, actor=small_author, inputs={})
    run_advance(run_id=run.pk)
    assert Run.objects.get(pk=run.pk).status == "reviewing"
    assert credit_balance(organization=small_org) == (D("3"), D("1"))  # not settled yet
    _spend(run, "0.05")
    review = Approval.objects.get(run_id=run.pk, kind="review")
    approver = make_user("approver", organization=small_org, username="ann-small")
    approval_approve(approval=review, actor=approver, body_hash=review.body_hash)
    assert Run.objects.get(pk=run.pk).status == "succeeded"
    assert ledger(small_org)[-2:] == [
        ("release", D("1"), D("4")),
        ("charge", D("-0.05"), D("3.95")),
    ]


def _paused_on_budget(active_playbook, small_author):
    from tests.support.budgets import agent_spec, budget_price_make

    budget_price_make()
    playbook = active_playbook(agent_spec(max_usd=0.35), owner=small_author)
    run = run_start(playbook=playbook, actor=small_author, inputs={})
    for _ in range(10):
        run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert (run.status, run.paused_reason) == ("waiting_for_approval", "budget")
    return run


def test_an_approved_raise_of_max_usd_reserves_that_much_more_credit(
    grant, small_org, small_author, make_user, active_playbook
):
    from approvals.models import Approval
    from approvals.services import approval_approve

    approver = make_user("approver", organization=small_org, username="amy-small")
    grant("1")
    run = _paused_on_budget(active_playbook, small_author)
    assert credit_balance(organization=small_org) == (D("0.65"), D("0.35"))
    approval = Approval.objects.get(run=run, kind="budget", status="pending")
    approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    # the raise (0.175) moved from the balance into the run's reservation
    assert credit_balance(organization=small_org) == (D("0.475"), D("0.525"))
    assert CreditHold.objects.get(run_id=run.pk).amount == D("0.525")
    for _ in range(10):
        run_advance(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.usage_usd == D("0.5")
    assert ledger(small_org)[1:] == [
        ("reserve", D("-0.35"), D("0.65")),
        ("reserve", D("-0.175"), D("0.475")),
        ("release", D("0.525"), D("1")),
        ("charge", D("-0.5"), D("0.5")),
    ]
    assert ledger_sum(small_org) == credit_balance(organization=small_org)[0] == D("0.5")


def test_a_raise_the_credit_cannot_cover_is_402_and_the_approval_stays_pending(
    grant, small_org, small_author, make_user, active_playbook
):
    from agentstudio.billing.models import Budget
    from approvals.models import Approval
    from approvals.services import approval_approve

    approver = make_user("approver", organization=small_org, username="amy-small")
    grant("0.40")  # 0.35 reserved at the start leaves 0.05: the raise needs 0.175
    run = _paused_on_budget(active_playbook, small_author)
    approval = Approval.objects.get(run=run, kind="budget", status="pending")
    with pytest.raises(AppError) as refused:
        approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
    assert refused.value.code == ErrorCode.INSUFFICIENT_CREDIT
    assert "to raise the budget: needs 0.175 USD, 0.05 available: short 0.125" in str(
        refused.value.message
    )
    approval.refresh_from_db()
    run.refresh_from_db()
    assert approval.status == "pending" and run.status == "waiting_for_approval"
    assert Budget.objects.get(pk=run.pk).max_usd == D("0.35")
    assert credit_balance(organization=small_org) == (D("0.05"), D("0.35"))


def test_a_parent_that_ended_before_its_sub_run_is_settled_when_the_sub_run_ends(
    grant, small_org, small_author, one_usd_playbook
):
    grant("5")
    parent = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    child = run_start(playbook=one_usd_playbook, actor=small_author, inputs={}, parent=parent)
    _spend(parent, "0.1")
    _fail(parent)  # a parent failing does not stop its sub-run, which still spends
    hold = CreditHold.objects.get(run_id=parent.pk)
    assert hold.settled_at is None
    assert runs_settle_credit_holds() == 0  # the sweep waits for the tree too
    _spend(child, "0.25")
    _fail(child)  # the last run of the tree to end settles it, with the sub-run's spend
    hold.refresh_from_db()
    assert (hold.settled_at is not None, hold.charged_usd) == (True, D("0.35"))
    assert credit_balance(organization=small_org) == (D("4.65"), D("0"))


def test_a_call_in_flight_at_the_end_is_charged_when_it_settles(
    grant, small_org, small_author, one_usd_playbook
):
    from agentstudio.billing.budgets import budget_reserve, budget_settle
    from playbooks.engine.budget import run_budget_ref

    grant("5")
    run = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    # a model call is in flight when the run is cancelled
    hold = budget_reserve(run_budget_ref(run), run_id=run.pk, usd=D("0.5"), tokens=100)
    run_cancel(run=run, actor=small_author)
    assert CreditHold.objects.get(run_id=run.pk).settled_at is None
    # it returns and settles; its cost is in the budget, in no run's totals (the cancelled
    # run's checkpoint never lands)
    budget_settle(hold, usd=D("0.3"), tokens=100)
    assert runs_settle_credit_holds() == 1
    assert CreditHold.objects.get(run_id=run.pk).charged_usd == D("0.3")
    assert credit_balance(organization=small_org) == (D("4.7"), D("0"))


def test_a_hold_a_dead_worker_left_on_an_ended_run_is_released_by_the_sweep(
    grant, small_org, small_author, one_usd_playbook, settings
):
    from agentstudio.billing.budgets import budget_reserve
    from agentstudio.billing.models import Budget, BudgetHold
    from playbooks.engine.budget import run_budget_ref

    grant("5")
    run = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    budget_reserve(run_budget_ref(run), run_id=run.pk, usd=D("0.5"), tokens=100)
    _ended_without_settlement(run)  # its worker died mid-call
    assert runs_settle_credit_holds() == 0  # the call might still return
    settings.AGENTSTUDIO_STEP_TIMEOUT_SECONDS = 0
    settings.AGENTSTUDIO_RUN_LEASE_SECONDS = 0  # no call lasts this long: it died
    assert runs_settle_credit_holds() == 1
    assert not BudgetHold.objects.exists() and Budget.objects.get(pk=run.pk).reserved_usd == 0
    assert CreditHold.objects.get(run_id=run.pk).charged_usd == D("0.4")


@pytest.mark.parametrize("one_statement", [True, False])
def test_both_ways_of_settling_write_the_same_rows(
    grant, small_org, small_author, one_usd_playbook, one_statement
):
    from agentstudio.billing.credits import credits_settle_run

    grant("5")
    run = run_start(playbook=one_usd_playbook, actor=small_author, inputs={})
    hold = credits_settle_run(run_id=run.pk, spent_usd=D("0.125"), one_statement=one_statement)
    assert hold is not None
    assert credits_settle_run(run_id=run.pk, spent_usd=D("1"), one_statement=one_statement) is None
    assert ledger(small_org) == [
        ("grant", D("5"), D("5")),
        ("reserve", D("-1"), D("4")),
        ("release", D("1"), D("5")),
        ("charge", D("-0.125"), D("4.875")),
    ]
    from agentstudio.billing.models import LedgerEntry

    memos = list(
        LedgerEntry.objects.filter(run_id=run.pk)
        .order_by("created_at")
        .values_list("memo", flat=True)
    )
    assert memos[-2:] == ["released", "charged 0.125 USD spent"]
    assert credit_balance(organization=small_org) == (D("4.875"), D("0"))
    stored = CreditHold.objects.get(run_id=run.pk)
    assert (stored.charged_usd, stored.settled_at is not None) == (D("0.125"), True)
