"""The per-step path of the engine, profiled in-process: `run_advance` called directly on a
20-step run of the no-op tool (no broker), with every SQL statement, COMMIT and Redis
publish counted and timed, plus a cProfile of the Python side. The doorbell's broker
publish is switched off here (the bench's workers must not pick these runs up); its
`UPDATE ... doorbell_at` still runs.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import re
import time
from collections import Counter
from contextlib import contextmanager
from typing import Any

from bench.engine_bench import active_playbook, echo_spec, gate_spec
from bench.stats import rnd, summary

_SELECT_COLUMNS = re.compile(r"^SELECT (?:DISTINCT )?.*? FROM ", re.DOTALL)
_INSERT_COLUMNS = re.compile(r'^INSERT INTO ("\w+") \((.*?)\) VALUES .*?( RETURNING .*)?$', re.S)
_UPDATE_SET = re.compile(r'^UPDATE ("\w+") SET (.*?) WHERE (.*)$', re.DOTALL)
_LITERAL = re.compile(r"'(?:[^']|'')*'|\b\d+(?:\.\d+)?\b")


def sql_shape(sql: str) -> str:
    """A statement with its column lists elided and its literals replaced by `?`."""
    sql = " ".join(sql.split())
    if sql.startswith("WITH guard"):  # the engine's one-statement writes (engine/store/postgres.py)
        columns = re.match(r'WITH guard AS \(UPDATE "\w+" SET (\([^)]*\))?', sql)
        what = columns.group(1) if columns and columns.group(1) else "(step checkpoint)"
        tables = ", ".join(re.findall(r'INSERT INTO "(\w+)"', sql))
        return f"WITH guard AS (UPDATE playbooks_run SET {what}) + INSERT INTO {tables}"  # noqa: S608
    insert = _INSERT_COLUMNS.match(sql)
    if insert:
        columns = insert.group(2).count(",") + 1
        returning = " RETURNING id" if insert.group(3) else ""
        return f"INSERT INTO {insert.group(1)} ({columns} columns) VALUES (…){returning}"  # noqa: S608
    update = _UPDATE_SET.match(sql)
    if update:
        columns = len(re.findall(r'"?\w+"? = ', update.group(2)))
        where = _LITERAL.sub("?", update.group(3))
        return f"UPDATE {update.group(1)} SET ({columns} columns) WHERE {where}"  # noqa: S608
    if sql.startswith("SELECT"):
        sql = _SELECT_COLUMNS.sub("SELECT … FROM ", sql, count=1)
    return _LITERAL.sub("?", sql)[:300]


@contextmanager
def no_broker_publish():
    """advance_run.apply_async → nothing, for this process only."""
    from playbooks.tasks import advance_run

    task = advance_run._get_current_object()
    had = "apply_async" in vars(task)
    original = vars(task).get("apply_async")
    task.apply_async = lambda *args, **kwargs: None
    try:
        yield
    finally:
        if had:
            task.apply_async = original
        else:
            del task.apply_async


class Meter:
    """Counts and times SQL statements, COMMITs and Redis publishes on this thread."""

    def __init__(self, *, keep_sql: bool = False) -> None:
        self.keep_sql = keep_sql
        self.statements: list[tuple[str, float]] = []
        self.sql_s = 0.0
        self.commits = 0
        self.commit_s = 0.0
        self.publishes = 0
        self.publish_s = 0.0

    @contextmanager
    def active(self):
        from django.db import connection

        import playbooks.engine.events as events_module

        def wrapper(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                elapsed = time.perf_counter() - started
                self.sql_s += elapsed
                self.statements.append((sql if self.keep_sql else "", elapsed))

        original_commit = connection.commit
        publisher = events_module._PUBLISHER
        original_publish = publisher.submit

        def commit() -> None:
            started = time.perf_counter()
            original_commit()
            self.commits += 1
            self.commit_s += time.perf_counter() - started

        def publish(payloads):
            started = time.perf_counter()
            original_publish(payloads)
            self.publishes += 1
            self.publish_s += time.perf_counter() - started

        # Statements on the checkpoint writer's own connection: each is recorded when sent;
        # the wait for its answer (what the engine could not overlap) is timed at receive.
        from playbooks.engine.store.writer import checkpoint_writer

        original_send, original_receive = checkpoint_writer.send, checkpoint_writer.receive

        def send(sql, params):
            started = time.perf_counter()
            original_send(sql, params)
            elapsed = time.perf_counter() - started
            self.sql_s += elapsed
            self.statements.append((sql if self.keep_sql else "", elapsed))

        def receive():
            started = time.perf_counter()
            try:
                return original_receive()
            finally:
                self.sql_s += time.perf_counter() - started

        checkpoint_writer.send, checkpoint_writer.receive = send, receive
        connection.commit = commit
        publisher.submit = publish
        try:
            with connection.execute_wrapper(wrapper):
                yield self
        finally:
            del connection.commit
            del publisher.submit
            del checkpoint_writer.send, checkpoint_writer.receive


def _segments(statements: list[str]) -> tuple[list[str], list[list[str]]]:
    """Splits after each step's checkpoint (the statement that inserts the step row), so a
    step's segment is every statement from the end of the previous checkpoint to its own."""
    marks = [
        i
        for i, s in enumerate(statements)
        if (s.startswith("WITH guard") and "playbooks_runstep" in s)
        or s.startswith('INSERT INTO "playbooks_runstep"')
    ]
    if not marks:
        return statements, []
    ends = [mark + 1 for mark in marks]
    starts = [0, *ends[:-1]]
    segments = [statements[a:b] for a, b in zip(starts, ends, strict=True)]
    return [], [*segments, statements[ends[-1] :]]  # the last one: after the last step


