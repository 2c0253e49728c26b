"""(d) What the money and rate-limit checks add to each call, in-process against the bench's
PostgreSQL and Redis: the budget's tool-call charge (one conditional UPDATE), a model call's
reservation and settlement (hold, UPDATEs, usage record), and the rate limiter's check for an
AI-services call (user and organization, burst and minute windows) and a run start. Each is
timed call by call; the table gives median and p95 per call."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

from bench.stats import rnd, summary


def _timed(fn: Any, count: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000.0)
    stats = summary(times)
    return {"n": stats["n"], "median_ms": rnd(stats["median"]), "p95_ms": rnd(stats["p95"])}


def bench_checks(*, org: Any, count: int = 2000, warmup: int = 50) -> dict[str, Any]:
    from agentstudio.billing.budgets import (
        BudgetRef,
        budget_charge_tool_call,
        budget_ensure,
        budget_reserve,
        budget_settle,
    )
    from agentstudio.billing.models import UsageKind
    from agentstudio.ratelimits.limiter import Subject, limit_check, parse_limits

    limits = {"max_usd": 10**6, "max_tokens": 10**12, "max_tool_calls": 10**9}
    ref = BudgetRef(id=uuid.uuid4(), organization_id=org.pk, limits=lambda: limits)
    budget_ensure(ref)
    run_id = uuid.uuid4()

    def tool_charge() -> None:
        budget_charge_tool_call(ref)

    def model_reserve_settle() -> None:
        hold = budget_reserve(ref, run_id=run_id, usd=Decimal("0.01"), tokens=2000)
        budget_settle(
            hold,
            usd=Decimal("0.004"),
            tokens=900,
            record={
                "organization_id": org.pk,
                "kind": UsageKind.MODEL,
                "provider": "openai",
                "model": "gpt-4o-mini",
                "input_tokens": 800,
                "output_tokens": 100,
                "usd": Decimal("0.004"),
            },
        )

    # the shapes of the shipped limits (two subjects, the AI services' two windows) with
    # amounts large enough that every timed call is allowed (the path a request pays for)
    ai_windows = parse_limits("1000000 per 10 seconds; 1000000 per minute")
    run_windows = parse_limits("1000000 per minute")
    scope = f"bench-{uuid.uuid4().hex[:8]}"

    def ai_limit() -> None:
        decision = limit_check(
            scope=f"{scope}-ai",
            subjects=[Subject("user", "1", ai_windows), Subject("organization", "1", ai_windows)],
        )
        assert decision.allowed

    def run_start_limit() -> None:
        decision = limit_check(
            scope=f"{scope}-runs",
            subjects=[Subject("user", "1", run_windows), Subject("organization", "1", run_windows)],
        )
        assert decision.allowed

    return {
        "budget_tool_call_charge": _timed(tool_charge, count, warmup),
        "budget_model_reserve_settle": _timed(model_reserve_settle, count // 4, warmup),
        "rate_limit_ai_services": _timed(ai_limit, count, warmup),
        "rate_limit_run_start": _timed(run_start_limit, count, warmup),
    }
