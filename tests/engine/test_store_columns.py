"""The store's raw statements against the models: every column an INSERT must fill is
listed and filled by the JSON document it reads, and no UPDATE leaves an `auto_now` column
behind. A model that gains a column (a field with a Python default, `auto_now_add`...) the
SQL does not fill fails here, with where to add it, instead of as a NULL in production."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from decimal import Decimal

from django.apps import apps
from django.db import models

from agentstudio.audit.models import AuditEvent
from agentstudio.billing.models import UsageRecord
from agentstudio.model_instances import model_instance
from playbooks.engine.store.event_rows import event_batch
from playbooks.engine.store.postgres import (
    checkpoint_params,
    checkpoint_statement,
    run_row_params,
    run_row_statement,
)
from playbooks.engine.store.step_write import RunFinish
from playbooks.models import Run, RunEvent, RunStep
from tools.models import ToolInvocation

WHERE = "playbooks/engine/store/postgres.py"
# Where each INSERT's document is made, for the message
DOCUMENT_SOURCES = {
    "step_row": "postgres.model_row (every concrete field)",
    "invocation_rows": "postgres.model_row (every concrete field)",
    "audit_rows": "postgres.model_row_with_pk (every concrete field)",
    "usage_rows": "postgres.model_row_with_pk (every concrete field)",
    "event_rows": "playbooks/engine/store/event_rows.py's event_row",
}

_INSERT = re.compile(
    r'INSERT INTO "(?P<table>\w+)" \((?P<columns>[^)]*)\) SELECT (?P<picked>.*?) '
    r'FROM guard, \w+\(NULL::"\w+", %\((?P<document>\w+)\)s::jsonb\)'
)
_UPDATE = re.compile(r'UPDATE "(?P<table>\w+)" SET (?P<assignments>.*?)\s+WHERE ', re.S)


def _model(table: str) -> type[models.Model]:
    return next(m for m in apps.get_models() if m._meta.db_table == table)


def field_kind(field: models.Field) -> str:
    """What makes a column's value, as the message names it."""
    if getattr(field, "auto_now_add", False):
        return "auto_now_add"
    if getattr(field, "auto_now", False):
        return "auto_now"
    if field.primary_key:
        return "primary key"
    if field.has_default():
        return "default"
    return "nullable" if field.null else "required"


def model_columns(model: type[models.Model]) -> dict[str, str]:
    """Column → kind of every concrete field; an auto-increment key is the database's."""
    return {
        field.column: field_kind(field)
        for field in model._meta.concrete_fields
        if not isinstance(field, models.AutoField | models.BigAutoField)
    }


def insert_gaps(name: str, columns: dict[str, str], filled: set[str], what: str) -> list[str]:
    """One message per column of the model (`columns`: column → kind) an INSERT leaves
    unfilled."""
    return [
        f"{name} gained column {column!r} ({kind}) that {WHERE}'s INSERT does not fill: "
        f"add it to {what}"
        for column, kind in columns.items()
        if column not in filled
    ]


def update_gaps(name: str, columns: dict[str, str], written: set[str]) -> list[str]:
    """One message per `auto_now` column an UPDATE of the model leaves as it was."""
    return [
        f"{name} gained column {column!r} (auto_now) that {WHERE}'s UPDATE does not set: "
        "add it to the statement's SET"
        for column, kind in columns.items()
        if kind == "auto_now" and column not in written
    ]


def _picked_from_document(picked: str, columns: list[str]) -> set[str]:
    """The INSERT's columns whose value is read from the document (`r."column"`)."""
    values = [value.strip() for value in picked.split(",")]
    return {column for column, value in zip(columns, values, strict=True) if value.startswith("r.")}


def statement_gaps(sql: str, params: dict) -> list[str]:
    """Every gap of the statement: columns its INSERTs do not list, columns they read from
    a document that does not have them, `auto_now` columns its UPDATEs do not set."""
    gaps: list[str] = []
    inserts = list(_INSERT.finditer(sql))
    assert inserts, "no INSERT found: the statement's shape changed, update this test"
    for insert in inserts:
        model = _model(insert["table"])
        listed = [column.strip().strip('"') for column in insert["columns"].split(",")]
        name, source = model.__name__, insert["document"]
        gaps += insert_gaps(
            name, model_columns(model), set(listed), f"the column list of its {source} INSERT"
        )
        document = json.loads(params[source])
        rows = document if isinstance(document, list) else [document]
        assert rows, f"the sample {source} document is empty: give it a row"
        from_document = _picked_from_document(insert["picked"], listed)
        for row in rows:
            filled = set(listed) - from_document | set(row)
            gaps += insert_gaps(name, model_columns(model), filled, DOCUMENT_SOURCES[source])
    for update in _UPDATE.finditer(sql):
        model = _model(update["table"])
        written = set(re.findall(r'"(\w+)"\s*(?:=|,|\))', update["assignments"]))
        gaps += update_gaps(model.__name__, model_columns(model), written)
    return sorted(set(gaps))