def profile_engine(
    *,
    org: Any,
    author: Any,
    approver: Any,
    steps: int,
    timed_runs: int,
    cprofile_runs: int,
    report_path: Any,
) -> dict[str, Any]:
    from approvals.models import Approval
    from approvals.services import approval_approve
    from playbooks.engine.runner import run_advance
    from playbooks.models import Run
    from playbooks.runs.starting import run_start
    from tools.models import ToolInvocation

    playbook = active_playbook(org, author, echo_spec(steps))
    out: dict[str, Any] = {"steps_per_run": steps}
    with no_broker_publish():
        # Warm the process (imports, validators, templates) with one run.
        run_advance(run_id=run_start(playbook=playbook, actor=author, inputs={}).pk)

        # 1. Every statement of one run_advance over a fresh 20-step run.
        run = run_start(playbook=playbook, actor=author, inputs={})
        meter = Meter(keep_sql=True)
        with meter.active():
            result = run_advance(run_id=run.pk)
        shapes = [sql_shape(sql) for sql, _ in meter.statements]
        _, segments = _segments(shapes)
        step_segments, tail = segments[:-1], segments[-1] if segments else []
        per_step = step_segments[1] if len(step_segments) > 1 else []
        steady = all(seg == per_step for seg in step_segments[1:])
        # the first step's segment also holds what came before it (claim, load, start)
        prefix = step_segments[0][: len(step_segments[0]) - len(per_step)] if per_step else []
        out["one_run_advance"] = {
            "result": str(result),
            "statements_total": len(shapes),
            "redis_publishes_total": meter.publishes,
            "statements_before_first_step": prefix,
            "statements_per_step": per_step,
            "statements_per_step_count": len(per_step),
            "steps_identical_in_steady_state": steady,
            "statements_after_last_step": tail,
            # Checkpoints commit on their own (autocommit) on the worker's pipelined
            # connection, so Django's connection commits only outside them; PostgreSQL's
            # own count of transactions per step is a_engine.postgres_per_step.
            "django_connection_commits_total": meter.commits,
            # one notice for the start, then one per step (the last one also ends the run)
            "redis_publishes_per_step": rnd((meter.publishes - 1) / steps, 2),
            "counts_by_table": dict(Counter(_table(s) for s in shapes)),
            "ms_by_statement_shape": _by_shape(shapes, [t for _, t in meter.statements]),
        }

        # 2. Where the time goes, per step, over several runs (no query capture).
        ids = [run_start(playbook=playbook, actor=author, inputs={}).pk for _ in range(timed_runs)]
        meter = Meter()
        per_run_ms = []
        cpu_started = time.process_time()
        with meter.active():
            for run_id in ids:
                started = time.perf_counter()
                run_advance(run_id=run_id)
                per_run_ms.append((time.perf_counter() - started) * 1000 / steps)
        cpu_ms = (time.process_time() - cpu_started) * 1000
        total_ms = sum(per_run_ms) * steps
        tool_ms = sum(
            ToolInvocation.objects.filter(run_id__in=ids).values_list("duration_ms", flat=True)
        )
        n_steps = steps * len(ids)
        sql_ms, commit_ms, publish_ms = (
            meter.sql_s * 1000,
            meter.commit_s * 1000,
            meter.publish_s * 1000,
        )
        out["in_process_ms_per_step"] = {
            "runs": len(ids),
            "per_step": {
                k: rnd(v) if isinstance(v, float) else v for k, v in summary(per_run_ms).items()
            },
            "breakdown_mean": {
                "total": rnd(total_ms / n_steps),
                "sql_statements": rnd(sql_ms / n_steps),
                "commit": rnd(commit_ms / n_steps),
                "tool_call": rnd(tool_ms / n_steps),
                "redis_publish": rnd(publish_ms / n_steps),
                "python_rest": rnd(
                    (total_ms - sql_ms - commit_ms - tool_ms - publish_ms) / n_steps
                ),
            },
            "statements_per_step": rnd(len(meter.statements) / n_steps, 2),
            # CPU of this process (Python, Django ORM, psycopg, the tool thread) per step:
            # the part of the cost that no faster database or network can remove.
            "driver_cpu_ms_per_step": rnd(cpu_ms / n_steps),
        }

        # 3. cProfile of a few runs, timed in process CPU time: where the CPU goes (waiting
        # for PostgreSQL costs no CPU and does not show up).
        ids = [
            run_start(playbook=playbook, actor=author, inputs={}).pk for _ in range(cprofile_runs)
        ]
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for run_id in ids:
            run_advance(run_id=run_id)
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        n_steps = cprofile_runs * steps
        by_package = _cpu_by_package(stats, n_steps)
        text.write(
            f"cProfile (timer: process CPU time) of run_advance over {cprofile_runs} runs x "
            f"{steps} steps\n\nCPU ms per step by package (own time):\n"
        )
        for name, ms in by_package.items():
            text.write(f"  {name:<34} {ms:8.3f}\n")
        text.write("\n")
        stats.sort_stats("cumulative").print_stats(60)
        stats.sort_stats("tottime").print_stats(40)
        report_path.write_text(text.getvalue())
        out["cprofile"] = {
            "report": str(report_path),
            "function_calls_per_step": round(stats.total_calls / n_steps),
            "cpu_ms_per_step": rnd(stats.total_tt * 1000 / n_steps),
            "cpu_ms_per_step_by_package": by_package,
            "cumulative_cpu_ms_per_step": _cumulative(stats, n_steps),
        }

        # 4. The resume path: what an approval and the next run_advance execute.
        gate = active_playbook(org, author, gate_spec())
        run = run_start(playbook=gate, actor=author, inputs={})
        run_advance(run_id=run.pk)
        approval = Approval.objects.get(run=run, kind="gate")
        decide = Meter(keep_sql=True)
        with decide.active():
            approval_approve(approval=approval, actor=approver, body_hash=approval.body_hash)
        resume = Meter(keep_sql=True)
        with resume.active():
            resume_result = run_advance(run_id=run.pk)
        resume_shapes = [sql_shape(sql) for sql, _ in resume.statements]
        upto = next(
            (
                i
                for i, s in enumerate(resume_shapes)
                if s.startswith('INSERT INTO "playbooks_runstep"')
                and i > 0
                and any('"playbooks_toolinvocation"' in x for x in resume_shapes[:i])
            ),
            len(resume_shapes),
        )
        out["resume_path"] = {
            "approval_approve_statements": [sql_shape(sql) for sql, _ in decide.statements],
            "approval_approve_commits": decide.commits,
            "run_advance_result": str(resume_result),
            "run_advance_statements": resume_shapes,
            "statements_until_second_step_checkpoint": upto + 1,
            "run_advance_commits": resume.commits,
            "status_after": Run.objects.get(pk=run.pk).status,
        }
    return out


