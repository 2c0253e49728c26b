"""Time from a worker's SIGKILL to its run resuming on another worker, on the shipped lease,
stall and sweep timings: real Celery workers and beat on a private Redis (the e2e harness,
tests/support/processes.py), the database of DATABASE_URL (migrated here).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/agentstudio_h_recovery \\
        .venv/bin/python -m bench.recovery_bench --repeat 5

Each repetition starts a run of three 3 s steps, SIGKILLs the worker (main process and pool
child) that holds it while step s1 runs, and measures until (1) another worker claims the
run's lease and (2) s1 starts executing again (the slow tool writes its call key as it
starts). Prints every repetition and the medians; writes nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentstudio.settings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from agentstudio.accounts.models import Role
    from agentstudio.accounts.services import organization_create, user_create
    from agentstudio.billing.services import credits_grant
    from agentstudio.celery import app as celery_app
    from agentstudio.redis_client import redis_client
    from playbooks.engine.workspace import run_workspace
    from playbooks.models import Run
    from playbooks.runs.starting import run_start
    from playbooks.services import playbook_activate_as_system, playbook_create
    from playbooks.spec.checked import spec_check
    from tests.support.processes import ProcessStack, database_url, wait_for
    from tests.support.tool_definitions import SLOW, e2e_tools_register

    call_command("migrate", verbosity=0)
    e2e_tools_register()
    scratch = Path(tempfile.mkdtemp(prefix="recovery-bench-"))
    stack = ProcessStack(
        scratch,
        database_url=database_url(connection.settings_dict),
        secret_key=settings.SECRET_KEY,
        var_dir=scratch / "var",
        lease_seconds=None,  # the shipped defaults
        stalled_seconds=None,
        requeue_interval_seconds=None,
    )
    results = []
    try:
        stack.start()
        celery_app.conf.broker_url = stack.broker_url
        settings.REDIS_URL = stack.redis_url
        settings.AGENTSTUDIO_WORKSPACE_ROOT = stack.workspace_root
        redis_client.cache_clear()
        stamp = str(int(time.time()))
        organization = organization_create(name=f"Recovery bench {stamp}")
        credits_grant(organization=organization, amount="1000000")  # starts reserve max_usd
        author = user_create(
            organization=organization,
            username=f"recovery-bench-{stamp}",
            role=Role.AUTHOR,
            password=None,
            email=f"recovery-bench-{stamp}@example.com",
        )
        spec = {
            "name": "Recovery bench",
            "tools": [SLOW],
            "steps": [
                {"id": f"s{i}", "tool": SLOW, "args": {"seconds": 3, "trace": "t.txt"}}
                for i in range(3)
            ],
        }
        checked = spec_check(spec=spec, organization_id=organization.pk)
        playbook = playbook_activate_as_system(
            playbook=playbook_create(
                organization=organization, actor=author, checked=checked, allowed_users=[]
            )
        )
        stack.start_beat(ready_timeout=60)
        workers = [stack.start_worker(), stack.start_worker()]
        for repetition in range(1, args.repeat + 1):
            run = run_start(playbook=playbook, actor=author, inputs={})
            trace = run_workspace(run.pk) / "t.txt"
            s1 = f"{run.pk}:s1@1:0"

            def calls(trace: Path = trace) -> list[str]:
                return trace.read_text().splitlines() if trace.exists() else []

            wait_for(lambda s1=s1, calls=calls: s1 in calls(), 60, interval=0.02)
            owner = Run.objects.values_list("lease_owner", flat=True).get(pk=run.pk)
            pgid = os.getpgid(int(owner.split(":")[1]))
            holder = next(worker for worker in workers if worker.pid == pgid)
            killed_at = time.monotonic()
            holder.kill()
            claimed = step = None
            while step is None or claimed is None:
                now = time.monotonic() - killed_at
                if claimed is None:
                    current = Run.objects.values_list("lease_owner", flat=True).get(pk=run.pk)
                    if current not in ("", owner):
                        claimed = now
                if step is None and calls().count(s1) == 2:
                    step = now
                if now > 120:
                    raise SystemExit(f"repetition {repetition}: no resume within 120 s")
                time.sleep(0.02)
            workers.remove(holder)
            workers.append(stack.start_worker())
            wait_for(
                lambda pk=run.pk: Run.objects.get(pk=pk).status == "succeeded", 60, interval=0.2
            )
            results.append({"repetition": repetition, "claimed_s": claimed, "resumed_s": step})
            print(
                f"repetition {repetition}: lease claimed by another worker after "
                f"{claimed:.2f} s, s1 running again after {step:.2f} s",
                flush=True,
            )
    finally:
        stack.close()
    resumed = [result["resumed_s"] for result in results]
    claimed = [result["claimed_s"] for result in results]
    print(
        json.dumps(
            {
                "lease_seconds": settings.AGENTSTUDIO_RUN_LEASE_SECONDS,
                "requeue_interval_seconds": settings.CELERY_BEAT_SCHEDULE["runs-requeue-stalled"][
                    "schedule"
                ],
                "resumed_s": [round(value, 2) for value in resumed],
                "resumed_median_s": round(statistics.median(resumed), 2),
                "claimed_median_s": round(statistics.median(claimed), 2),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