def _sample_checkpoint(finishing: bool) -> tuple[str, dict]:
    run = Run(pk=uuid.uuid4(), event_seq=3, cursor=1)
    now = datetime.datetime.now(datetime.UTC)
    row = model_instance(
        RunStep, run_id=run.pk, index=1, step_id="s", kind="tool", status="succeeded",
        started_at=now,
    )  # fmt: skip
    invocation = model_instance(
        ToolInvocation, run_id=run.pk, key="k", step_id="s", tool="t", arguments={},
        status="succeeded", idempotent=True, started_at=now,
    )  # fmt: skip
    audit = model_instance(AuditEvent, stream="run:x", seq=1, type="tool.called", created_at=now)
    usage = model_instance(
        UsageRecord, id=uuid.uuid4(), organization_id=1, kind="tool", run_id=run.pk,
        step_id="s", tool="t", created_at=now,
    )  # fmt: skip
    batch = event_batch(first_seq=4, events=[("step.succeeded", {"step": "s"})], created_at=now)
    fields = {
        "current_step": "s",
        "lease_expires_at": None,
        "event_seq": 4,
        "model_calls": 0,
        "usage_usd": Decimal("0"),
        "usage_input_tokens": 0,
        "usage_output_tokens": 0,
        "usage_tool_calls": 1,
        "usage_wall_seconds": 0.5,
        "cursor": 2,
    }
    if finishing:
        fields["finish"] = RunFinish(outputs={}, finished_at=now)
    params = checkpoint_params(
        run=run,
        owner="w",
        fields=fields,
        row=row,
        invocations=[invocation],
        event_rows=batch.rows,
        audit=[audit],
        usage_records=[usage],
    )
    return checkpoint_statement(finishing=finishing), params


def test_the_step_checkpoint_fills_every_column_of_its_rows():
    for finishing in (False, True):
        sql, params = _sample_checkpoint(finishing)
        assert statement_gaps(sql, params) == []


def test_the_guarded_run_row_save_fills_every_column_of_its_events():
    run = Run(pk=uuid.uuid4(), event_seq=0, status="running")
    now = datetime.datetime.now(datetime.UTC)
    batch = event_batch(first_seq=1, events=[("run.started", {"attempt": 1})], created_at=now)
    audit = model_instance(AuditEvent, stream="run:x", seq=1, type="run.started", created_at=now)
    for fields in (("status", "started_at"), ("status", "outputs", "lease_owner")):
        params = run_row_params(
            run=run,
            fields=fields,
            expected_status="queued",
            owner="w",
            event_rows=batch.rows,
            event_count=len(batch),
            audit=[audit],
        )
        assert statement_gaps(run_row_statement(fields), params) == []


def test_every_statement_parameter_is_given_by_name():
    sql, params = _sample_checkpoint(False)
    assert not re.search(r"%s\b", sql)
    assert set(re.findall(r"%\((\w+)\)s", sql)) <= set(params)


def test_a_column_the_insert_does_not_list_fails_with_where_to_add_it():
    """A model that gains a field is reported by name, with what makes its value."""
    sql, _ = _sample_checkpoint(False)
    events = next(i for i in _INSERT.finditer(sql) if i["table"] == RunEvent._meta.db_table)
    listed = {column.strip().strip('"') for column in events["columns"].split(",")}
    grown = {**model_columns(RunEvent), "x": "default", "received_at": "auto_now_add"}
    assert insert_gaps("RunEvent", grown, listed, "the column list of its event_rows INSERT") == [
        f"RunEvent gained column 'x' (default) that {WHERE}'s INSERT does not fill: "
        "add it to the column list of its event_rows INSERT",
        f"RunEvent gained column 'received_at' (auto_now_add) that {WHERE}'s INSERT does not "
        "fill: add it to the column list of its event_rows INSERT",
    ]


def test_a_column_the_document_does_not_fill_fails_with_where_to_add_it():
    """The event rows are made by hand (`event_row`): a column their INSERT lists but their
    document lacks would be written NULL."""
    sql, params = _sample_checkpoint(False)
    rows = json.loads(params["event_rows"])
    for row in rows:
        del row["type"]
    params["event_rows"] = json.dumps(rows)
    assert statement_gaps(sql, params) == [
        f"RunEvent gained column 'type' (required) that {WHERE}'s INSERT does not fill: "
        "add it to playbooks/engine/store/event_rows.py's event_row"
    ]


def test_an_auto_now_column_the_update_does_not_set_fails():
    assert update_gaps("Run", {"updated_at": "auto_now", "cursor": "default"}, {"cursor"}) == [
        f"Run gained column 'updated_at' (auto_now) that {WHERE}'s UPDATE does not set: "
        "add it to the statement's SET"
    ]
