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

import functools
from typing import Any

import psycopg
from django.db import connection

from agentstudio.audit.models import AuditEvent
from agentstudio.json_encoding import json_dumps
from playbooks.models import Run, RunEvent, RunStatus, RunStep
from tools.models import ToolInvocation


def _columns(model: type) -> tuple[str, ...]:
    return tuple(field.column for field in model._meta.concrete_fields if not field.primary_key)


def _all_columns(model: type) -> tuple[str, ...]:
    return tuple(field.column for field in model._meta.concrete_fields)


def _insert(
    alias: str,
    model: type,
    source: str,
    *,
    returning: str = "",
    taken: dict | None = None,
    with_pk: bool = False,
) -> str:
    """`INSERT ... SELECT` of the rows in a JSON parameter; `taken` names columns whose value
    comes from elsewhere in the statement instead (the run id from the guard); `with_pk`
    writes the primary key too (made in Python)."""
    table = model._meta.db_table
    taken = taken or {}
    names = _all_columns(model) if with_pk else _columns(model)
    columns = ", ".join(f'"{column}"' for column in names)
    picked = ", ".join(taken.get(column, f'r."{column}"') for column in names)
    return (
        f'{alias} AS (INSERT INTO "{table}" ({columns}) SELECT {picked} '  # noqa: S608
        f'FROM guard, {source}(NULL::"{table}", %s::jsonb) AS r{returning})'
    )


@functools.cache
def pg_checkpoint_statement(*, finishing: bool = False) -> str:
    """`finishing`: the run's last step, written together with the run's success (status,
    outputs, end time, the lease let go), so a run ends with its last checkpoint."""
    run_table = Run._meta.db_table
    if finishing:
        ending = [
            '  "lease_expires_at" = NULL, "lease_owner" = \'\', "paused_reason" = \'\',',
            f'  "status" = \'{RunStatus.SUCCEEDED}\', "outputs" = %s::jsonb,',
            '  "finished_at" = %s::timestamptz, "usage_wall_seconds" = %s::double precision,',
        ]
    else:
        ending = ['  "lease_expires_at" = COALESCE(%s::timestamptz, "lease_expires_at"),']
    return "\n".join(
        [
            f'WITH guard AS (UPDATE "{run_table}" SET',
            '  "current_step" = %s::varchar,',
            *ending,
            '  "event_seq" = %s::bigint,',
            '  "model_calls" = %s::integer, "usage_usd" = "usage_usd" + %s::numeric,',
            '  "usage_input_tokens" = "usage_input_tokens" + %s::bigint,',
            '  "usage_output_tokens" = "usage_output_tokens" + %s::bigint,',
            '  "usage_tool_calls" = "usage_tool_calls" + %s::integer,',
            '  "cursor" = COALESCE(%s::integer, "cursor"),',
            '  "not_before" = CASE WHEN %s::boolean THEN %s::timestamptz ELSE "not_before" END,',
            '  "audit_seq" = COALESCE(%s::bigint, "audit_seq"),',
            '  "audit_hash" = COALESCE(%s::varchar, "audit_hash")',
            '  WHERE "id" = %s::uuid AND "status" = \'running\'',
            '    AND "lease_owner" = %s::varchar AND "event_seq" = %s::bigint',
            '    AND "cursor" = %s::integer RETURNING "id"),',
            _insert("step", RunStep, "jsonb_populate_record", returning=' RETURNING "id"') + ",",
            _insert("invocations", ToolInvocation, "jsonb_populate_recordset") + ",",
            _insert("events", RunEvent, "jsonb_populate_recordset", taken={"run_id": 'guard."id"'})
            + ",",
            _insert("audit", AuditEvent, "jsonb_populate_recordset", with_pk=True),
            'SELECT "id" FROM step',
        ]
    )


@functools.cache
def _row_fields(model: type) -> tuple[tuple[str, str], ...]:
    """(column, attribute) of each column written, worked out once per model."""
    return tuple(
        (field.column, field.attname)
        for field in model._meta.concrete_fields
        if not field.primary_key
    )


def _row(instance: Any) -> dict[str, Any]:
    return {
        column: getattr(instance, attribute) for column, attribute in _row_fields(type(instance))
    }


def _row_with_pk(instance: Any) -> dict[str, Any]:
    return {"id": instance.pk, **_row(instance)}


def pg_checkpoint_supported(row: RunStep, invocations: list[Any]) -> bool:
    """Only inserts travel this path (on PostgreSQL, which the caller checks once per slice);
    a row that already exists goes through the ORM."""
    return row.pk is None and all(invocation.pk is None for invocation in invocations)


