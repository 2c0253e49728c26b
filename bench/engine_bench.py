"""(a) the per-step cost of the engine on a 20-step no-op playbook, and (c) runs paused at a
gate: worker slots they hold, and the latency from an approval's commit to the next step.

Runs are started through the real service (`run_start`), so each doorbell goes through the
broker to the worker processes; every number is then read back from the database.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import defaultdict
from typing import Any

from bench.stats import ms_between, rnd, summary

ECHO = "tools.studio.util.echo"
FINAL = ("succeeded", "failed", "cancelled")


# --- fixtures ---------------------------------------------------------------------------


def echo_spec(steps: int) -> dict[str, Any]:
    return {
        "name": f"Bench echo x{steps}",
        "tools": [ECHO],
        "steps": [
            {"id": f"s{i:02d}", "tool": ECHO, "args": {"value": i}} for i in range(1, steps + 1)
        ],
    }


def gate_spec() -> dict[str, Any]:
    return {
        "name": "Bench gate then echo",
        "tools": [ECHO],
        "steps": [
            {"id": "gate", "approval": {"title": "Go on?", "payload": {"go": True}}},
            {"id": "after", "tool": ECHO, "args": {"value": "after the gate"}},
        ],
    }


BENCH_CREDIT_USD = "10000000"


def people() -> tuple[Any, Any, Any]:
    """An organization with an author (starts runs) and an approver."""
    from agentstudio.accounts.models import Role
    from agentstudio.accounts.services import organization_create, user_create
    from agentstudio.billing.services import credits_grant

    org = organization_create(name=f"Bench {uuid.uuid4().hex[:6]}")
    credits_grant(organization=org, amount=BENCH_CREDIT_USD)  # each start reserves max_usd
    author = user_create(organization=org, username=f"bench-author-{org.pk}", role=Role.AUTHOR)
    approver = user_create(
        organization=org, username=f"bench-approver-{org.pk}", role=Role.APPROVER
    )
    return org, author, approver


def active_playbook(org: Any, author: Any, spec: dict[str, Any]) -> Any:
    from playbooks.services import playbook_activate_as_system, playbook_create
    from playbooks.spec.checked import spec_check

    checked = spec_check(spec=spec)
    if not checked.valid:
        raise RuntimeError([p.as_dict() for p in checked.report.errors])
    playbook = playbook_create(organization=org, actor=author, checked=checked)
    return playbook_activate_as_system(playbook=playbook)


def start_runs(playbook: Any, author: Any, count: int) -> tuple[list[Any], float]:
    """`run_start` in a loop (each commits and rings its doorbell); ids and seconds taken."""
    from playbooks.runs.starting import run_start

    started = time.perf_counter()
    ids = [run_start(playbook=playbook, actor=author, inputs={}).pk for _ in range(count)]
    return ids, time.perf_counter() - started


def wait_status(ids: list[Any], statuses: tuple[str, ...], timeout: float) -> tuple[int, float]:
    """Polls (every 0.25 s) until every run is in one of `statuses`; (count there, seconds)."""
    from playbooks.models import Run

    started = time.monotonic()
    done = 0
    while time.monotonic() - started < timeout:
        done = Run.objects.filter(pk__in=ids, status__in=statuses).count()
        if done >= len(ids):
            break
        time.sleep(0.25)
    return done, time.monotonic() - started


PGSTAT_IDLE_FLUSH_SECONDS = 10.5  # PostgreSQL's PGSTAT_IDLE_INTERVAL is 10 s


def pg_counters() -> dict[str, int]:
    """This database's cumulative counters (pg_stat_database). The driver's own connection
    is closed first (a backend flushes its statistics when it exits), then read through a
    fresh connection after PostgreSQL's idle flush interval: the workers' connections stay
    open, and an idle backend holds its statistics back for up to 10 s."""
    import psycopg
    from django.db import connection

    from bench.infra import database_dsn

    connection.close()
    time.sleep(PGSTAT_IDLE_FLUSH_SECONDS)
    dsn = database_dsn(os.environ["DATABASE_URL"])
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT sessions, xact_commit, xact_rollback, tup_inserted, tup_updated, "
            "tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    names = (
        "sessions",
        "xact_commit",
        "xact_rollback",
        "tup_inserted",
        "tup_updated",
        "tup_deleted",
    )
    return dict(zip(names, row, strict=True))


def pg_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


def consumers(app: Any, queue: str, names: list[str], *, on: bool) -> None:
    """Stops or resumes the workers' consumption of the queue (remote control, with replies)."""
    if on:
        replies = app.control.add_consumer(queue, destination=names, reply=True, timeout=5)
    else:
        replies = app.control.cancel_consumer(queue, destination=names, reply=True, timeout=5)
    if len(replies or []) < len(names):
        raise RuntimeError(f"{'add' if on else 'cancel'}_consumer: replies {replies}")


