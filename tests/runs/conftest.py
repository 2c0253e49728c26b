"""Fixtures for the runs API: active playbooks, specs, and driving runs in-process.

Runs are advanced by calling `run_advance` (a worker's entry point) directly; tests that
need a worker running beside them replace the doorbell with a thread (`thread_worker`)."""

import threading

import pytest
from django.db import connection, transaction

from playbooks.engine.runner import Advance, run_advance

ECHO_SPEC = {
    "name": "Echo",
    "description": "Echoes its topic.",
    "tools": ["tools.studio.util.echo"],
    "inputs": {
        "type": "object",
        "required": ["topic"],
        "properties": {"topic": {"type": "string"}, "count": {"type": "integer"}},
    },
    "steps": [
        {"id": "say", "tool": "tools.studio.util.echo", "args": {"value": "{{ inputs.topic }}"}}
    ],
    "outputs": {"said": "{{ steps.say.output.value }}"},
}

GATE_SPEC = {
    "name": "Gated",
    "tools": ["tools.studio.util.echo"],
    "steps": [
        {"id": "first", "tool": "tools.studio.util.echo", "args": {"value": 1}},
        {"id": "check", "approval": {"title": "Check it", "payload": {"ok": True}}},
        {"id": "last", "tool": "tools.studio.util.echo", "args": {"value": 2}},
    ],
}

QUESTION_SPEC = {
    "name": "Ask",
    "steps": [
        {
            "id": "tone",
            "ask": {
                "question": "Which tone?",
                "schema": {"type": "string", "enum": ["dry", "warm"]},
            },
        },
    ],
    "outputs": {"tone": "{{ steps.tone.output }}"},
}

READ_SPEC = {
    "name": "Reader",
    "tools": ["tools.studio.util.echo", "tools.studio.files.read"],
    "steps": [
        {"id": "hello", "tool": "tools.studio.util.echo", "args": {"value": "hi"}},
        {"id": "read", "tool": "tools.studio.files.read", "args": {"path": "notes.txt"}},
    ],
}

WRITE_SPEC = {
    "name": "Writer",
    "tools": ["tools.studio.files.write"],
    "steps": [
        {
            "id": "write",
            "tool": "tools.studio.files.write",
            "args": {"path": "out/report.md", "content": "# Report\n"},
        },
    ],
}

UPLOAD_SPEC = {
    "name": "Upload",
    "tools": ["tools.studio.files.read"],
    "inputs": {
        "type": "object",
        "required": ["dataset", "label"],
        "properties": {
            "dataset": {"type": "string", "format": "binary"},
            "label": {"type": "string"},
        },
    },
    "steps": [
        {"id": "read", "tool": "tools.studio.files.read", "args": {"path": "{{ inputs.dataset }}"}}
    ],
}


TWO_FILES_SPEC = {
    "name": "Two files",
    "tools": ["tools.studio.files.read"],
    "inputs": {
        "type": "object",
        "required": ["left", "right"],
        "properties": {
            "left": {"type": "string", "format": "binary"},
            "right": {"type": "string", "format": "binary"},
        },
    },
    "steps": [
        {"id": "read", "tool": "tools.studio.files.read", "args": {"path": "{{ inputs.left }}"}}
    ],
}


def advance(run_id) -> Advance:
    """Advances until the run finishes or pauses (slices and zero backoffs included)."""
    for _ in range(50):
        result = run_advance(run_id=run_id)
        if result not in (Advance.REQUEUED, Advance.BUSY):
            return result
    raise AssertionError("the run did not settle")


@pytest.fixture
def thread_worker(monkeypatch):
    """A worker beside the test: each doorbell (after commit) advances the run in a thread.
    Needs a transactional test, so the thread sees committed rows."""
    threads: list[threading.Thread] = []

    def work(run_id) -> None:
        try:
            run_advance(run_id=run_id)
        finally:
            connection.close()

    def ring(*, run_id, countdown=None) -> None:
        def start() -> None:
            thread = threading.Thread(target=work, args=(run_id,), daemon=True)
            threads.append(thread)
            thread.start()

        transaction.on_commit(start)

    monkeypatch.setattr("playbooks.runs.doorbell.run_enqueue", ring)
    yield threads
    for thread in threads:
        thread.join(timeout=30)
