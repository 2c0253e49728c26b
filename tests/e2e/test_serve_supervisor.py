"""`manage.py serve` as a supervisor, run for real: when the Celery worker's main process or
beat is SIGKILLed it starts them again (logged, a new pid) while the web server keeps
answering, and SIGTERM still stops everything it started."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import uuid
from pathlib import Path

import httpx
import pytest

from playbooks.runs.starting import run_start
from tests.e2e.test_crash_safety import slow_spec
from tests.support.processes import ChildProcess, free_port, wait_for
from tests.support.runs import run_wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

STARTED = re.compile(r"^serve\s+\| started (\w+) \(pid (\d+)\)", re.MULTILINE)
MARKER = "AGENTSTUDIO_SERVE_TEST"  # in every process serve starts: how to find what is left


def started_pids(serve: ChildProcess) -> dict[str, list[int]]:
    """Child name → the pids serve started it with, in order."""
    pids: dict[str, list[int]] = {}
    for name, pid in STARTED.findall(serve.log_text()):
        pids.setdefault(name, []).append(int(pid))
    return pids


def serve_events(serve: ChildProcess, event: str) -> list[dict]:
    """serve's own JSON log lines (not prefixed by a child's name) with this event."""
    found = []
    for line in serve.log_text().splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("event") == event:
                found.append(record)
    return found


def processes_with(marker: str) -> list[int]:
    """Pids of every process whose environment carries `MARKER=marker`."""
    pids = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if f"{MARKER}={marker}".encode() in environ.read_bytes().split(b"\0"):
                pids.append(int(environ.parent.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return pids


def process_group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


class HealthProbe(threading.Thread):
    """Asks /healthz every 0.2 s until stopped; keeps every answer that was not a 200."""

    def __init__(self, url: str) -> None:
        super().__init__(name="healthz-probe", daemon=True)
        self.url = url
        self.answers = 0
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.2):
            try:
                status = httpx.get(self.url, timeout=5).status_code
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))
                continue
            self.answers += 1
            if status != 200:
                self.failures.append(f"status {status}")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _kill_and_await_restart(serve: ChildProcess, name: str, ready: str) -> tuple[int, int]:
    """SIGKILLs the child's main process; waits for its successor to log `ready` again."""
    before = serve.log_text().count(ready)
    killed = started_pids(serve)[name][-1]
    os.kill(killed, signal.SIGKILL)
    wait_for(
        lambda: started_pids(serve)[name][-1] != killed, 30, message=f"serve to restart {name}"
    )
    wait_for(lambda: serve.log_text().count(ready) > before, 60, message=f"new {name} ready")
    return killed, started_pids(serve)[name][-1]


@pytest.mark.e2e_seconds(180)
def test_serve_restarts_a_killed_worker_and_beat_and_keeps_the_web_server_up(
    e2e_stack, active_playbook, author
):
    port, marker = free_port(), uuid.uuid4().hex
    healthz = f"http://127.0.0.1:{port}/healthz"
    serve = e2e_stack.start_serve(port=port, **{MARKER: marker})
    serve.wait_for_log(" ready.", 90)  # the worker consumes
    serve.wait_for_log("beat: Starting", 60)
    wait_for(lambda: _healthy(healthz), 30, message="/healthz to answer")
    web = started_pids(serve)["web"]
    probe = HealthProbe(healthz)
    probe.start()
    try:
        old_worker, new_worker = _kill_and_await_restart(serve, "worker", " ready.")
        old_beat, new_beat = _kill_and_await_restart(serve, "beat", "beat: Starting")
    finally:
        probe.done.set()
        probe.join()

    assert probe.failures == [] and probe.answers >= 5  # the web server answered throughout
    assert started_pids(serve) == {
        "web": web,
        "worker": [old_worker, new_worker],
        "beat": [old_beat, new_beat],
    }
    died = serve_events(serve, "serve child died; restarting it")
    assert [(e["child"], e["pid"], e["status"], e["restart_in_seconds"]) for e in died] == [
        ("worker", old_worker, -9, 1.0),
        ("beat", old_beat, -9, 1.0),
    ]
    restarted = serve_events(serve, "serve child restarted")
    assert [(e["child"], e["previous_pid"], e["pid"]) for e in restarted] == [
        ("worker", old_worker, new_worker),
        ("beat", old_beat, new_beat),
    ]
    assert process_group_members(old_worker) == []  # the dead worker's pool went with it

    # The new worker advances runs.
    run = run_start(
        playbook=active_playbook(slow_spec(steps=1, seconds=0)), actor=author, inputs={}
    )
    run_wait_for_status(run, "succeeded", timeout=30)

    os.kill(serve.pid, signal.SIGTERM)
    assert serve.popen.wait(timeout=40) == 0
    wait_for(lambda: not processes_with(marker), 10, message="every process serve started to stop")