_PACKAGES = (
    ("django/db/models/sql", "django ORM: SQL compiler"),
    ("django/db/models", "django ORM: models, querysets, fields"),
    ("django/db/backends", "django db backend"),
    ("django/db", "django db: transactions"),
    ("django/", "django: other"),
    ("psycopg", "psycopg"),
    ("jinja2", "jinja2"),
    ("jsonschema", "jsonschema"),
    ("referencing", "jsonschema"),
    ("rpds", "jsonschema"),
    ("django_fsm", "django-fsm"),
    ("structlog", "logging"),
    ("/logging/", "logging"),
    ("redis", "redis client"),
    ("/json/", "stdlib json"),
    ("concurrent/futures", "threads: tool executor"),
    ("threading.py", "threads: tool executor"),
    ("queue.py", "threads: tool executor"),
    ("/playbooks/", "studio: playbooks (engine)"),
    ("/tools/", "studio: tools (broker)"),
    ("/approvals/", "studio: approvals"),
    ("/agentstudio/", "studio: agentstudio"),
    ("copy.py", "stdlib copy (deepcopy)"),
    ("uuid.py", "stdlib other"),
    ("pathlib", "pathlib (workspace mkdir)"),
)


def _package(filename: str, function: str) -> str:
    if filename == "~":  # built-ins: a C function, attributed by what it is
        if any(word in function for word in ("socket", "select", "poll", "_queue", "lock")):
            return "built-ins: I/O, locks, queues"
        if "mkdir" in function or "posix" in function or "stat" in function:
            return "pathlib (workspace mkdir)"
        return "built-ins: other"
    for marker, name in _PACKAGES:
        if marker in filename:
            return name
    return "stdlib other" if "/lib/python3" in filename else "other"


