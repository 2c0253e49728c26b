"""Budgets in billing: reserve before, settle after, refuse what does not fit, per limit;
under threads and across two processes a budget is never overshot."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection, connections

from agentstudio.billing.budgets import (
    BudgetExceeded,
    BudgetRef,
    budget_charge_tool_call,
    budget_holds_release,
    budget_raise,
    budget_release,
    budget_reserve,
    budget_settle,
)
from agentstudio.billing.models import Budget, BudgetHold, UsageRecord
from tests.support.processes import database_url

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def _ref(org, **limits) -> BudgetRef:
    return BudgetRef(id=uuid.uuid4(), organization_id=org.pk, limits=lambda: limits)


def _row(ref) -> Budget:
    return Budget.objects.get(pk=ref.id)


def test_a_reservation_holds_room_until_it_settles_at_the_actual_cost(org):
    ref = _ref(org, max_usd=1, max_tokens=1000)
    hold = budget_reserve(ref, run_id=uuid.uuid4(), usd=Decimal("0.6"), tokens=600)
    row = _row(ref)  # made from the limits on first use
    assert (row.max_usd, row.max_tokens, row.reserved_usd, row.reserved_tokens) == (
        Decimal("1"), 1000, Decimal("0.6"), 600,
    )  # fmt: skip
    with pytest.raises(BudgetExceeded) as refused:  # 0.6 held + 0.5 > 1
        budget_reserve(ref, run_id=uuid.uuid4(), usd=Decimal("0.5"), tokens=10)
    assert (refused.value.limit, refused.value.usage, refused.value.requested) == (
        "max_usd", Decimal("0.6"), Decimal("0.5"),
    )  # fmt: skip
    record = {"organization_id": org.pk, "kind": "model", "model": "m", "usd": Decimal("0.2")}
    budget_settle(hold, usd=Decimal("0.2"), tokens=150, record=record)
    row = _row(ref)
    assert (row.spent_usd, row.spent_tokens, row.reserved_usd, row.reserved_tokens) == (
        Decimal("0.2"), 150, Decimal("0"), 0,
    )  # fmt: skip
    assert not BudgetHold.objects.exists()
    assert UsageRecord.objects.get().usd == Decimal("0.2")
    budget_reserve(ref, run_id=uuid.uuid4(), usd=Decimal("0.5"), tokens=10)  # fits now


@pytest.mark.parametrize(
    ("limits", "reserve", "limit"),
    [
        ({"max_usd": 0.1}, {"usd": Decimal("0.11"), "tokens": 1}, "max_usd"),
        ({"max_tokens": 100}, {"usd": Decimal("0"), "tokens": 101}, "max_tokens"),
    ],
)
def test_a_model_call_that_does_not_fit_is_refused_naming_the_limit(org, limits, reserve, limit):
    ref = _ref(org, **limits, on_breach="fail")
    with pytest.raises(BudgetExceeded) as refused:
        budget_reserve(ref, run_id=uuid.uuid4(), **reserve)
    assert (refused.value.limit, refused.value.on_breach) == (limit, "fail")
    assert limit in str(refused.value)
    assert not BudgetHold.objects.exists()
    assert _row(ref).reserved_usd == 0


def test_tool_calls_are_charged_before_they_run_up_to_max_tool_calls(org):
    ref = _ref(org, max_tool_calls=3)
    for _ in range(3):
        budget_charge_tool_call(ref)
    with pytest.raises(BudgetExceeded) as refused:
        budget_charge_tool_call(ref)
    assert (refused.value.limit, refused.value.limit_value, refused.value.usage) == (
        "max_tool_calls", 3, 3,
    )  # fmt: skip
    assert refused.value.raise_by == 2  # the larger of one call and half the limit
    assert _row(ref).spent_tool_calls == 3


def test_a_run_already_past_max_usd_makes_no_further_call(org):
    """A call that cost more than it reserved took the spend past the limit: the next call,
    even a free one, is refused (the breach after the call)."""
    ref = _ref(org, max_usd=1)
    hold = budget_reserve(ref, run_id=uuid.uuid4(), usd=Decimal("0.5"), tokens=1)
    budget_settle(hold, usd=Decimal("1.2"), tokens=1)
    with pytest.raises(BudgetExceeded) as refused:
        budget_charge_tool_call(ref)
    assert refused.value.limit == "max_usd"


def test_a_raise_grows_the_limit_and_the_increment_is_half_the_limit_or_the_call(org):
    ref = _ref(org, max_usd=1)
    with pytest.raises(BudgetExceeded) as refused:
        budget_reserve(ref, run_id=uuid.uuid4(), usd=Decimal("1.5"), tokens=1)
    assert refused.value.raise_by == Decimal("1.5")  # the call is larger than half
    budget_raise(budget_id=ref.id, limit="max_usd", by=refused.value.raise_by)
    assert _row(ref).max_usd == Decimal("2.5")
    budget_reserve(ref, run_id=uuid.uuid4(), usd=Decimal("1.5"), tokens=1)


def test_a_released_or_stale_hold_gives_its_room_back_once(org):
    ref = _ref(org, max_usd=1)
    run_id = uuid.uuid4()
    dead = budget_reserve(ref, run_id=run_id, usd=Decimal("0.7"), tokens=5)
    assert budget_holds_release(run_id=run_id) == 1  # a new lease holder claims the run
    assert (_row(ref).reserved_usd, _row(ref).reserved_tokens) == (Decimal("0"), 0)
    # the dead worker's late settle spends what it spent and takes nothing back twice
    budget_settle(dead, usd=Decimal("0.1"), tokens=3)
    assert (_row(ref).reserved_usd, _row(ref).spent_usd) == (Decimal("0"), Decimal("0.1"))
    other = budget_reserve(ref, run_id=run_id, usd=Decimal("0.2"), tokens=1)
    budget_release(other)
    budget_release(other)
    assert _row(ref).reserved_usd == Decimal("0")


def test_threads_reserving_against_one_budget_never_overshoot(org):
    """Twelve threads make calls of 0.03 USD (reserved 0.05 each) against max_usd 1: the
    spend never passes the limit, and every refusal came when no call fitted any more."""
    ref = _ref(org, max_usd=1)
    budget_charge_tool_call(ref)  # the row exists before the race
    made, refused, errors = [], [], []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(10):
                try:
                    hold = budget_reserve(ref, run_id=uuid.uuid4(), usd=Decimal("0.05"), tokens=1)
                except BudgetExceeded as exc:
                    with lock:
                        refused.append(exc)
                    continue
                budget_settle(hold, usd=Decimal("0.03"), tokens=1)
                with lock:
                    made.append(1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    row = _row(ref)
    assert row.spent_usd == Decimal("0.03") * len(made)
    assert row.spent_usd <= Decimal("1") and row.reserved_usd == 0
    # 33 calls of 0.03 fit (0.99); with 0.05 reserved each, at least 0.96 + 0.05 > 1 is refused
    assert 32 <= len(made) <= 33 and len(made) + len(refused) == 120


SCRIPT = textwrap.dedent(
    """
    import sys, uuid
    from decimal import Decimal
    import django
    django.setup()
    from agentstudio.billing.budgets import (
        BudgetExceeded, BudgetRef, budget_charge_tool_call, budget_reserve, budget_settle,
    )
    ref = BudgetRef(id=uuid.UUID(sys.argv[1]), organization_id=uuid.UUID(sys.argv[2]), limits=dict)
    made = 0
    for _ in range(40):
        try:
            hold = budget_reserve(ref, run_id=uuid.uuid4(), usd=Decimal("0.01"), tokens=1)
        except BudgetExceeded:
            continue
        budget_settle(hold, usd=Decimal("0.01"), tokens=1)
        budget_charge_tool_call(ref)
        made += 1
    print(made)
    """
)


def test_two_processes_racing_on_one_budget_stop_exactly_at_the_limit(org):
    ref = _ref(org, max_usd=0.25, max_tool_calls=1000)
    budget_charge_tool_call(ref)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DJANGO_SETTINGS_MODULE": "agentstudio.settings",
    }
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(ref.id), str(org.pk)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    made = sum(int(out.strip().splitlines()[-1]) for out, _err in outputs)
    row = _row(ref)
    assert made == 25  # 25 calls of 0.01 fit in 0.25, not one more, whoever made them
    assert (row.spent_usd, row.reserved_usd, row.spent_tool_calls) == (
        Decimal("0.25"), Decimal("0"), 26,
    )  # fmt: skip
