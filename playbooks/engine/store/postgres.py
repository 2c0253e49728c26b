"""A step's checkpoint and a guarded run-row save on PostgreSQL, each as one statement.

A data-modifying CTE guards on the run row (still `running` or as expected, still ours,
`event_seq` as last seen), moves its columns, and inserts the step row, the tool
invocations, the events and the audit rows only if the guard matched. The rows travel as
JSON documents that PostgreSQL turns into table rows with `jsonb_populate_record(set)`, so
the statement text never changes and is prepared once per connection. Parameters are
named (`%(name)s`, given as a dict). Every INSERT lists its columns from the model, and
`tests/engine/test_store_columns.py` holds them, and the documents that fill them, to the
models' fields; `tests/engine/test_checkpoint_paths.py` holds this path and the ORM path to
the same rows.
"""

from __future__ import annotations

import functools
from typing import Any

import psycopg
from django.db import connection

from agentstudio.audit.models import AuditEvent
from agentstudio.billing.models import Budget, UsageRecord
from agentstudio.json_encoding import json_dumps
from playbooks.models import Run, RunEvent, RunStatus, RunStep
from tools.models import ToolInvocation

# Where each INSERT's documents come from (the statement's named parameter)
STEP_ROW, INVOCATION_ROWS, EVENT_ROWS, AUDIT_ROWS, USAGE_ROWS = (
    "step_row",
    "invocation_rows",
    "event_rows",
    "audit_rows",
    "usage_rows",
)


def _columns(model: type, *, with_pk: bool = False) -> tuple[str, ...]:
    return tuple(
        field.column for field in model._meta.concrete_fields if with_pk or not field.primary_key
    )


def _insert(
    alias: str,
    model: type,
    source: str,
    document: str,
    *,
    returning: str = "",
    taken: dict | None = None,
    with_pk: bool = False,
) -> str:
    """`INSERT ... SELECT` of the rows in the JSON parameter `document`; `taken` names
    columns whose value comes from elsewhere in the statement instead (the run id from the
    guard); `with_pk` writes the primary key too (made in Python)."""
    table = model._meta.db_table
    taken = taken or {}
    names = _columns(model, with_pk=with_pk)
    columns = ", ".join(f'"{column}"' for column in names)
    picked = ", ".join(taken.get(column, f'r."{column}"') for column in names)
    return (
        f'{alias} AS (INSERT INTO "{table}" ({columns}) SELECT {picked} '  # noqa: S608
        f'FROM guard, {source}(NULL::"{table}", %({document})s::jsonb) AS r{returning})'
    )


def _events_insert() -> str:
    """The events' rows; their run is the guarded one (`event_rows.event_row` makes the
    rest of each row)."""
    taken = {"run_id": 'guard."id"'}
    return _insert("events", RunEvent, "jsonb_populate_recordset", EVENT_ROWS, taken=taken)


