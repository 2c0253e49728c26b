"""`make bench`: the run engine against its goals, on PostgreSQL + Redis with 2 workers.

    .venv/bin/python bench/run_bench.py [--quick] [--no-profile]

1. re-creates the database `agentstudio_bench` (migrated) and empties Redis db 7;
2. starts 2 Celery worker processes (prefork, concurrency 1, -O fair, prefetch 1);
3. (a) 200 runs of a 20-step playbook of `tools.studio.util.echo`: engine ms per step
   (median, p95) and steps/s; (b) the references: a bare Celery chain of 20 no-op tasks
   (ms per hop) and a raw UPDATE + INSERT + COMMIT (ms); (c) 1,000 runs paused at a gate:
   worker slots held, and the time from an approval's commit to the next step;
4. stops the workers (whatever happened), profiles the per-step path in-process;
5. prints a table and writes bench/results.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.infra import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    Workers,
    database_dsn,
    database_recreate,
    environment,
    redis_flush,
)

BENCH_DIR = ROOT / "bench"
WHAT_IFS = {
    "db-reuse": "workers keep their database connection across tasks (CELERY_DB_REUSE_MAX)",
    "async-commit": "every transaction of the driver and the workers with synchronous_commit=off",
}
GOALS = {
    "ratio_vs_celery": ("<=", 0.75),
    "ratio_vs_commit": ("<=", 2.0),
    "engine_steps_per_s": (">=", 600.0),
    "paused_worker_slots": ("<=", 0),
    "resume_ms_median": ("<=", 15.0),
}


def _machine() -> dict[str, object]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    info: dict[str, object] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024**2, 1),
        "python": platform.python_version(),
    }
    try:
        import celery
        import django
        import psycopg

        info.update(
            django=django.get_version(), celery=celery.__version__, psycopg=psycopg.__version__
        )
    except ImportError:
        pass
    with contextlib.suppress(OSError):
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    return info


def _service_versions() -> dict[str, str]:
    import redis
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    redis_version = redis.Redis.from_url(settings.REDIS_URL).info("server")["redis_version"]
    return {"postgresql": postgres, "redis": redis_version}


def _verdict(name: str, value: object) -> str:
    op, goal = GOALS[name]
    if value is None:
        return "n/a"
    ok = value <= goal if op == "<=" else value >= goal
    return "PASS" if ok else "FAIL"


def _table(results: dict) -> str:
    def fmt(value: object, unit: str = "") -> str:
        if value is None:
            return "n/a"
        if isinstance(value, float):
            return f"{value:.3f}{unit}" if abs(value) < 100 else f"{value:.1f}{unit}"
        return f"{value}{unit}"

    rows = [
        (
            "(a) engine ms/step, median",
            fmt(results.get("engine_ms_per_step_median"), " ms"),
            "",
            "",
        ),
        ("(a) engine ms/step, p95", fmt(results.get("engine_ms_per_step_p95"), " ms"), "", ""),
        (
            "(a) steps/s, 2 workers",
            fmt(results.get("engine_steps_per_s")),
            ">= 600",
            _verdict("engine_steps_per_s", results.get("engine_steps_per_s")),
        ),
        ("(b) bare Celery hop", fmt(results.get("celery_ms_per_step"), " ms"), "", ""),
        ("(b) raw UPDATE+INSERT+COMMIT", fmt(results.get("commit_ms"), " ms"), "", ""),
        (
            "(b) engine / Celery hop",
            fmt(results.get("ratio_vs_celery")),
            "<= 0.75",
            _verdict("ratio_vs_celery", results.get("ratio_vs_celery")),
        ),
        (
            "(b) engine / raw commit",
            fmt(results.get("ratio_vs_commit")),
            "<= 2",
            _verdict("ratio_vs_commit", results.get("ratio_vs_commit")),
        ),
        (
            "(c) worker slots held by paused runs",
            fmt(results.get("paused_worker_slots")),
            "0",
            _verdict("paused_worker_slots", results.get("paused_worker_slots")),
        ),
        (
            "(c) approval commit -> next step, median",
            fmt(results.get("resume_ms_median"), " ms"),
            "<= 15 ms",
            _verdict("resume_ms_median", results.get("resume_ms_median")),
        ),
    ]
    widths = [
        max(len(r[i]) for r in [("metric", "value", "goal", "result"), *rows]) for i in range(4)
    ]
    line = "+".join("-" * (w + 2) for w in widths)
    out = [line]
    for n, row in enumerate([("metric", "value", "goal", "result"), *rows]):
        out.append(" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            out.append(line)
    out.append(line)
    return "\n".join(out)


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _phase(results: dict, name: str, fn, *args, **kwargs) -> dict | None:
    """Runs one phase; notes its duration, the machine's CPU use and load meanwhile."""
    started = time.monotonic()
    busy0, total0 = _cpu_times()
    print(f"[bench] {name} ...", flush=True)
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:  # one failing phase still leaves the others' numbers
        traceback.print_exc()
        results.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
        value = None
    busy1, total1 = _cpu_times()
    elapsed = time.monotonic() - started
    cpu = round(100.0 * (busy1 - busy0) / (total1 - total0), 1) if total1 > total0 else None
    results.setdefault("phases", {})[name] = {
        "seconds": round(elapsed, 1),
        "machine_cpu_busy_pct": cpu,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(f"[bench] {name} done in {elapsed:.1f} s (machine CPU {cpu}% busy)", flush=True)
    return value


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--chains", type=int, default=50)
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--gate-runs", type=int, default=1000)
    parser.add_argument("--approve", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--output", default=None, help="default bench/results.json")
    parser.add_argument(
        "--what-if",
        action="append",
        default=[],
        choices=sorted(WHAT_IFS),
        help="measure a configuration the studio does not ship (to size a proposal); "
        "written to bench/results-whatif-<names>.json unless --output is given",
    )
    args = parser.parse_args()
    if args.output is None:
        suffix = "-whatif-" + "-".join(sorted(args.what_if)) if args.what_if else ""
        args.output = str(BENCH_DIR / f"results{suffix}.json")
    if "async-commit" in args.what_if:
        separator = "&" if "?" in args.database_url else "?"
        args.database_url += f"{separator}options=-c%20synchronous_commit%3Doff"
    if args.quick:
        args.runs, args.chains, args.commits, args.gate_runs, args.approve = 20, 10, 100, 40, 20

    started_at = datetime.now(UTC)
    wall = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="agentstudio-bench-"))
    env = environment(database_url=args.database_url, redis_url=args.redis_url, scratch=scratch)
    if "db-reuse" in args.what_if:
        env["BENCH_DB_REUSE_MAX"] = "100000"
    for name in args.what_if:
        print(f"[bench] WHAT-IF {name}: {WHAT_IFS[name]}", flush=True)
    os.environ.update(env)

    def _terminate(signum, frame):  # run the finally blocks on SIGTERM too
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    if load_at_start[0] > 1.0:
        print(
            f"[bench] WARNING: load average {load_at_start} before starting: other work on "
            "this machine competes for the CPUs and inflates every number",
            flush=True,
        )
    print(f"[bench] database {args.database_url} (re-created), redis {args.redis_url}", flush=True)
    database_recreate(args.database_url)
    redis_flush(args.redis_url)

    import django

    django.setup()
    from django.core.management import call_command

    t0 = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    print(f"[bench] migrated in {time.monotonic() - t0:.1f} s", flush=True)

    from bench.celery_app import QUEUE, app
    from bench.engine_bench import bench_gate, bench_steps, people
    from bench.references import bench_celery_chain, bench_commit

    meta: dict = {}  # phases (time, CPU, load) and errors
    details: dict = {}
    workers = Workers(count=args.workers, queue=QUEUE, env=env, log_dir=BENCH_DIR / "logs")
    org, author, approver = people()
    try:
        workers.start()
        workers.wait_ready(app)
        print(f"[bench] {args.workers} workers ready: {', '.join(workers.names)}", flush=True)
        details["a_engine"] = _phase(
            meta,
            "(a) engine, 20-step no-op playbook",
            bench_steps,
            app=app,
            queue=QUEUE,
            workers=workers.names,
            worker_cpu=workers.cpu_seconds,
            org=org,
            author=author,
            runs=args.runs,
            steps=args.steps,
            warmup=4,
            timeout=180,
        )
        details["b_celery_chain"] = _phase(
            meta,
            "(b) bare Celery chain",
            bench_celery_chain,
            length=args.steps,
            chains=args.chains,
            warmup=3,
            concurrent=10,
            worker_cpu=workers.cpu_seconds,
        )
        details["b_commit"] = _phase(
            meta,
            "(b) raw commit",
            bench_commit,
            dsn=database_dsn(args.database_url),
            iterations=args.commits,
            warmup=50,
        )
        details["c_gate"] = _phase(
            meta,
            "(c) runs paused at a gate",
            bench_gate,
            app=app,
            workers=workers.names,
            org=org,
            author=author,
            approver=approver,
            runs=args.gate_runs,
            approve=args.approve,
            warmup=4,
            timeout=240,
        )
    except KeyboardInterrupt:
        meta.setdefault("errors", {})["interrupted"] = True
        print("[bench] interrupted", flush=True)
    finally:
        workers.stop()
        print("[bench] workers stopped", flush=True)

    if "interrupted" not in meta.get("errors", {}):
        from bench.checks_bench import bench_checks

        details["d_checks"] = _phase(
            meta,
            "(d) budget and rate-limit checks per call",
            bench_checks,
            org=org,
            count=200 if args.quick else 2000,
        )

    if not args.no_profile and "interrupted" not in meta.get("errors", {}):
        from bench.profile_engine import profile_engine

        details["profile"] = _phase(
            meta,
            "profile (in-process run_advance)",
            profile_engine,
            org=org,
            author=author,
            approver=approver,
            steps=args.steps,
            timed_runs=20,
            cprofile_runs=10,
            report_path=BENCH_DIR / "profile.txt",
        )

    a = details.get("a_engine") or {}
    chain = details.get("b_celery_chain") or {}
    commit = details.get("b_commit") or {}
    gate = details.get("c_gate") or {}
    results: dict = {"checks_per_call": details.get("d_checks") or {}}
    results.update(
        {
            "engine_ms_per_step_median": a.get("engine_ms_per_step_median"),
            "engine_ms_per_step_p95": a.get("engine_ms_per_step_p95"),
            "engine_steps_per_s": a.get("engine_steps_per_s"),
            "celery_ms_per_step": chain.get("celery_ms_per_step"),
            "commit_ms": commit.get("commit_ms"),
            "paused_worker_slots": gate.get("paused_worker_slots"),
            "resume_ms_median": gate.get("resume_ms_median"),
        }
    )
    engine = results["engine_ms_per_step_median"]
    results["ratio_vs_celery"] = (
        round(engine / results["celery_ms_per_step"], 3)
        if engine and results["celery_ms_per_step"]
        else None
    )
    results["ratio_vs_commit"] = (
        round(engine / results["commit_ms"], 3) if engine and results["commit_ms"] else None
    )
    results["goals"] = {
        name: {
            "goal": f"{op} {goal:g}",
            "value": results.get(name),
            "result": _verdict(name, results.get(name)),
        }
        for name, (op, goal) in GOALS.items()
    }
    try:
        services = _service_versions()
    except Exception:  # the report is still written
        services = {}
    results["machine"] = {
        **_machine(),
        **services,
        "loadavg_at_start": load_at_start,
        "workers": args.workers,
        "worker_options": "prefork -c 1 -O fair --prefetch-multiplier 1",
    }
    results["timestamp"] = started_at.isoformat()
    results["duration_s"] = round(time.monotonic() - wall, 1)
    results["config"] = {k: v for k, v in vars(args).items() if k != "output"}
    results["what_if"] = {name: WHAT_IFS[name] for name in args.what_if}
    results.update(meta)
    results["details"] = details

    print()
    if args.what_if:
        print(f"WHAT-IF (not the shipped configuration): {', '.join(args.what_if)}")
    print(_table(results))
    if results["checks_per_call"]:
        print("\n(d) per call, in-process")
        for name, row in results["checks_per_call"].items():
            print(f"  {name:<30} median {row['median_ms']:.3f} ms, p95 {row['p95_ms']:.3f} ms")
    Path(args.output).write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\n[bench] wrote {args.output} ({results['duration_s']} s)")
    shutil.rmtree(scratch, ignore_errors=True)
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
