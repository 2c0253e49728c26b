"""Overlapping a step's checkpoint commit with the next step's execution.

The checkpoint statement is sent on a dedicated autocommit connection without waiting for
its answer; the engine executes the next step meanwhile and collects the answer before it
writes anything else. No thread is involved (a second thread would wait for the GIL while
the engine computes): libpq sends the prepared statement and the answer waits in the socket.

Only a pure next step overlaps a pending commit (a tool step whose tool is idempotent,
reads or computes, and talks to nothing outside; see `engine.view.step_is_pure`): if the commit then
finds the run moved on (cancelled, lease lost), that step's result is thrown away and
nothing happened that matters. Every other step and every other write waits for the
pending commit first, so at most one checkpoint is in flight and they commit in step order.
"""

from __future__ import annotations

import collections
import datetime
import os
import re
import select
from collections.abc import Mapping
from typing import Any

import psycopg
from django.db import connection
from psycopg import errors, pq


def writer_available() -> bool:
    """Overlap needs PostgreSQL and no open transaction on this thread's connection: a
    second connection cannot see (and would wait on the locks of) uncommitted work."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format; the statement casts every placeholder."""
    kind = type(value)
    if kind is str:
        return value.encode()
    if value is None:
        return None
    if kind is bool:
        return b"t" if value else b"f"
    if isinstance(value, datetime.datetime):
        return value.isoformat().encode()
    return str(value).encode()


_NAMED = re.compile(r"%\((\w+)\)s")


def _numbered(sql: str) -> tuple[str, tuple[str, ...]]:
    """`sql` with its named placeholders (`%(name)s`) as PostgreSQL's numbered ones, and
    the names in number order: a name used twice is one parameter."""
    names: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${names.setdefault(match.group(1), len(names) + 1)}"

    return _NAMED.sub(number, sql), tuple(names)


class CheckpointWriter:
    """One per process: a connection in libpq pipeline mode, made lazily and again after a
    fork or a failure. Each statement is sent with its own sync point, so it commits as its
    own transaction, in the order sent; answers are collected oldest first."""

    def __init__(self) -> None:
        self._database: psycopg.Connection | None = None
        self._pid: int | None = None
        # statement → its prepared name and its parameters' names, in placeholder order
        self._prepared: dict[str, tuple[bytes, tuple[str, ...]]] = {}
        self._units: collections.deque[bool] = collections.deque()  # True: a statement

    @property
    def in_flight(self) -> int:
        """Statements sent and not yet answered."""
        return sum(self._units)

    def _pgconn(self) -> pq.PGconn:
        if self._database is None or self._database.closed or self._pid != os.getpid():
            params = connection.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            self._database = psycopg.connect(**params, autocommit=True)
            self._database.pgconn.enter_pipeline_mode()
            self._pid, self._prepared = os.getpid(), {}
            self._units.clear()
        return self._database.pgconn

    def send(self, sql: str, params: Mapping[str, Any]) -> None:
        """Sends the statement (preparing it first, once per connection); `receive` collects
        its answer after those of the statements sent before it. When nothing is in flight
        and the connection turns out dead (the server restarted), one new connection is
        tried: nothing reached the server, so nothing runs twice."""
        idle = not self._units
        try:
            self._send(sql, params)
        except psycopg.OperationalError:
            if not idle:
                raise  # answers in flight are lost with the connection: the slice ends
            self._send(sql, params)

    def _send(self, sql: str, params: Mapping[str, Any]) -> None:
        try:
            pgconn = self._pgconn()
            prepared = self._prepared.get(sql)
            if prepared is None:
                name = f"agentstudio_{len(self._prepared)}".encode()
                native, names = _numbered(sql)
                pgconn.send_prepare(name, native.encode())
                pgconn.pipeline_sync()
                self._units.append(False)
                prepared = self._prepared[sql] = (name, names)
            name, names = prepared
            pgconn.send_query_prepared(name, [_text(params[key]) for key in names])
            pgconn.pipeline_sync()
            self._units.append(True)
            pgconn.flush()
        except Exception:
            self._discard()
            raise

    def execute(self, sql: str, params: Mapping[str, Any]) -> tuple | None:
        """Sends and waits, when nothing else is in flight: the first row, or None. A dead
        connection (the server restarted, or ended the session) is replaced once; the
        statements sent this way are guarded, so one that did commit before the failure
        only misses its guard the second time."""
        if self.in_flight:
            raise RuntimeError("statements are in flight: receive() them first")
        try:
            self.send(sql, params)
            return self.receive()
        except psycopg.OperationalError:
            self._discard()
            self.send(sql, params)
            return self.receive()

    def receive(self) -> tuple | None:
        """Waits for the answer of the oldest statement in flight: its first row, or None."""
        try:
            while self._units:
                is_statement = self._units.popleft()
                answer = self._unit_result()
                if is_statement:
                    if answer.ntuples == 0:
                        return None
                    return tuple(answer.get_value(0, column) for column in range(answer.nfields))
            raise RuntimeError("nothing is in flight")
        except Exception:
            self._discard()
            raise

    def _unit_result(self) -> pq.PGresult:
        """One statement's result, the end of its results, and its sync point."""
        pgconn = self._pgconn()
        answer = self._next_result(pgconn)
        if answer is None or answer.status == pq.ExecStatus.PIPELINE_SYNC:
            raise psycopg.OperationalError("the pipeline answered out of order")
        self._check(answer)
        if self._next_result(pgconn) is not None:
            raise psycopg.OperationalError("a statement answered more than once")
        sync = self._next_result(pgconn)
        if sync is None or sync.status != pq.ExecStatus.PIPELINE_SYNC:
            raise psycopg.OperationalError("the pipeline lost a sync point")
        return answer

    @staticmethod
    def _next_result(pgconn: pq.PGconn) -> pq.PGresult | None:
        """The next result, reading from the socket only while libpq cannot make one from
        what it already holds: the end of a statement's results and its sync point usually
        arrive with the result itself, and need no read that would find nothing. An answer
        that arrived while the engine worked is read without waiting in `select` first."""
        if pgconn.is_busy():
            pgconn.consume_input()  # what has arrived already (libpq's socket never blocks)
            while pgconn.is_busy():
                select.select([pgconn.socket], [], [])
                pgconn.consume_input()
        return pgconn.get_result()

    def _check(self, result: pq.PGresult) -> None:
        if result.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
            return
        sqlstate = (result.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
        message = result.error_message.decode(errors="replace").strip()
        raise errors.lookup(sqlstate)(message) if sqlstate else psycopg.OperationalError(message)

    def close(self) -> None:
        """Lets go of the connection (tests do, before their database is dropped)."""
        self._discard()

    def _discard(self) -> None:
        """After a failure the connection's state is unknown: the next call makes a new one."""
        database, self._database = self._database, None
        self._units.clear()
        if database is not None:
            database.close()


checkpoint_writer = CheckpointWriter()
