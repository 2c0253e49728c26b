"""`manage.py serve [--port N] [--host H] [--workers N]`: web + Celery worker + beat as one unit.

A small supervisor behind `make up`. It starts uvicorn, a Celery worker and Celery beat as
child processes with this command's own Python, prefixes every line they print with the
child's name, forwards SIGINT/SIGTERM to all of them, and when any child dies it stops the
others and exits with that child's status (128+N if signal N killed it; 1 if it exited 0,
since a service that stops by itself is a failure). Each child runs in its own process
group, so the whole tree below it can be signalled, and gets SIGTERM from the kernel if the
supervisor itself is killed (even with SIGKILL), so nothing is left behind.
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

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

ASGI_APP = "agentstudio.ops.asgi:application"  # agentstudio.asgi plus the collected static files
STOP_GRACE_SECONDS = 20.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_LIBC: Any = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_supervisor(supervisor_pid: int) -> None:
    """Runs in each child between fork and exec: SIGTERM it when the supervisor dies."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor_pid:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


class Command(BaseCommand):
    help = "Run the web server (uvicorn), a Celery worker and Celery beat until one stops."

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
        environment = dict(os.environ, PYTHONUNBUFFERED="1")
        environment["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
        supervisor_pid = os.getpid()
        children: dict[str, subprocess.Popen[bytes]] = {}
        for name, argv in commands.items():
            children[name] = subprocess.Popen(  # noqa: S603 (our own argv, no shell)
                argv,
                cwd=settings.BASE_DIR,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=lambda: _die_with_supervisor(supervisor_pid),
            )
            self.say(f"started {name} (pid {children[name].pid}): {' '.join(argv[2:])}")
        selector = selectors.DefaultSelector()
        pending: dict[str, bytes] = {}
        for name, process in children.items():
            assert process.stdout is not None
            os.set_blocking(process.stdout.fileno(), False)
            selector.register(process.stdout, selectors.EVENT_READ, name)
            pending[name] = b""

        exit_code, deadline, handled = 0, None, 0
        while True:
            for key, _events in selector.select(timeout=0.2):
                self.relay(key.data, key.fileobj, selector, pending)
            if deadline is None:
                dead = next((n for n, p in children.items() if p.poll() is not None), None)
                if self.signals:
                    handled = len(self.signals)
                    self.say(f"got {signal.Signals(self.signals[-1]).name}; stopping all")
                    self.signal_all(children, self.signals[-1], group=False)
                    deadline = time.monotonic() + STOP_GRACE_SECONDS
                elif dead is not None:
                    status = children[dead].returncode
                    exit_code = 128 - status if status < 0 else status or 1
                    self.say(f"{dead} exited with status {status}; stopping the others")
                    self.signal_all(children, signal.SIGTERM, group=False)
                    deadline = time.monotonic() + STOP_GRACE_SECONDS
            elif time.monotonic() > deadline or len(self.signals) > handled:
                self.say("children did not stop in time (or asked twice): killing them")
                self.signal_all(children, signal.SIGKILL)
                deadline, handled = float("inf"), len(self.signals)
            if deadline is not None and all(p.poll() is not None for p in children.values()):
                self.signal_all(children, signal.SIGKILL)  # stray grandchildren of each group
                while selector.get_map() and (ready := selector.select(timeout=0.5)):
                    for key, _events in ready:
                        self.relay(key.data, key.fileobj, selector, pending)
                break
        for name, process in children.items():
            self.say(f"{name} stopped with status {process.returncode}")
        return exit_code

    def relay(
        self, name: str, stream: Any, selector: selectors.BaseSelector, pending: dict[str, bytes]
    ) -> None:
        """Prints the complete lines a child wrote; at end of file, what is left."""
        try:
            chunk = os.read(stream.fileno(), 65536)
        except BlockingIOError:
            return
        *lines, pending[name] = (pending[name] + chunk).split(b"\n")
        if not chunk:  # end of file: the child and everything it started closed the pipe
            selector.unregister(stream)
            stream.close()
            lines += [pending[name]] if pending[name] else []
            pending[name] = b""
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