# --- (a) a 20-step playbook of a no-op tool ----------------------------------------------


def bench_steps(
    *,
    app: Any,
    queue: str,
    workers: list[str],
    worker_cpu: Any,
    org: Any,
    author: Any,
    runs: int,
    steps: int,
    warmup: int,
    timeout: float,
) -> dict[str, Any]:
    from playbooks.models import Run, RunEvent, RunStep
    from tools.models import ToolInvocation

    playbook = active_playbook(org, author, echo_spec(steps))
    warm_ids, _ = start_runs(playbook, author, warmup)
    wait_status(warm_ids, FINAL, 60)

    # The doorbells queue up while the workers do not consume, so the throughput window
    # measures the workers, not the loop creating the runs on the same two cores.
    consumers(app, queue, workers, on=False)
    try:
        ids, create_s = start_runs(playbook, author, runs)
        counters_before = pg_counters()
        cpu_before = worker_cpu()
    finally:
        consumers(app, queue, workers, on=True)
    done, waited_s = wait_status(ids, FINAL, timeout)
    cpu_ms = (worker_cpu() - cpu_before) * 1000
    counters = pg_delta(counters_before, pg_counters())

    rows = list(
        Run.objects.filter(pk__in=ids).values(
            "id", "status", "created_at", "started_at", "finished_at"
        )
    )
    succeeded = [r for r in rows if r["status"] == "succeeded"]
    run_ms = [ms_between(r["started_at"], r["finished_at"]) / steps for r in succeeded]
    queue_ms = [ms_between(r["created_at"], r["started_at"]) for r in rows if r["started_at"]]

    # RunStep rows: started_at and finished_at are both stamped inside the step's
    # checkpoint, so the interval between consecutive rows is the full per-step cycle.
    by_run: dict[Any, list] = defaultdict(list)
    same_stamp = 0
    step_rows = RunStep.objects.filter(run_id__in=ids, status="succeeded").values_list(
        "run_id", "index", "started_at", "finished_at"
    )
    for run_id, index, s_at, f_at in step_rows:
        by_run[run_id].append((index, s_at))
        same_stamp += int(s_at == f_at)
    step_ms = []
    for items in by_run.values():
        items.sort()
        if len(items) == steps:
            step_ms.append(ms_between(items[0][1], items[-1][1]) / (steps - 1))

    # Events: step.succeeded stamps (consecutive checkpoints) and run.started → run.succeeded.
    ev_step: dict[Any, list] = defaultdict(list)
    run_started: dict[Any, Any] = {}
    run_done: dict[Any, Any] = {}
    events = RunEvent.objects.filter(
        run_id__in=ids, type__in=["run.started", "step.succeeded", "run.succeeded"]
    ).values_list("run_id", "type", "data", "created_at")
    for run_id, kind, data, created in events:
        if kind == "step.succeeded":
            ev_step[run_id].append((data["index"], created))
        elif kind == "run.started":
            run_started[run_id] = min(created, run_started.get(run_id, created))
        else:
            run_done[run_id] = created
    event_ms = []
    for items in ev_step.values():
        items.sort()
        if len(items) == steps:
            event_ms.append(ms_between(items[0][1], items[-1][1]) / (steps - 1))
    event_run_ms = [
        ms_between(run_started[r], run_done[r]) / steps for r in run_done if r in run_started
    ]
    window_ms = ms_between(min(run_started.values()), max(run_done.values())) if run_done else None
    total_steps = len(run_done) * steps
    steps_per_s = total_steps / (window_ms / 1000.0) if window_ms else None

    tool_ms = list(
        ToolInvocation.objects.filter(run_id__in=ids).values_list("duration_ms", flat=True)
    )
    run_sum = summary(run_ms)
    return {
        "runs": runs,
        "steps_per_run": steps,
        "warmup_runs": warmup,
        "runs_succeeded": len(succeeded),
        "runs_final": done,
        "create_loop_s": rnd(create_s),
        "wait_s": rnd(waited_s),
        "per_step_ms": {
            "run_level_finished_minus_started_div_steps": _rounded(run_sum),
            "runstep_interval": _rounded(summary(step_ms)),
            "event_interval_step_succeeded": _rounded(summary(event_ms)),
            "event_run_started_to_succeeded_div_steps": _rounded(summary(event_run_ms)),
            "tool_execution_ms_per_call": _rounded(summary(tool_ms)),
        },
        "runstep_rows_with_started_equal_finished": same_stamp,
        # Everything the database saw while the workers executed the runs (the driver only
        # polled a count every 0.25 s): new sessions per run is the worker reconnecting.
        "postgres_counters_while_executing": counters,
        # CPU the two worker processes used per step (Python, ORM, psycopg, Celery, kombu).
        "worker_cpu_ms_per_step": rnd(cpu_ms / max(1, runs * steps)),
        "postgres_per_run": {k: rnd(v / max(1, runs), 2) for k, v in counters.items()},
        "postgres_per_step": {k: rnd(v / max(1, runs * steps), 2) for k, v in counters.items()},
        "queue_wait_ms": _rounded(summary(queue_ms)),
        "throughput_window_ms": rnd(window_ms),
        "total_steps": total_steps,
        "engine_ms_per_step_median": rnd(run_sum["median"]),
        "engine_ms_per_step_p95": rnd(run_sum["p95"]),
        "engine_steps_per_s": rnd(steps_per_s, 1),
    }


