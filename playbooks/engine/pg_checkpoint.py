"""The common step checkpoint on PostgreSQL as one prepared statement: one round trip, one
implicit transaction.

A data-modifying CTE guards on the run row (still `running`, still ours, `event_seq` as last
seen), moves its cursor, usage and lease, and inserts the step row, the tool invocations and
the events only if the guard matched. The rows travel as JSON documents that PostgreSQL turns
into table rows with `jsonb_populate_record(set)`, so the statement text never changes and
psycopg prepares it once per connection. Everything the ORM path writes is written here too;
`tests/engine/test_checkpoint_paths.py` holds the two to the same rows.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import json
import uuid
from typing import Any

import psycopg
from django.db import connection

from playbooks.models import Run, RunEvent, RunStep, ToolInvocation


def _columns(model: type) -> tuple[str, ...]:
    return tuple(field.column for field in model._meta.concrete_fields if not field.primary_key)


def _insert(alias: str, model: type, source: str, *, returning: str = "") -> str:
    table = model._meta.db_table
    columns = ", ".join(f'"{column}"' for column in _columns(model))
    picked = ", ".join(f'r."{column}"' for column in _columns(model))
    return (
        f'{alias} AS (INSERT INTO "{table}" ({columns}) SELECT {picked} '  # noqa: S608
        f'FROM guard, {source}(NULL::"{table}", %s::jsonb) AS r{returning})'
    )


@functools.cache
def pg_checkpoint_statement() -> str:
    run_table = Run._meta.db_table
    return "\n".join(
        [
            f'WITH guard AS (UPDATE "{run_table}" SET',
            '  "current_step" = %s::varchar,',
            '  "lease_expires_at" = COALESCE(%s::timestamptz, "lease_expires_at"),',
            '  "event_seq" = %s::bigint,',
            '  "model_calls" = %s::integer, "usage_usd" = "usage_usd" + %s::numeric,',
            '  "usage_input_tokens" = "usage_input_tokens" + %s::bigint,',
            '  "usage_output_tokens" = "usage_output_tokens" + %s::bigint,',
            '  "usage_tool_calls" = "usage_tool_calls" + %s::integer,',
            '  "cursor" = COALESCE(%s::integer, "cursor"),',
            '  "not_before" = CASE WHEN %s::boolean THEN %s::timestamptz ELSE "not_before" END',
            '  WHERE "id" = %s::uuid AND "status" = \'running\'',
            '    AND "lease_owner" = %s::varchar AND "event_seq" = %s::bigint RETURNING "id"),',
            _insert("step", RunStep, "jsonb_populate_record", returning=' RETURNING "id"') + ",",
            _insert("invocations", ToolInvocation, "jsonb_populate_recordset") + ",",
            _insert("events", RunEvent, "jsonb_populate_recordset"),
            'SELECT "id" FROM step',
        ]
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, allow_nan=False)


def _row(instance: Any) -> dict[str, Any]:
    return {
        field.column: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if not field.primary_key
    }


def pg_checkpoint_supported(row: RunStep, invocations: list[Any]) -> bool:
    """Only inserts travel this path; a row that already exists goes through the ORM."""
    return (
        connection.vendor == "postgresql"
        and row.pk is None
        and all(invocation.pk is None for invocation in invocations)
    )


def pg_checkpoint_params(
    *,
    run: Run,
    owner: str,
    fields: dict[str, Any],
    row: RunStep,
    invocations: list[Any],
    events: list[RunEvent],
) -> tuple:
    return (
        fields["current_step"],
        fields["lease_expires_at"],
        fields["event_seq"],
        fields["model_calls"],
        fields["usage_usd"],
        fields["usage_input_tokens"],
        fields["usage_output_tokens"],
        fields["usage_tool_calls"],
        fields.get("cursor"),
        "not_before" in fields,
        fields.get("not_before"),
        run.pk,
        owner,
        run.event_seq,
        _dumps(_row(row)),
        _dumps([_row(invocation) for invocation in invocations]),
        _dumps([_row(event) for event in events]),
    )


def pg_checkpoint_commit(*, row: RunStep, params: tuple) -> bool:
    """On this thread's connection: True when the guard matched and everything was written
    (committed, unless the caller holds a transaction open); False when the run moved on."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        _execute_with_wrappers(cursor, pg_checkpoint_statement(), params)
        written = cursor.fetchone()
    if written is None:
        return False
    row.pk = written[0]
    row._state.adding = False
    return True


def _execute_with_wrappers(cursor: psycopg.Cursor, sql: str, params: tuple) -> None:
    """Runs Django's `connection.execute_wrapper` hooks around the raw statement too, so query
    meters and instrumentation see it like any ORM statement."""

    def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        return cursor.execute(sql, params, prepare=True)

    executor = execute
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    executor(sql, params, False, {"connection": connection, "cursor": cursor})
