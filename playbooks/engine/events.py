"""Run events on the live stream: what a step reports (`EventSpec`), the payload live
subscribers get (`live_event_payload`), published to Redis after the rows commit. The rows
themselves are written by the store (`engine.store.event_rows`)."""

from __future__ import annotations

import atexit
import os
import select
import threading
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agentstudio.json_encoding import json_dumps
from playbooks.models import RunEvent

EventSpec = tuple[str, dict[str, Any]]


def run_events_channel(run_id: object) -> str:
    return f"agentstudio:run:{run_id}:events"


def run_events_publish_on_commit(rows: list[RunEvent]) -> None:
    """Live subscribers hear of new events once they are durable; without Redis they poll.
    The notice is sent from this thread without waiting for Redis to answer (see
    `_Publisher`); `run_events_flush` collects the answers."""
    if rows and settings.REDIS_URL:
        payloads = _payloads(rows)
        transaction.on_commit(lambda: _PUBLISHER.submit(payloads))


def live_event_payload(*, seq: int, kind: str, data: Any, created_at: Any) -> str:
    """One event as its live subscribers get it (the SSE stream re-encodes it as is)."""
    return json_dumps({"seq": seq, "type": kind, "data": data, "created_at": created_at})


def _payloads(rows: list[RunEvent]) -> list[tuple[str, str]]:
    """One message per run: the JSON list of its rows' events."""
    by_run: dict[object, list[str]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, []).append(
            live_event_payload(seq=row.seq, kind=row.type, data=row.data, created_at=row.created_at)
        )
    return [
        (run_events_channel(run_id), "[" + ",".join(payloads) + "]")
        for run_id, payloads in by_run.items()
    ]


def run_events_publish_payloads(run_id: object, payloads: list[str]) -> None:
    """Publishes already committed events given as `live_event_payload` made them, as one
    message: a JSON list of consecutive events, oldest first."""
    if payloads and settings.REDIS_URL:
        _PUBLISHER.submit([(run_events_channel(run_id), "[" + ",".join(payloads) + "]")])


def run_events_flush(timeout: float = 5.0) -> bool:
    """Waits until Redis has answered every notice sent so far (or the connection failed);
    False on timeout. The engine calls it before a task returns, so a run's notices never
    outlive the slice that wrote them."""
    return _PUBLISHER.flush(timeout)


class _Publisher:
    """Sends notices in the calling thread, on one connection per process, without waiting
    for Redis to answer: a notice costs one `send` (the engine does not stop for a round
    trip, and no second thread competes with it for the GIL). The answers (`:N` or an
    error line each) are read later, whatever has arrived once `READ_BATCH` are due, and all
    of them at `flush`.

    Publishing is best effort by design: a subscriber that misses a notice (Redis restarted,
    the connection broke) fills the gap from the database (`playbooks/api/stream.py`). A
    send that finds the connection broken is tried once more on a new one; when that fails
    too, the notice is dropped and logged, and Redis is left alone for `RETRY_SECONDS`
    rather than stall the engine on reconnects. The connection is made by redis-py (URL,
    credentials, TLS, timeouts, handshake) lazily, and again after a fork or when the
    process's Redis pool is replaced (a changed REDIS_URL)."""

    READ_BATCH = 256
    RETRY_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Any = None
        self._pool: Any = None
        self._pid: int | None = None
        self._unread = 0
        self._partial = b""  # an answer cut by the end of a read
        self._quiet_until = 0.0

    def submit(self, payloads: list[tuple[str, str]]) -> None:
        """Sends; a connection found broken (Redis restarted) is replaced at once and the
        notice sent again, once, before the publisher rests."""
        message = b"".join(_publish_command(*payload) for payload in payloads)
        with self._lock:
            for last_try in (False, True):
                sock = self._socket()
                if sock is None:
                    return
                try:
                    if self._unread >= self.READ_BATCH:
                        self._read_answers(sock, wait=0.0)
                    sock.sendall(message)
                    self._unread += len(payloads)
                    return
                except OSError:
                    if last_try:
                        self._failed("event publish failed")
                    else:
                        self._disconnect()

    def flush(self, timeout: float) -> bool:
        with self._lock:
            if self._pid != os.getpid() or self._connection is None or not self._unread:
                return True
            deadline = time.monotonic() + timeout
            try:
                while self._unread:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._read_answers(self._connection._sock, wait=remaining)
            except OSError:
                self._failed("event publish answers lost")
            return True

    def _socket(self) -> Any:
        """This process's socket to the current pool's server, or None while resting after
        a failure. (`_sock` is redis-py's socket of a connected Connection.)"""
        from agentstudio.redis_client import redis_client

        pool = redis_client().connection_pool
        if self._pid != os.getpid() or self._pool is not pool:
            if self._pid == os.getpid() and self._connection is not None:
                self._connection.disconnect()  # the pool was replaced; a fork's is its parent's
            self._connection, self._pool, self._pid = None, pool, os.getpid()
            self._unread, self._partial, self._quiet_until = 0, b"", 0.0
        if self._connection is None and time.monotonic() >= self._quiet_until:
            connection = pool.make_connection()  # the pool's settings; not pooled
            try:
                connection.connect()
            except (RedisConnectionError, RedisTimeoutError, OSError):
                self._failed("event publisher cannot connect")
                return None
            self._connection = connection
        return self._connection._sock if self._connection is not None else None

    def _read_answers(self, sock: Any, *, wait: float) -> None:
        """Reads what has arrived, waiting up to `wait` seconds for the first byte."""
        pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted
        if not (pending and pending()) and not select.select([sock], [], [], wait)[0]:
            return
        data = sock.recv(65536)
        if not data:
            raise ConnectionResetError("Redis closed the connection")
        lines = (self._partial + data).split(b"\r\n")
        self._partial = lines.pop()
        self._unread -= len(lines)
        for line in lines:
            if line.startswith(b"-"):
                _logger().warning(
                    "event publish refused", error=line[1:200].decode(errors="replace")
                )

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
        self._connection, self._unread, self._partial = None, 0, b""

    def _failed(self, message: str) -> None:
        self._disconnect()
        self._quiet_until = time.monotonic() + self.RETRY_SECONDS
        _logger().warning(message)


def _publish_command(channel: str, message: str) -> bytes:
    """`PUBLISH channel message` in the Redis protocol (RESP)."""
    name, body = channel.encode(), message.encode()
    return b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(name),
        name,
        len(body),
        body,
    )


def _logger() -> Any:
    import structlog

    return structlog.get_logger("agentstudio.events")


_PUBLISHER = _Publisher()
atexit.register(run_events_flush, 2.0)
