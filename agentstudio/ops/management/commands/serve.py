"""`manage.py serve [--port N] [--host H] [--workers N]`: web + Celery worker + beat as one unit.

A small supervisor behind `make up`. It starts uvicorn, a Celery worker and Celery beat as
child processes with this command's own Python, prefixes every line they print with the
child's name and forwards SIGINT/SIGTERM to all of them. A worker or beat that dies is
started again (after 1 s, doubling to 30 s while it keeps dying; each restart is logged) and
the web server stays up meanwhile; when the web server dies it stops the others and exits
with its status (128+N if signal N killed it; 1 if it exited 0, since a service that stops
by itself is a failure). Each child runs in its own process group, so the whole tree below
it can be signalled (a dead worker's pool is killed before its successor starts), and gets
SIGTERM from the kernel if the supervisor itself is killed (even with SIGKILL), so nothing
is left behind.
"""

import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import sys
import time
from typing import Any

import structlog
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

ASGI_APP = "agentstudio.ops.asgi:application"  # agentstudio.asgi plus the collected static files
STOP_GRACE_SECONDS = 20.0
RESTARTED = ("worker", "beat")  # started again when they die; the web server's death ends all
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
STABLE_SECONDS = 60.0  # a child that stayed up this long starts its backoff over
_log = structlog.get_logger("agentstudio.serve")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_LIBC: Any = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_supervisor(supervisor_pid: int) -> None:
    """Runs in each child between fork and exec: SIGTERM it when the supervisor dies."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor_pid:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


class Command(BaseCommand):
    help = "Run the web server (uvicorn), a Celery worker and Celery beat; restart the last two."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--workers", type=int, default=2, help="Celery worker concurrency")

    def handle(self, *args: Any, **options: Any) -> None:
        host, port, workers = options["host"], str(options["port"]), str(options["workers"])
        schedule = str(settings.CELERY_BEAT_SCHEDULE_FILENAME)
        python, celery = [sys.executable, "-m"], ["celery", "-A", "agentstudio"]
        web = ["--host", host, "--port", port, "--lifespan", "on"]
        commands = {
            "web": [*python, "uvicorn", ASGI_APP, *web],
            "worker": [*python, *celery, "worker", "-l", "INFO", "--concurrency", workers],
            "beat": [*python, *celery, "beat", "-l", "INFO", "--schedule", schedule],
        }
        self.width = max(len(name) for name in [*commands, "serve"])
        self.signals: list[int] = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda signum, frame: self.signals.append(signum))
        self.say(f"Agent Studio on http://{host}:{port}/  admin: /admin/  API docs: /api/v1/docs/")
        raise SystemExit(self.supervise(commands))

    def say(self, text: str, name: str = "serve") -> None:
        sys.stdout.buffer.write(f"{name:<{self.width}} | {text}\n".encode())
        sys.stdout.buffer.flush()

    def supervise(self, commands: dict[str, list[str]]) -> int:
        self.commands = commands
        self.environment = dict(os.environ, PYTHONUNBUFFERED="1")
        self.environment["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.started_at: dict[str, float] = {}
        self.restarts: dict[str, int] = dict.fromkeys(commands, 0)  # in a row, for the backoff
        self.selector = selectors.DefaultSelector()
        self.pending: dict[Any, bytes] = {}  # stream → its incomplete last line
        for name in commands:
            self.start(name)

        exit_code, deadline, handled = 0, None, 0
        restart_at: dict[str, float] = {}  # dead child → when it starts again
        while True:
            for key, _events in self.selector.select(timeout=0.2):
                self.relay(key.data, key.fileobj, self.selector, self.pending)
            children = self.children
            if deadline is None:
                dead = [n for n, p in children.items() if p.poll() is not None]
                if self.signals:
                    handled = len(self.signals)
                    self.say(f"got {signal.Signals(self.signals[-1]).name}; stopping all")
                    self.signal_all(children, self.signals[-1], group=False)
                    deadline, restart_at = time.monotonic() + STOP_GRACE_SECONDS, {}
                elif essential := next((n for n in dead if n not in RESTARTED), None):
                    status = children[essential].returncode
                    exit_code = 128 - status if status < 0 else status or 1
                    self.say(f"{essential} exited with status {status}; stopping the others")
                    self.signal_all(children, signal.SIGTERM, group=False)
                    deadline, restart_at = time.monotonic() + STOP_GRACE_SECONDS, {}
                else:
                    for name in dead:
                        if name not in restart_at:
                            restart_at[name] = time.monotonic() + self.backoff(name)
                    for name, at in list(restart_at.items()):
                        if time.monotonic() >= at:
                            del restart_at[name]
                            self.restart(name)
            elif time.monotonic() > deadline or len(self.signals) > handled:
                self.say("children did not stop in time (or asked twice): killing them")
                self.signal_all(children, signal.SIGKILL)
                deadline, handled = float("inf"), len(self.signals)
            if deadline is not None and all(p.poll() is not None for p in children.values()):
                self.signal_all(children, signal.SIGKILL)  # stray grandchildren of each group
                while self.selector.get_map() and (ready := self.selector.select(timeout=0.5)):
                    for key, _events in ready:
                        self.relay(key.data, key.fileobj, self.selector, self.pending)
                break
        for name, process in self.children.items():
            self.say(f"{name} stopped with status {process.returncode}")
        return exit_code

    def start(self, name: str) -> subprocess.Popen[bytes]:
        supervisor_pid, argv = os.getpid(), self.commands[name]
        process = subprocess.Popen(  # noqa: S603 (our own argv, no shell)
            argv,
            cwd=settings.BASE_DIR,
            env=self.environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
            preexec_fn=lambda: _die_with_supervisor(supervisor_pid),
        )
        self.children[name], self.started_at[name] = process, time.monotonic()
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)
        self.selector.register(process.stdout, selectors.EVENT_READ, name)
        self.pending[process.stdout] = b""
        self.say(f"started {name} (pid {process.pid}): {' '.join(argv[2:])}")
        return process

    def backoff(self, name: str) -> float:
        """Seconds until a dead worker or beat starts again: 1, doubling to 30 while it
        keeps dying, from 1 again once it had stayed up a while. Logged, with its status."""
        process = self.children[name]
        if time.monotonic() - self.started_at[name] >= STABLE_SECONDS:
            self.restarts[name] = 0
        self.restarts[name] += 1
        delay = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (self.restarts[name] - 1))
        _log.warning(
            "serve child died; restarting it",
            child=name,
            pid=process.pid,
            status=process.returncode,
            restart_in_seconds=delay,
            restarts_in_a_row=self.restarts[name],
        )
        # What it started (a worker's pool) must not outlive it, nor run beside its successor.
        self.signal_all({name: process}, signal.SIGKILL)
        return delay

    def restart(self, name: str) -> None:
        previous = self.children[name].pid
        process = self.start(name)
        _log.warning("serve child restarted", child=name, pid=process.pid, previous_pid=previous)

    def relay(
        self, name: str, stream: Any, selector: selectors.BaseSelector, pending: dict[Any, bytes]
    ) -> None:
        """Prints the complete lines a child wrote; at end of file, what is left."""
        try:
            chunk = os.read(stream.fileno(), 65536)
        except BlockingIOError:
            return
        *lines, pending[stream] = (pending[stream] + chunk).split(b"\n")
        if not chunk:  # end of file: the child and everything it started closed the pipe
            selector.unregister(stream)
            stream.close()
            rest = pending.pop(stream)
            lines += [rest] if rest else []
        for line in lines:
            sys.stdout.buffer.write(f"{name:<{self.width}} | ".encode() + line + b"\n")
        sys.stdout.buffer.flush()

    def signal_all(
        self, children: dict[str, subprocess.Popen[bytes]], signum: int, group: bool = True
    ) -> None:
        """Signals each child (a graceful stop: it stops its own subprocesses, as Celery's
        worker does its pool) or, with `group`, everything in each child's process group."""
        for process in children.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
                if group:
                    os.killpg(process.pid, signum)
                elif process.poll() is None:
                    os.kill(process.pid, signum)
