"""Process harness for end-to-end tests: a private Redis, Celery workers and beat as real
subprocesses, each in its own process group with its log in a file, killed no matter what.

`ProcessStack` is the unit a test gets (see tests/e2e/conftest.py): one private
`redis-server` on a spare loopback port (broker and pub/sub), a shared workspace root, and
the environment that points every child at the pytest-django test database. Nothing here is
shared between tests or xdist workers: own ports, own Redis, own temporary directory.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

BASE_DIR = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
T = TypeVar("T")

_LIVE: dict[int, ChildProcess] = {}  # pid → child, for the last-resort cleanup at exit


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def wait_for(
    condition: Callable[[], T], timeout: float, *, interval: float = 0.1, message: str = ""
) -> T:
    """Polls `condition` until it returns something truthy and returns that; raises
    AssertionError (saying what was awaited) once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            what = message or getattr(condition, "__name__", repr(condition))
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class DeadlineExceeded(AssertionError):
    """The test ran past its time budget (raised in the main thread by SIGALRM)."""


@contextlib.contextmanager
def deadline(seconds: float, *, what: str = "the test") -> Iterator[None]:
    """Bounds the wall time of the block: after `seconds`, DeadlineExceeded is raised in the
    main thread wherever it is (a wait, a sleep, a query), so teardown still runs. A no-op
    outside the main thread, where signals cannot be handled."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: Any) -> None:
        raise DeadlineExceeded(f"{what} ran over its {seconds:g} s budget")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it if the test process dies (Linux only)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class ChildProcess:
    """One subprocess in its own process group (its children too), logging to a file."""

    def __init__(
        self, name: str, argv: list[str], *, env: Mapping[str, str], cwd: Path, log_path: Path
    ) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ChildProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"==== {time.strftime('%H:%M:%S')} start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        _LIVE[self.popen.pid] = self
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None, f"{self.name} was never started"
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)  # start_new_session: pgid == pid

    def kill(self) -> None:
        """SIGKILL to the whole group (a Celery worker and its pool child die together)."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
        _LIVE.pop(self.popen.pid, None)

    def terminate(self, timeout: float = 5.0) -> None:
        """SIGTERM to the group; SIGKILL what is still there after `timeout` seconds."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=timeout)
        self.kill()  # also reaps any group member the leader left behind

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 80, *, width: int = 400) -> str:
        """The last `lines` lines, each cut to `width` characters (tracebacks are long)."""
        return "\n".join(
            line if len(line) <= width else line[:width] + " …"
            for line in self.log_text().splitlines()[-lines:]
        )

    def wait_for_log(self, text: str, timeout: float) -> None:
        """Waits until `text` appears in the log; fails early when the process exits."""

        def seen() -> bool:
            if text in self.log_text():
                return True
            if not self.alive:
                raise AssertionError(
                    f"{self.name} exited ({self.popen and self.popen.returncode}) before "
                    f"logging {text!r}:\n{self.tail()}"
                )
            return False

        wait_for(seen, timeout, message=f"{self.name} to log {text!r}")


@atexit.register
def _kill_leftovers() -> None:
    for child in list(_LIVE.values()):
        child.kill()


class RedisServer:
    """A private `redis-server` without persistence, so a restart loses every message."""

    def __init__(self, directory: Path, *, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH; the end-to-end tests need it.")
        self.binary = binary
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.process: ChildProcess | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def start(self, timeout: float = 10.0) -> RedisServer:
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", LOOPBACK,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = ChildProcess(
            "redis", argv, env=os.environ, cwd=self.directory, log_path=self.directory / "redis.log"
        ).start()
        wait_for(self.ping, timeout, message=f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        if self.process is None or not self.process.alive:
            if self.process is not None and self.process.popen is not None:
                raise AssertionError(f"redis-server exited:\n{self.process.tail()}")
            return False
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stops the server (SIGTERM, no save): every queued and unacked message is gone."""
        if self.process is not None:
            self.process.terminate()

    def restart(self, *, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()


def database_url(settings_dict: Mapping[str, Any]) -> str:
    """A DATABASE_URL for the database Django is connected to (the pytest-django test DB)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or LOOPBACK
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{credentials}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


class ProcessStack:
    """Private Redis + Celery workers + beat for one test; `close()` leaves nothing behind.

    Workers run `celery -A agentstudio worker --concurrency 1` (prefork: a main process and
    one pool child, one process group) with short leases, so a killed worker's run is picked
    up again within seconds by the beat task `runs.requeue_stalled`. A timing set to None
    (before the children start) leaves the shipped default in force.
    """

    def __init__(
        self,
        directory: Path,
        *,
        database_url: str,
        secret_key: str,
        var_dir: Path,
        lease_seconds: int | None = 6,
        stalled_seconds: int | None = 2,
        requeue_interval_seconds: float | None = 1.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.workspace_root = directory / "workspaces"
        self.workspace_root.mkdir(parents=True, exist_ok=True)
        self.logs = directory / "logs"
        self.redis = RedisServer(directory / "redis")
        self.database_url = database_url
        self.secret_key = secret_key
        self.var_dir = var_dir
        self.lease_seconds = lease_seconds
        self.stalled_seconds = stalled_seconds
        self.requeue_interval_seconds = requeue_interval_seconds
        self.extra_env = dict(extra_env or {})
        self.workers: list[ChildProcess] = []
        self.beat: ChildProcess | None = None
        self.children: list[ChildProcess] = []

    @property
    def broker_url(self) -> str:
        return self.redis.url(0)

    @property
    def redis_url(self) -> str:
        return self.redis.url(1)

    def start(self) -> ProcessStack:
        self.redis.start()
        return self

    def child_env(self, **overrides: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "agentstudio.settings",
                "DJANGO_SECRET_KEY": self.secret_key,
                "DATABASE_URL": self.database_url,
                "CELERY_BROKER_URL": self.broker_url,
                "REDIS_URL": self.redis_url,
                "AGENTSTUDIO_VAR_DIR": str(self.var_dir),
                "AGENTSTUDIO_WORKSPACE_ROOT": str(self.workspace_root),
                "AGENTSTUDIO_TOOL_MODULES": "tests.support.tools",
                "AGENTSTUDIO_HTTP_ALLOW": LOOPBACK,
                "PYTHONPATH": os.pathsep.join(
                    [str(BASE_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
                ),
                "PYTHONUNBUFFERED": "1",
            }
        )
        timings = {
            "AGENTSTUDIO_RUN_LEASE_SECONDS": self.lease_seconds,
            # steps must fit in the short lease, or each would extend it past the test
            "AGENTSTUDIO_STEP_TIMEOUT_SECONDS": (
                None if self.lease_seconds is None else max(1, self.lease_seconds - 2)
            ),
            "AGENTSTUDIO_STALLED_RUN_SECONDS": self.stalled_seconds,
            "AGENTSTUDIO_REQUEUE_INTERVAL_SECONDS": self.requeue_interval_seconds,
        }
        for name, value in timings.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = str(value)
        env.update(self.extra_env)
        env.update(overrides)
        return env

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> ChildProcess:
        child = ChildProcess(name, argv, env=env, cwd=BASE_DIR, log_path=self.logs / f"{name}.log")
        self.children.append(child)
        return child.start()

    def start_worker(self, *, ready_timeout: float = 30.0, **env_overrides: str) -> ChildProcess:
        """Starts worker w<n> and waits until it consumes from the private broker."""
        name = f"w{len(self.workers) + 1}"
        argv = [
            sys.executable, "-m", "celery", "-A", "agentstudio", "worker",
            "-l", "INFO", "--concurrency", "1", "-n", f"{name}@%h",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        worker = self._spawn(f"worker-{name}", argv, self.child_env(**env_overrides))
        self.workers.append(worker)
        worker.wait_for_log(" ready.", ready_timeout)
        return worker

    def start_beat(self, *, ready_timeout: float = 30.0) -> ChildProcess:
        """Starts beat (its own schedule file) and waits for its first stalled-run sweep."""
        assert self.beat is None or not self.beat.alive, "beat already runs"
        argv = [
            sys.executable, "-m", "celery", "-A", "agentstudio", "beat", "-l", "INFO",
            "-s", str(self.directory / "beat-schedule"), "--max-interval", "1",
        ]  # fmt: skip
        self.beat = self._spawn("beat", argv, self.child_env())
        self.beat.wait_for_log("runs.requeue_stalled", ready_timeout)
        return self.beat

    def start_serve(self, *, port: int, **env_overrides: str) -> ChildProcess:
        """Starts `manage.py serve` (web, one worker, beat: its own children) on `port`."""
        argv = [
            sys.executable, "manage.py", "serve", "--port", str(port), "--workers", "1",
        ]  # fmt: skip
        return self._spawn("serve", argv, self.child_env(**env_overrides))

    def logs_tail(self, lines: int = 60) -> str:
        parts = []
        for child in [*self.children, *([self.redis.process] if self.redis.process else [])]:
            state = "alive" if child.alive else f"exited {child.popen and child.popen.returncode}"
            parts.append(f"---- {child.name} ({state}) {child.log_path}\n{child.tail(lines)}")
        return "\n".join(parts)

    def close(self) -> None:
        """Kills every child (SIGKILL, whole groups), then Redis. Safe to call twice."""
        for child in self.children:
            child.kill()
        if self.redis.process is not None:
            self.redis.process.kill()