@functools.cache
def checkpoint_statement(*, finishing: bool = False) -> str:
    """A step's checkpoint. `finishing`: the run's last step, written together with the
    run's success (status, outputs, end time, the lease let go), so a run ends with its
    last checkpoint."""
    run_table = Run._meta.db_table
    if finishing:
        ending = [
            '  "lease_expires_at" = NULL, "lease_owner" = \'\', "paused_reason" = \'\',',
            f'  "status" = \'{RunStatus.SUCCEEDED}\', "outputs" = %(outputs)s::jsonb,',
            '  "finished_at" = %(finished_at)s::timestamptz,',
        ]
    else:
        ending = [
            '  "lease_expires_at" = COALESCE(%(lease_expires_at)s::timestamptz,'
            ' "lease_expires_at"),'
        ]
    budget_table = Budget._meta.db_table
    return "\n".join(
        [
            # the budget's row, locked, when it has room for the step's deferred tool calls
            f'WITH budget AS (SELECT "id" FROM "{budget_table}"',  # noqa: S608
            '  WHERE "id" = %(charge_budget)s::uuid',
            '    AND ("max_tool_calls" IS NULL'
            ' OR "spent_tool_calls" + %(charge_tool_calls)s::integer <= "max_tool_calls")',
            '    AND ("max_usd" IS NULL OR "spent_usd" + "reserved_usd" <= "max_usd")',
            '    AND ("max_tokens" IS NULL OR "spent_tokens" + "reserved_tokens" <= "max_tokens")',
            "  FOR UPDATE),",
            f'guard AS (UPDATE "{run_table}" SET',
            '  "current_step" = %(current_step)s::varchar,',
            *ending,
            '  "event_seq" = %(event_seq)s::bigint,',
            '  "model_calls" = %(model_calls)s::integer,',
            '  "usage_usd" = "usage_usd" + %(usage_usd)s::numeric,',
            '  "usage_input_tokens" = "usage_input_tokens" + %(usage_input_tokens)s::bigint,',
            '  "usage_output_tokens" = "usage_output_tokens" + %(usage_output_tokens)s::bigint,',
            '  "usage_tool_calls" = "usage_tool_calls" + %(usage_tool_calls)s::integer,',
            '  "usage_wall_seconds" = "usage_wall_seconds"'
            " + %(usage_wall_seconds)s::double precision,",
            '  "cursor" = COALESCE(%(cursor)s::integer, "cursor"),',
            '  "not_before" = CASE WHEN %(not_before_set)s::boolean'
            ' THEN %(not_before)s::timestamptz ELSE "not_before" END,',
            '  "audit_seq" = COALESCE(%(audit_seq)s::bigint, "audit_seq"),',
            '  "audit_hash" = COALESCE(%(audit_hash)s::varchar, "audit_hash")',
            '  WHERE "id" = %(run_id)s::uuid AND "status" = \'running\'',
            '    AND "lease_owner" = %(owner)s::varchar',
            '    AND "event_seq" = %(seen_event_seq)s::bigint',
            '    AND "cursor" = %(seen_cursor)s::integer',
            "    AND (%(charge_tool_calls)s::integer = 0 OR EXISTS (SELECT 1 FROM budget))",
            '  RETURNING "id"),',
            _insert("step", RunStep, "jsonb_populate_record", STEP_ROW, returning=' RETURNING "id"')
            + ",",
            _insert("invocations", ToolInvocation, "jsonb_populate_recordset", INVOCATION_ROWS)
            + ",",
            _events_insert() + ",",
            _insert("audit", AuditEvent, "jsonb_populate_recordset", AUDIT_ROWS, with_pk=True)
            + ",",
            # the tool calls' usage records (a model call's is written when it settles)
            _insert("usage", UsageRecord, "jsonb_populate_recordset", USAGE_ROWS, with_pk=True)
            + ",",
            f'charge AS (UPDATE "{budget_table}"'  # noqa: S608 (a table name)
            ' SET "spent_tool_calls" = "spent_tool_calls" + %(charge_tool_calls)s::integer',
            '  WHERE "id" IN (SELECT "id" FROM budget) AND EXISTS (SELECT 1 FROM guard))',
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


def model_row(instance: Any) -> dict[str, Any]:
    """The instance's row as its INSERT's document: every concrete column but the key."""
    return {
        column: getattr(instance, attribute) for column, attribute in _row_fields(type(instance))
    }


def model_row_with_pk(instance: Any) -> dict[str, Any]:
    return {"id": instance.pk, **model_row(instance)}


def checkpoint_supported(row: RunStep, invocations: list[Any]) -> bool:
    """Only inserts travel this path (on PostgreSQL, which the caller checks once per slice);
    a row that already exists goes through the ORM."""
    return row.pk is None and all(invocation.pk is None for invocation in invocations)


def checkpoint_params(
    *,
    run: Run,
    owner: str,
    fields: dict[str, Any],
    row: RunStep,
    invocations: list[Any],
    event_rows: str,
    audit: list[Any],
    usage_records: list[Any] = (),
    charge_budget: Any = None,
    charge_tool_calls: int = 0,
) -> dict[str, Any]:
    """The parameters of `checkpoint_statement`: `fields` are the run columns the step
    moves (usage as increments); `fields["finish"]` (a RunFinish) makes them those of the
    finishing statement. `event_rows`: the JSON list of the step's RunEvent rows.
    `charge_tool_calls` deferred tool calls are charged to the budget `charge_budget` with
    the step, and the step is written only if the budget has room for them."""
    params: dict[str, Any] = {
        "current_step": fields["current_step"],
        "event_seq": fields["event_seq"],
        "model_calls": fields["model_calls"],
        "usage_usd": fields["usage_usd"],
        "usage_input_tokens": fields["usage_input_tokens"],
        "usage_output_tokens": fields["usage_output_tokens"],
        "usage_tool_calls": fields["usage_tool_calls"],
        "usage_wall_seconds": fields["usage_wall_seconds"],
        "cursor": fields.get("cursor"),
        "not_before_set": "not_before" in fields,
        "not_before": fields.get("not_before"),
        # the run's audit chain moves on with its tool calls
        "audit_seq": fields.get("audit_seq"),
        "audit_hash": fields.get("audit_hash"),
        "run_id": str(run.pk),
        "owner": owner,
        "seen_event_seq": run.event_seq,
        # the step's own index: a step is only written after the one before it
        "seen_cursor": run.cursor,
        STEP_ROW: json_dumps(model_row(row)),
        INVOCATION_ROWS: json_dumps([model_row(invocation) for invocation in invocations]),
        EVENT_ROWS: event_rows,
        AUDIT_ROWS: json_dumps([model_row_with_pk(audit_row) for audit_row in audit]),
        USAGE_ROWS: json_dumps([model_row_with_pk(record) for record in usage_records]),
        "charge_budget": None if charge_budget is None else str(charge_budget),
        "charge_tool_calls": charge_tool_calls,
    }
    finish = fields.get("finish")
    if finish is None:
        params["lease_expires_at"] = fields["lease_expires_at"]
    else:
        params["outputs"] = None if finish.outputs is None else json_dumps(finish.outputs)
        params["finished_at"] = finish.finished_at
    return params


def checkpoint_commit(*, row: RunStep, params: dict[str, Any]) -> bool:
    """On this thread's connection: True when the guard matched and everything was written
    (committed, unless the caller holds a transaction open); False when the run moved on."""
    written = statement_fetch_one(checkpoint_statement(), params)
    if written is None:
        return False
    row.pk = written[0]
    row._state.adding = False
    return True


def statement_fetch_one(sql: str, params: dict[str, Any]) -> tuple | None:
    """The first row of `sql` on this thread's connection, the statement prepared once per
    connection (settings give the connection the prepare threshold this needs)."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        _execute_with_wrappers(cursor, sql, params)
        return cursor.fetchone()


def _execute_with_wrappers(cursor: psycopg.Cursor, sql: str, params: dict[str, Any]) -> None:
    """Runs Django's `connection.execute_wrapper` hooks around the raw statement too, so query
    meters and instrumentation see it like any ORM statement."""

    def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        return cursor.execute(sql, params, prepare=True)

    executor = execute
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    executor(sql, params, False, {"connection": connection, "cursor": cursor})


@functools.cache
def run_row_statement(fields: tuple[str, ...]) -> str:
    """A guarded write of some of a run's columns (taken from a JSON document of the run
    row), its new events and its audit rows, for the lifecycle moves the lease holder makes
    alone (start, success). Answers the run id, or nothing when the guard did not match."""
    run_table = Run._meta.db_table
    columns = {field.name: field.column for field in Run._meta.concrete_fields}
    targets = ", ".join(f'"{columns[name]}"' for name in fields)
    values = ", ".join(f'r."{columns[name]}"' for name in fields)
    return "\n".join(
        [
            f'WITH guard AS (UPDATE "{run_table}" SET ({targets}, "event_seq") =',  # noqa: S608
            f"  (SELECT {values}, %(event_seq)s::bigint"  # noqa: S608 (columns from the model)
            f' FROM jsonb_populate_record(NULL::"{run_table}",',
            "  %(run_row)s::jsonb) AS r)",
            '  WHERE "id" = %(run_id)s::uuid AND "status" = %(expected_status)s::varchar',
            '    AND "lease_owner" = %(owner)s::varchar'
            ' AND "event_seq" = %(seen_event_seq)s::bigint RETURNING "id"),',
            _events_insert() + ",",
            _insert("audit", AuditEvent, "jsonb_populate_recordset", AUDIT_ROWS, with_pk=True),
            'SELECT "id" FROM guard',
        ]
    )


def run_row_params(
    *,
    run: Run,
    fields: tuple[str, ...],
    expected_status: str,
    owner: str,
    event_rows: str,
    event_count: int,
    audit: list[Any],
) -> dict[str, Any]:
    """`run.event_seq` is the value the guard expects; the `event_count` events in
    `event_rows` (a JSON list of RunEvent rows) follow it; `audit`: the transition's audit
    rows (AuditEvent instances)."""
    document = {}
    for name in fields:
        field = Run._meta.get_field(name)
        document[field.column] = getattr(run, field.attname)
    return {
        "event_seq": run.event_seq + event_count,
        "run_row": json_dumps(document),
        "run_id": str(run.pk),
        "expected_status": expected_status,
        "owner": owner,
        "seen_event_seq": run.event_seq,
        EVENT_ROWS: event_rows,
        AUDIT_ROWS: json_dumps([model_row_with_pk(audit_row) for audit_row in audit]),
    }
