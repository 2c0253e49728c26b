"""The benchmark's services: its own PostgreSQL database, Redis db, worker processes.

Everything here is started and stopped by the benchmark itself; workers run in their own
process group so they can be killed as a group whatever happens to the driver.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/agentstudio_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"


def database_dsn(url: str, *, dbname: str | None = None) -> str:
    """A libpq connection string for psycopg from a postgres:// URL."""
    parsed = urlparse(url)
    parts = {
        "host": parsed.hostname or "127.0.0.1",
        "port": str(parsed.port or 5432),
        "user": parsed.username or "postgres",
        "dbname": dbname or parsed.path.lstrip("/"),
    }
    if parsed.password:
        parts["password"] = parsed.password
    return " ".join(f"{key}={value}" for key, value in parts.items())


def database_recreate(url: str) -> None:
    """Drops and re-creates the benchmark's database (never any other)."""
    import psycopg
    from psycopg import sql

    name = urlparse(url).path.lstrip("/")
    if not name.endswith("_bench"):
        raise SystemExit(f"refusing to drop {name!r}: the benchmark database ends in _bench")
    with psycopg.connect(database_dsn(url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def redis_flush(url: str) -> None:
    """Empties the benchmark's Redis db (broker queue, control replies, chain stamps)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def environment(*, database_url: str, redis_url: str, scratch: Path) -> dict[str, str]:
    """The driver's and the workers' environment: the bench's database and Redis db, no
    debug, quiet logs, scratch directories for var/ and run workspaces."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "agentstudio.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
            "AGENTSTUDIO_VAR_DIR": str(scratch / "var"),
            "AGENTSTUDIO_WORKSPACE_ROOT": str(scratch / "runs"),
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
            "BENCH_QUEUE": "agentstudio-bench",
        }
    )
    return env


class Workers:
    """N Celery worker processes (prefork, concurrency 1, -O fair, prefetch 1)."""

    def __init__(self, *, count: int, queue: str, env: dict[str, str], log_dir: Path) -> None:
        self.count = count
        self.queue = queue
        self.env = env
        self.log_dir = log_dir
        self.names = [f"bench{i + 1}@{os.uname().nodename}" for i in range(count)]
        self.procs: list[subprocess.Popen] = []

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        celery = str(Path(sys.executable).with_name("celery"))
        for index, name in enumerate(self.names):
            log = open(self.log_dir / f"worker{index + 1}.log", "w")  # noqa: SIM115
            command = [
                celery,
                "-A",
                "bench.celery_app",
                "worker",
                "-P",
                "prefork",
                "-c",
                "1",
                "-O",
                "fair",
                "--prefetch-multiplier",
                "1",
                "-Q",
                self.queue,
                "-n",
                name,
                "--without-gossip",
                "--without-mingle",
                "-l",
                "WARNING",
            ]
            self.procs.append(
                subprocess.Popen(  # noqa: S603
                    command,
                    cwd=ROOT,
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: killed as one
                )
            )
            log.close()

    def wait_ready(self, app, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p.pid for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"worker process(es) {dead} exited; see {self.log_dir}")
            replies = app.control.ping(destination=self.names, timeout=1.0) or []
            if len(replies) >= self.count:
                return
        raise RuntimeError(f"workers not ready after {timeout:g} s; see {self.log_dir}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the worker processes (masters and their pool children, every
        thread), from /proc: contention on the machine does not inflate it much, unlike
        wall-clock times."""
        tick = os.sysconf("SC_CLK_TCK")
        pids = [p.pid for p in self.procs]
        pids += [child for pid in list(pids) for child in _children(pid)]
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / tick

    def stop(self) -> None:
        """SIGTERM each group, then SIGKILL whatever is left: only our own process groups."""
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # children of a stopped master, if any
            if proc.poll() is None:
                proc.wait(timeout=5)
        self.procs = []
