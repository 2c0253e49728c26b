"""The studio's Celery app as the benchmark's workers run it: the same app and settings, a
queue of the benchmark's own, and one extra no-op task for the bare-Celery reference.

Workers start with `celery -A bench.celery_app worker ...`; the driver imports this module
too, so its doorbells (`advance_run.apply_async`) go to the same queue.
"""

from __future__ import annotations

import os
import time

from agentstudio.celery import app

QUEUE = os.environ.get("BENCH_QUEUE", "agentstudio-bench")
app.conf.update(task_default_queue=QUEUE)
if os.environ.get("BENCH_DB_REUSE_MAX"):
    # What-if only (`run_bench.py --what-if db-reuse`): Celery's Django fixup closes every
    # database connection before and after each task unless this is set.
    app.conf.update(CELERY_DB_REUSE_MAX=int(os.environ["BENCH_DB_REUSE_MAX"]))

_redis = None


def _client():
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(os.environ["REDIS_URL"])
    return _redis


@app.task(name="bench.noop", ignore_result=True)
def noop(chain_id: str = "", last: bool = False) -> None:
    """Does nothing; the last hop of a chain writes its wall-clock time for the driver."""
    if last:
        _client().rpush(f"bench:chain:{chain_id}", repr(time.time()))
