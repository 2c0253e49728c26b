"""Appending run events: gap-free `seq` per run, published to live streams after commit."""

from __future__ import annotations

import atexit
import datetime
import os
import queue
import threading
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agentstudio.json_encoding import json_dumps
from playbooks.models import Run, RunEvent

EventSpec = tuple[str, dict[str, Any]]


def run_events_channel(run_id: object) -> str:
    return f"agentstudio:run:{run_id}:events"


def run_events_build(*, run: Run, first_seq: int, events: Iterable[EventSpec]) -> list[RunEvent]:
    now = timezone.now()
    return [
        RunEvent(run=run, seq=first_seq + offset, type=kind, data=data, created_at=now)
        for offset, (kind, data) in enumerate(events)
    ]


def run_events_append_locked(
    *, run: Run, events: list[EventSpec], persist_seq: bool = True
) -> list[RunEvent]:
    """Appends to a run whose row the caller has locked (select_for_update). `event_seq`
    moves on the instance, and in the row unless the caller saves the run itself."""
    if not events:
        return []
    rows = run_events_build(run=run, first_seq=run.event_seq + 1, events=events)
    RunEvent.objects.bulk_create(rows)
    run.event_seq += len(rows)
    if persist_seq:
        Run.objects.filter(pk=run.pk).update(event_seq=run.event_seq)
    run_events_publish_on_commit(rows)
    return rows


def run_events_publish_on_commit(rows: list[RunEvent]) -> None:
    """Live subscribers hear of new events once they are durable; without Redis they poll.
    The notice is handed to this process's publisher thread, so the engine does not wait
    for Redis between steps; `run_events_flush` waits until everything handed over is sent."""
    if rows and settings.REDIS_URL:
        payloads = _payloads(rows)
        transaction.on_commit(lambda: _PUBLISHER.submit(payloads))


def _payloads(rows: list[RunEvent]) -> list[tuple[str, str]]:
    """One message per run: the JSON list of its rows' events."""
    by_run: dict[object, list[str]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, []).append(
            json_dumps(
                {
                    "seq": row.seq,
                    "type": row.type,
                    "data": row.data,
                    "created_at": row.created_at,
                }
            )
        )
    return [
        (run_events_channel(run_id), "[" + ",".join(payloads) + "]")
        for run_id, payloads in by_run.items()
    ]


def run_event_payloads(
    *, first_seq: int, events: list[EventSpec], created_at: datetime.datetime
) -> list[str]:
    """Events as the JSON their live subscribers get, numbered from `first_seq`."""
    stamp = created_at.isoformat()
    return [
        json_dumps({"seq": first_seq + offset, "type": kind, "data": data, "created_at": stamp})
        for offset, (kind, data) in enumerate(events)
    ]


def run_events_publish_payloads(run_id: object, payloads: list[str]) -> None:
    """Publishes already committed events given as `run_event_payloads` made them, as one
    message: a JSON list of consecutive events, oldest first."""
    if payloads and settings.REDIS_URL:
        _PUBLISHER.submit([(run_events_channel(run_id), "[" + ",".join(payloads) + "]")])


def run_events_flush(timeout: float = 5.0) -> bool:
    """Blocks until every notice handed over so far is published (or failed); False on
    timeout. The engine calls it before a task returns, so a run's notices never outlive
    the slice that wrote them."""
    return _PUBLISHER.flush(timeout)


class _Publisher:
    """One daemon thread per process sends notices in order, in one pipeline per batch of
    whatever has queued up meanwhile. Made lazily and again after a fork (a prefork pool
    child does not inherit its parent's thread)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._pid: int | None = None
        self._lock = threading.Lock()

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._queue = queue.SimpleQueue()
                threading.Thread(target=self._loop, name="event-publisher", daemon=True).start()
                self._pid = os.getpid()

    def submit(self, payloads: list[tuple[str, str]]) -> None:
        self._ensure_thread()
        self._queue.put(payloads)

    def flush(self, timeout: float) -> bool:
        if self._pid != os.getpid():
            return True  # nothing was ever submitted in this process
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def _loop(self) -> None:
        work = self._queue
        while True:
            items = [work.get()]
            while not work.empty() and len(items) < 500:
                items.append(work.get_nowait())
            payloads = [p for item in items if isinstance(item, list) for p in item]
            if payloads:
                _publish(payloads)
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()


_PUBLISHER = _Publisher()
atexit.register(run_events_flush, 2.0)


def _publish(payloads: list[tuple[str, str]]) -> None:
    """One round trip: every PUBLISH of the batch sent at once, then their replies read,
    retried as the connection's policy says. That is what a redis-py pipeline does, without
    its command stack, pool checkout, response callbacks and metrics, which cost twice the
    CPU of the round trip itself."""
    connection = None
    try:
        connection = _publisher_connection()
        packed = connection.pack_commands(
            [("PUBLISH", channel, message) for channel, message in payloads]
        )
        connection.retry.call_with_retry(
            lambda: _round_trip(connection, packed, len(payloads)),
            lambda _error: connection.disconnect(),
        )
    except Exception:
        if connection is not None:
            connection.disconnect()  # replies may be left unread: start afresh next time
        import structlog

        structlog.get_logger("agentstudio.events").warning("event publish failed")


def _round_trip(connection: Any, packed: list[bytes], replies: int) -> None:
    connection.send_packed_command(packed)
    for _ in range(replies):
        connection.read_response()


_LINK: dict[str, Any] = {}


def _publisher_connection() -> Any:
    """The publisher thread's own connection, taken once from the process's Redis pool (its
    URL, credentials, timeouts and retry policy) and again after a fork or when the pool is
    replaced (a changed REDIS_URL). Checked before each batch as the pool checks one it
    hands out: one the server closed, or with data nobody read, is connected anew."""
    from agentstudio.redis_client import redis_client

    pool = redis_client().connection_pool
    if _LINK.get("pool") is not pool or _LINK.get("pid") != os.getpid():
        if _LINK.get("pid") == os.getpid():
            _LINK["connection"].disconnect()
        _LINK.clear()
        _LINK.update(connection=pool.get_connection(), pool=pool, pid=os.getpid())
    connection = _LINK["connection"]
    try:
        connection.connect()
        stale = connection.can_read()
    except (RedisConnectionError, RedisTimeoutError, OSError):
        stale = True
    if stale:
        connection.disconnect()
        connection.connect()
    return connection