def pg_checkpoint_params(
    *,
    run: Run,
    owner: str,
    fields: dict[str, Any],
    row: RunStep,
    invocations: list[Any],
    event_payloads: list[str],
    audit: list[Any],
) -> tuple:
    """`event_payloads`: each event as the JSON its live subscribers get (seq, type, data,
    created_at), so an event is serialised once for both. `fields["finish"]` (a RunFinish)
    makes them the parameters of the finishing statement."""
    finish = fields.get("finish")
    if finish is None:
        ending: tuple = (fields["lease_expires_at"],)
    else:
        outputs = None if finish.outputs is None else json_dumps(finish.outputs)
        ending = (outputs, finish.finished_at, finish.wall_seconds)
    return (
        fields["current_step"],
        *ending,
        fields["event_seq"],
        fields["model_calls"],
        fields["usage_usd"],
        fields["usage_input_tokens"],
        fields["usage_output_tokens"],
        fields["usage_tool_calls"],
        fields.get("cursor"),
        "not_before" in fields,
        fields.get("not_before"),
        fields.get("audit_seq"),  # the run's audit chain moves on with its tool calls
        fields.get("audit_hash"),
        str(run.pk),
        owner,
        run.event_seq,
        run.cursor,  # the step's own index: a step is only written after the one before it
        json_dumps(_row(row)),
        json_dumps([_row(invocation) for invocation in invocations]),
        "[" + ",".join(event_payloads) + "]",
        json_dumps([_row_with_pk(row) for row in audit]),
    )


def pg_checkpoint_commit(*, row: RunStep, params: tuple) -> bool:
    """On this thread's connection: True when the guard matched and everything was written
    (committed, unless the caller holds a transaction open); False when the run moved on."""
    written = pg_fetch_one(pg_checkpoint_statement(), params)
    if written is None:
        return False
    row.pk = written[0]
    row._state.adding = False
    return True


def pg_fetch_one(sql: str, params: tuple) -> tuple | None:
    """The first row of `sql` on this thread's connection, the statement prepared once per
    connection (settings give the connection the prepare threshold this needs)."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        _execute_with_wrappers(cursor, sql, params)
        return cursor.fetchone()


def _execute_with_wrappers(cursor: psycopg.Cursor, sql: str, params: tuple) -> None:
    """Runs Django's `connection.execute_wrapper` hooks around the raw statement too, so query
    meters and instrumentation see it like any ORM statement."""

    def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        return cursor.execute(sql, params, prepare=True)

    executor = execute
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    executor(sql, params, False, {"connection": connection, "cursor": cursor})


@functools.cache
def pg_run_update_statement(fields: tuple[str, ...]) -> str:
    """A guarded write of some of a run's columns (taken from a JSON document of the run
    row) and its new events, for the lifecycle moves the lease holder makes alone (start,
    success). Answers the run id, or nothing when the guard did not match."""
    run_table = Run._meta.db_table
    columns = {field.name: field.column for field in Run._meta.concrete_fields}
    targets = ", ".join(f'"{columns[name]}"' for name in fields)
    values = ", ".join(f'r."{columns[name]}"' for name in fields)
    return "\n".join(
        [
            f'WITH guard AS (UPDATE "{run_table}" SET ({targets}, "event_seq") =',  # noqa: S608
            f"  (SELECT {values}, %s::bigint"  # noqa: S608 (column names from the model)
            f' FROM jsonb_populate_record(NULL::"{run_table}",',
            "  %s::jsonb) AS r)",
            '  WHERE "id" = %s::uuid AND "status" = %s::varchar',
            '    AND "lease_owner" = %s::varchar AND "event_seq" = %s::bigint RETURNING "id"),',
            _insert("events", RunEvent, "jsonb_populate_recordset", taken={"run_id": 'guard."id"'}),
            'SELECT "id" FROM guard',
        ]
    )


def pg_run_update_params(
    *,
    run: Run,
    fields: tuple[str, ...],
    expected_status: str,
    owner: str,
    event_payloads: list[str],
) -> tuple:
    """`run.event_seq` is the value the guard expects; the events follow it."""
    document = {}
    for name in fields:
        field = Run._meta.get_field(name)
        document[field.column] = getattr(run, field.attname)
    return (
        run.event_seq + len(event_payloads),
        json_dumps(document),
        str(run.pk),
        expected_status,
        owner,
        run.event_seq,
        "[" + ",".join(event_payloads) + "]",
    )