def _cpu_by_package(stats: pstats.Stats, steps: int) -> dict[str, float]:
    totals: Counter = Counter()
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():
        totals[_package(filename, function)] += tottime
    return {name: rnd(seconds * 1000 / steps) for name, seconds in totals.most_common()}


def _cumulative(stats: pstats.Stats, steps: int) -> dict[str, float]:
    """CPU per step under the engine's own functions (a function's callees included)."""
    wanted = {
        "step_execute",
        "execute_tool_step",
        "tool_call",
        "tool_execute",
        "schema_errors",
        "template_render_value",
        "template_context",
        "tool_context",
        "run_workspace",
        "checkpoint_step",
        "run_lock",
        "step_row",
        "run_events_append_locked",
        "run_events_publish_on_commit",
        "submit",
        "RunView.load",
        "load",
        "save",
        "bulk_create",
        "first",
        "commit",
        "lease_expiry",
        "_start",
        "_complete",
    }
    found: dict[str, float] = {}
    for (filename, line, function), (_cc, _nc, _tt, cumtime, _callers) in stats.stats.items():
        if function in wanted and ("/playbooks/" in filename or "/tools/" in filename):
            label = f"{filename.split('/work/main/')[-1]}:{line}({function})"
            found[label] = rnd(cumtime * 1000 / steps)
    return dict(sorted(found.items(), key=lambda item: -item[1]))


def _by_shape(shapes: list[str], seconds: list[float]) -> list[dict[str, Any]]:
    grouped: dict[str, list[float]] = {}
    for shape, elapsed in zip(shapes, seconds, strict=True):
        grouped.setdefault(shape, []).append(elapsed * 1000)
    rows = [
        {
            "statement": shape,
            "count": len(ms),
            "median_ms": rnd(summary(ms)["median"]),
            "total_ms": rnd(sum(ms)),
        }
        for shape, ms in grouped.items()
    ]
    return sorted(rows, key=lambda row: -row["total_ms"])


def _table(shape: str) -> str:
    match = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', shape)
    return match.group(1) if match else shape.split(" ")[0]


def main() -> None:
    """`.venv/bin/python -m bench.profile_engine`: the profile alone (no workers), on a freshly
    re-created bench database; prints JSON, writes bench/profile.txt.
    `... -m bench.profile_engine --loop 100` only executes 100 runs in-process (under an
    external sampler: `py-spy record -r 1000 -f raw -o stacks.txt -- <that command>`)."""
    import argparse
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from bench.infra import (
        DEFAULT_DATABASE_URL,
        DEFAULT_REDIS_URL,
        database_recreate,
        environment,
    )

    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    scratch = Path(tempfile.mkdtemp(prefix="agentstudio-bench-"))
    os.environ.update(
        environment(
            database_url=database_url,
            redis_url=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL),
            scratch=scratch,
        )
    )
    database_recreate(database_url)
    import django

    django.setup()
    from django.core.management import call_command

    from bench.engine_bench import people

    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", type=int, default=0)
    args = parser.parse_args()
    call_command("migrate", verbosity=0, interactive=False)
    org, author, approver = people()
    if args.loop:
        from playbooks.engine.runner import run_advance
        from playbooks.runs.starting import run_start

        playbook = active_playbook(org, author, echo_spec(20))
        with no_broker_publish():
            ids = [
                run_start(playbook=playbook, actor=author, inputs={}).pk for _ in range(args.loop)
            ]
            started = time.perf_counter()
            cpu = time.process_time()
            for run_id in ids:
                run_advance(run_id=run_id)
            steps = 20 * len(ids)
            print(
                json.dumps(
                    {
                        "steps": steps,
                        "wall_ms_per_step": (time.perf_counter() - started) * 1000 / steps,
                        "cpu_ms_per_step": (time.process_time() - cpu) * 1000 / steps,
                    }
                )
            )
        shutil.rmtree(scratch, ignore_errors=True)
        return
    out = profile_engine(
        org=org,
        author=author,
        approver=approver,
        steps=20,
        timed_runs=20,
        cprofile_runs=10,
        report_path=Path(__file__).resolve().parent / "profile.txt",
    )
    print(json.dumps(out, indent=2, default=str))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
