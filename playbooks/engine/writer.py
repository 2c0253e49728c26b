"""Overlapping a step's checkpoint commit with the next step's execution.

The checkpoint statement is sent on a dedicated autocommit connection without waiting for
its answer; the engine executes the next step meanwhile and collects the answer before it
writes anything else. No thread is involved (a second thread would wait for the GIL while
the engine computes): libpq sends the prepared statement and the answer waits in the socket.

Only a pure next step overlaps a pending commit (a tool step whose tool is idempotent,
reads or computes, and talks to nothing outside; see `step_is_pure`): if the commit then
finds the run moved on (cancelled, lease lost), that step's result is thrown away and
nothing happened that matters. Every other step and every other write waits for the
pending commit first, so at most one checkpoint is in flight and they commit in step order.
"""

from __future__ import annotations

import datetime
import os
import re
import select
from typing import Any

import psycopg
from django.db import connection
from psycopg import errors, pq

from tools.registry import risk_rank, tool_registry


def step_is_pure(step: dict[str, Any]) -> bool:
    """Whether running `step` before the previous checkpoint is known to be committed is
    harmless: a tool step whose tool is idempotent, at most `compute`, and not open-world."""
    if "tool" not in step:
        return False
    definition = tool_registry.get(step["tool"])
    return bool(
        definition is not None
        and definition.idempotent
        and not definition.open_world
        and risk_rank(definition.risk) <= risk_rank("compute")
    )


def writer_available() -> bool:
    """Overlap needs PostgreSQL and no open transaction on this thread's connection: a
    second connection cannot see (and would wait on the locks of) uncommitted work."""
    return connection.vendor == "postgresql" and not connection.in_atomic_block


def _text(value: Any) -> bytes | None:
    """A parameter in PostgreSQL's text format; the statement casts every placeholder."""
    if value is None:
        return None
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, datetime.datetime):
        return value.isoformat().encode()
    return str(value).encode()


class CheckpointWriter:
    """One per process: the connection, made lazily and again after a fork or a failure."""

    def __init__(self) -> None:
        self._database: psycopg.Connection | None = None
        self._pid: int | None = None
        self._prepared: dict[str, bytes] = {}  # statement → its prepared name
        self._in_flight = False

    def _connection(self) -> psycopg.Connection:
        if self._database is None or self._database.closed or self._pid != os.getpid():
            params = connection.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            self._database = psycopg.connect(**params, autocommit=True)
            self._pid, self._prepared, self._in_flight = os.getpid(), {}, False
        return self._database

    def send(self, sql: str, params: tuple) -> None:
        """Sends the statement; its answer is collected by `receive`."""
        if self._in_flight:
            raise RuntimeError("a checkpoint is already in flight; receive() it first")
        try:
            pgconn = self._connection().pgconn
            name = self._prepared.get(sql)
            if name is None:
                name = f"agentstudio_{len(self._prepared)}".encode()
                numbered = iter(range(1, len(params) + 1))
                native = re.sub(r"%s", lambda _: f"${next(numbered)}", sql)
                self._check(pgconn.prepare(name, native.encode()))
                self._prepared[sql] = name
            pgconn.send_query_prepared(name, [_text(value) for value in params])
        except Exception:
            self._discard()
            raise
        self._in_flight = True

    def execute(self, sql: str, params: tuple) -> tuple | None:
        """Sends and waits: the statement's first row, or None."""
        self.send(sql, params)
        return self.receive()

    def receive(self) -> tuple | None:
        """Waits for the answer of the statement in flight: its first row, or None."""
        self._in_flight = False
        try:
            pgconn = self._connection().pgconn
            pgconn.consume_input()
            while pgconn.is_busy():
                select.select([pgconn.socket], [], [])
                pgconn.consume_input()
            results = []
            while (result := pgconn.get_result()) is not None:
                results.append(result)
            for result in results:
                self._check(result)
        except Exception:
            self._discard()
            raise
        answer = results[-1]
        if answer.ntuples == 0:
            return None
        return tuple(answer.get_value(0, column) for column in range(answer.nfields))

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
        database, self._database, self._in_flight = self._database, None, False
        if database is not None:
            database.close()


checkpoint_writer = CheckpointWriter()