def _max_known(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _rounded(stats: dict[str, Any]) -> dict[str, Any]:
    return {key: rnd(value) if isinstance(value, float) else value for key, value in stats.items()}


# --- (c) runs paused at a gate -------------------------------------------------------------


class CommitClock:
    """Wall-clock time of each COMMIT on the driver's connection, taken as `commit()`
    returns (before Django runs the on_commit hooks that ring the doorbell)."""

    def __init__(self) -> None:
        from django.db import connection

        self.connection = connection
        self.stamps: list[float] = []
        self._original = connection.commit

    def __enter__(self) -> CommitClock:
        original = self._original

        def commit() -> None:
            original()
            self.stamps.append(time.time())

        self.connection.commit = commit
        return self

    def __exit__(self, *exc: object) -> None:
        del self.connection.commit


def worker_slots_held(app: Any, workers: list[str], samples: int = 5) -> dict[str, Any]:
    """Active (executing) and reserved tasks on the workers, sampled a few times."""
    active, reserved = [], []
    for _ in range(samples):
        inspector = app.control.inspect(destination=workers, timeout=1.0)
        a = inspector.active() or {}
        r = inspector.reserved() or {}
        # No reply from a worker is not "0 held": such a sample counts as unknown.
        active.append(sum(len(v) for v in a.values()) if len(a) == len(workers) else None)
        reserved.append(sum(len(v) for v in r.values()) if len(r) == len(workers) else None)
        time.sleep(0.2)
    return {"active_samples": active, "reserved_samples": reserved}


def bench_gate(
    *,
    app: Any,
    workers: list[str],
    org: Any,
    author: Any,
    approver: Any,
    runs: int,
    approve: int,
    warmup: int,
    timeout: float,
) -> dict[str, Any]:
    import redis
    from django.conf import settings

    from approvals.models import Approval
    from approvals.services import approval_approve
    from playbooks.engine.events import run_events_channel
    from playbooks.models import Run, RunEvent, RunStep

    playbook = active_playbook(org, author, gate_spec())
    client = redis.Redis.from_url(settings.REDIS_URL)

    def approve_and_wait(approval: Approval, clock: CommitClock) -> dict[str, Any]:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(run_events_channel(approval.run_id))
        before = time.time()
        approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
        returned = time.time()
        commit = clock.stamps[-1]
        seen = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            decoded = json.loads(message["data"])
            events = decoded if isinstance(decoded, list) else [decoded]
            if any(
                event["type"] == "step.started" and event["data"].get("index") == 1
                for event in events
            ):
                seen = time.time()
                break
        pubsub.close()
        return {
            "run": approval.run_id,
            "called": before,
            "commit": commit,
            "returned": returned,
            "seen": seen,
        }

    # Warm-up: a few gated runs approved and finished, so both workers have imported and
    # connected everything the resume path uses.
    warm_ids, _ = start_runs(playbook, author, warmup)
    wait_status(warm_ids, ("waiting_for_approval",), 60)
    with CommitClock() as clock:
        for approval in Approval.objects.filter(run_id__in=warm_ids, kind="gate"):
            approve_and_wait(approval, clock)
    wait_status(warm_ids, FINAL, 30)

    ids, create_s = start_runs(playbook, author, runs)
    paused, waited_s = wait_status(ids, ("waiting_for_approval",), timeout)
    time.sleep(0.5)  # let the last doorbells' tasks return
    slots = worker_slots_held(app, workers)
    leases_held = (
        Run.objects.filter(pk__in=ids, status="waiting_for_approval")
        .exclude(lease_owner="")
        .count()
    )
    queue_len = client.llen(app.conf.task_default_queue)

    counters_before = pg_counters()
    order = {run_id: n for n, run_id in enumerate(ids[:approve])}
    approvals = sorted(
        Approval.objects.filter(run_id__in=list(order), kind="gate", status="pending"),
        key=lambda a: order[a.run_id],
    )
    samples = []
    with CommitClock() as clock:
        for approval in approvals:
            samples.append(approve_and_wait(approval, clock))
    approved_ids = [s["run"] for s in samples]
    wait_status(approved_ids, FINAL, 30)
    counters = pg_delta(counters_before, pg_counters())

    started_event = {
        run_id: created
        for run_id, data, created in RunEvent.objects.filter(
            run_id__in=approved_ids, type="step.started"
        ).values_list("run_id", "data", "created_at")
        if data.get("index") == 1
    }
    step_started = dict(
        RunStep.objects.filter(run_id__in=approved_ids, index=1).values_list("run_id", "started_at")
    )
    decided = dict(
        Approval.objects.filter(run_id__in=approved_ids, kind="gate").values_list(
            "run_id", "decided_at"
        )
    )
    from_commit, from_return, from_decided, from_row, seen_ms, service_ms = [], [], [], [], [], []
    for s in samples:
        event_at = started_event.get(s["run"])
        if event_at is None:
            continue
        event_ts = event_at.timestamp()
        from_commit.append((event_ts - s["commit"]) * 1000)
        from_return.append((event_ts - s["returned"]) * 1000)
        from_decided.append(ms_between(decided[s["run"]], event_at))
        if s["run"] in step_started:
            from_row.append((step_started[s["run"]].timestamp() - s["commit"]) * 1000)
        if s["seen"] is not None:
            seen_ms.append((s["seen"] - s["commit"]) * 1000)
        service_ms.append((s["returned"] - s["called"]) * 1000)
    resume = summary(from_commit)
    return {
        "runs": runs,
        "warmup_runs": warmup,
        "create_loop_s": rnd(create_s),
        "runs_paused": paused,
        "wait_until_paused_s": rnd(waited_s),
        "worker_slots": slots,
        "paused_runs_holding_a_lease": leases_held,
        "broker_queue_length_while_paused": queue_len,
        "approved": len(samples),
        # Approvals (driver) + resumed runs (workers): per approved run.
        "postgres_per_approved_run": {
            k: rnd(v / max(1, len(samples)), 2) for k, v in counters.items()
        },
        "resume_ms": {
            "commit_to_step_started_event": _rounded(resume),
            "service_return_to_step_started_event": _rounded(summary(from_return)),
            "decided_at_to_step_started_event": _rounded(summary(from_decided)),
            "commit_to_runstep_started_at": _rounded(summary(from_row)),
            "commit_to_pubsub_event_seen_by_driver": _rounded(summary(seen_ms)),
            "approval_service_call_ms": _rounded(summary(service_ms)),
        },
        "paused_worker_slots": _max_known(slots["active_samples"]),
        "resume_ms_median": rnd(resume["median"]),
        "resume_ms_p95": rnd(resume["p95"]),
    }
