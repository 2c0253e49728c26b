"""(b) the two references measured on the same services as the engine:

* a bare Celery chain of no-op tasks on the same workers and broker (time per hop);
* one raw PostgreSQL transaction, UPDATE one row + INSERT one row + COMMIT (the floor for a
  durable checkpoint), through psycopg with autocommit off, as Django talks to the database.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.stats import rnd, summary


def bench_celery_chain(
    *, length: int, chains: int, warmup: int, concurrent: int, worker_cpu: Any
) -> dict[str, Any]:
    import redis
    from celery import chain
    from django.conf import settings

    from bench.celery_app import noop

    client = redis.Redis.from_url(settings.REDIS_URL)

    def launch() -> tuple[str, float]:
        chain_id = uuid.uuid4().hex
        signature = chain(*[noop.si(chain_id, i == length - 1) for i in range(length)])
        started = time.time()
        signature.apply_async()
        return chain_id, started

    def finished_at(chain_id: str) -> float:
        reply = client.blpop([f"bench:chain:{chain_id}"], timeout=30)
        if reply is None:
            raise RuntimeError("a Celery chain did not finish in 30 s")
        return float(reply[1])

    for _ in range(warmup):
        chain_id, _started = launch()
        finished_at(chain_id)
    per_hop = []
    cpu_before = worker_cpu()
    for _ in range(chains):  # one chain at a time: the latency of one hop
        chain_id, started = launch()
        per_hop.append((finished_at(chain_id) - started) * 1000 / length)

    cpu_ms_per_hop = (worker_cpu() - cpu_before) * 1000 / (chains * length)

    # Throughput: `concurrent` chains at once keep both workers busy.
    begun = time.time()
    launched = [launch() for _ in range(concurrent)]
    ends = [finished_at(chain_id) for chain_id, _ in launched]
    hops_per_s = concurrent * length / (max(ends) - begun)
    stats = summary(per_hop)
    return {
        "chain_length": length,
        "chains": chains,
        "warmup_chains": warmup,
        "ms_per_hop": {k: rnd(v) if isinstance(v, float) else v for k, v in stats.items()},
        "worker_cpu_ms_per_hop": rnd(cpu_ms_per_hop),
        "concurrent_chains": concurrent,
        "hops_per_s_concurrent": rnd(hops_per_s, 1),
        "celery_ms_per_step": rnd(stats["median"]),
    }


def bench_commit(*, dsn: str, iterations: int, warmup: int) -> dict[str, Any]:
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(dsn, autocommit=False) as conn:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_floor_log, bench_floor_row")
            cur.execute(
                "CREATE TABLE bench_floor_row (id integer PRIMARY KEY, n bigint NOT NULL, "
                "updated_at timestamptz NOT NULL)"
            )
            cur.execute(
                "CREATE TABLE bench_floor_log (id bigserial PRIMARY KEY, row_id integer NOT NULL "
                "REFERENCES bench_floor_row (id), created_at timestamptz NOT NULL, data jsonb)"
            )
            cur.execute("INSERT INTO bench_floor_row VALUES (1, 0, now())")
        conn.commit()
        timings = []
        with conn.cursor() as cur:
            for i in range(warmup + iterations):
                started = time.perf_counter()
                cur.execute("UPDATE bench_floor_row SET n = n + 1, updated_at = now() WHERE id = 1")
                cur.execute(
                    "INSERT INTO bench_floor_log (row_id, created_at, data) VALUES (1, now(), %s)",
                    [Jsonb({"step": "s01", "index": i, "attempt": 1})],
                )
                conn.commit()
                if i >= warmup:
                    timings.append((time.perf_counter() - started) * 1000)
        settings = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]
            for name in ("synchronous_commit", "fsync", "wal_sync_method", "shared_buffers")
        }
        conn.rollback()
        connect_ms = []
        for _ in range(20):
            started = time.perf_counter()
            psycopg.connect(dsn).close()
            connect_ms.append((time.perf_counter() - started) * 1000)
    stats = summary(timings)
    return {
        "iterations": iterations,
        "warmup": warmup,
        "ms": {k: rnd(v) if isinstance(v, float) else v for k, v in stats.items()},
        "postgres_settings": settings,
        "new_connection_ms": {
            k: rnd(v) if isinstance(v, float) else v for k, v in summary(connect_ms).items()
        },
        "commit_ms": rnd(stats["median"]),
    }
