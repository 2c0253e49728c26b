"""Starting a run: `run_start` is the one way a run begins (the REST view, `manage.py
run_playbook`, a parent's sub-run step, the demo and the benchmarks). It checks who may
start it, validates the inputs against the active version, tightens the budget, stores
uploaded input files, creates the row with its `run.queued` event and rings the doorbell
after commit; a top-level run reserves its `max_usd` of credit in the same transaction
(402 when the organization is short). `run_start_once` is the same under an
`Idempotency-Key` (a replay reserves nothing)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from jsonschema import Draft202012Validator

from agentstudio.billing.budgets import budget_ensure
from agentstudio.errors import AppError, ErrorCode
from playbooks.engine.budget import run_budget_ref
from playbooks.engine.store.event_rows import run_events_append_locked
from playbooks.engine.store.run_audit import run_audit_transition
from playbooks.idempotency import (
    IdempotencyClaim,
    IdempotencyKeyTaken,
    idempotency_claim,
    idempotency_complete,
    idempotency_replay,
)
from playbooks.models import Artifact, Playbook, PlaybookStatus, Run
from playbooks.runs import doorbell
from playbooks.runs.credit import run_credit_reserve
from playbooks.runs.events import run_event_queued
from playbooks.runs.files import (
    INPUT_FILES_STEP,
    InputFile,
    input_files_discard,
    input_files_store,
)
from playbooks.runs.services import run_assert_can_start
from playbooks.spec.defaults import BUDGET_LIMITS, spec_effective_budget


def run_inputs_errors(*, spec: dict[str, Any], inputs: Any) -> list[dict[str, str]]:
    schema = spec.get("inputs") or {"type": "object"}
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [
        {
            "path": "/inputs" + "".join(f"/{part}" for part in error.absolute_path),
            "message": error.message,
        }
        for error in sorted(validator.iter_errors(inputs), key=lambda e: list(e.absolute_path))
    ]


def run_budget_effective(*, spec: dict[str, Any], requested: dict[str, Any] | None) -> dict:
    """The playbook's budget, tightened (never loosened) by the request."""
    budget = spec_effective_budget(spec)
    for name, value in (requested or {}).items():
        if name == "on_breach":
            if value not in ("pause", "fail"):
                raise AppError(
                    ErrorCode.VALIDATION_ERROR,
                    "on_breach is pause or fail.",
                    details=[{"path": "/budget/on_breach", "message": "pause or fail"}],
                )
            if budget["on_breach"] == "fail" and value == "pause":
                raise AppError(
                    ErrorCode.VALIDATION_ERROR,
                    "A run budget may only tighten the playbook's: on_breach is fail.",
                    details=[{"path": "/budget/on_breach", "message": "looser"}],
                )
            budget[name] = value
            continue
        if name not in BUDGET_LIMITS:
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                f"Unknown budget field {name!r}.",
                details=[{"path": f"/budget/{name}", "message": "unknown field"}],
            )
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            number = Decimal("NaN")
        if not number.is_finite() or number <= 0 or number > Decimal(str(budget[name])):
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                f"budget.{name} must be positive and at most the playbook's {budget[name]}.",
                details=[{"path": f"/budget/{name}", "message": "must tighten the playbook's"}],
            )
        budget[name] = float(number) if name in ("max_usd", "max_wall_seconds") else int(number)
    return budget


def run_start(
    *,
    playbook: Playbook,
    actor: Any,
    inputs: dict[str, Any],
    files: Sequence[InputFile] = (),
    budget: dict | None = None,
    callback_url: str = "",
    parent: Run | None = None,
    parent_step: str = "",
    run_id: Any = None,
) -> Run:
    """Starts a run of the playbook's active version. Uploaded input files are stored in
    the run's workspace first (the run id is generated for them), each binary input becomes
    its file's path and each file an artifact of the run, in the caller's transaction; on
    any failure the files are deleted (a caller whose own transaction may still roll back
    passes `run_id` and discards too)."""
    if not files:
        return run_row_create(
            playbook=playbook,
            actor=actor,
            inputs=inputs,
            budget=budget,
            callback_url=callback_url,
            parent=parent,
            parent_step=parent_step,
            run_id=run_id,
        )
    run_id = run_id or uuid.uuid4()
    inputs = {**inputs, **{item.field: item.path for item in files}}
    input_files_store(run_id=run_id, files=list(files))
    try:
        with transaction.atomic():
            run = run_row_create(
                playbook=playbook,
                actor=actor,
                inputs=inputs,
                budget=budget,
                callback_url=callback_url,
                parent=parent,
                parent_step=parent_step,
                run_id=run_id,
            )
            Artifact.objects.bulk_create(
                Artifact(
                    run=run,
                    path=item.path,
                    content_type=item.content_type,
                    size=item.size,
                    sha256=item.sha256,
                    step_id=INPUT_FILES_STEP,
                )
                for item in files
            )
    except BaseException:
        input_files_discard(run_id=run_id, files=list(files))
        raise
    return run


@transaction.atomic
def run_row_create(
    *,
    playbook: Playbook,
    actor: Any,
    inputs: dict[str, Any],
    budget: dict | None,
    callback_url: str,
    parent: Run | None,
    parent_step: str,
    run_id: Any,
) -> Run:
    """`run_start`'s row: checked, created with its `run.queued` event, doorbell rung."""
    if parent is None:  # a sub-run is started by its parent's step, not by a person
        run_assert_can_start(actor=actor, playbook=playbook)
    playbook = Playbook.objects.select_for_update().get(pk=playbook.pk)
    if playbook.status != PlaybookStatus.ACTIVE:
        raise AppError(
            ErrorCode.INVALID_STATE, f"Only active playbooks run; this one is {playbook.status}."
        )
    version = playbook.versions.get(number=playbook.version)
    errors = run_inputs_errors(spec=version.spec, inputs=inputs)
    if errors:
        raise AppError(
            ErrorCode.VALIDATION_ERROR, f"Invalid inputs: {errors[0]['message']}", details=errors
        )
    run = Run(
        **({"id": run_id} if run_id else {}),
        organization_id=playbook.organization_id,
        playbook=playbook,
        version=version,
        inputs=inputs,
        budget=run_budget_effective(spec=version.spec, requested=budget),
        callback_url=callback_url,
        created_by=actor,
        parent_run=parent,
        parent_step=parent_step,
    )
    # a person's start (a sub-run is its parent's: the system's), in the row's own INSERT
    started_by = actor if parent is None else None
    run_credit_reserve(run, actor=started_by)  # 402 when short: the start rolls back
    parent_run = {"parent_run": str(parent.pk)} if parent is not None else {}
    run_audit_transition(run, transition="queued", source=None, actor=started_by, **parent_run)
    run.save(force_insert=True)
    if parent is None:  # its budget row, with the run (a sub-run draws on its root's)
        budget_ensure(run_budget_ref(run))
    run_events_append_locked(
        run=run,
        events=[run_event_queued(playbook=playbook, version=version.number, parent=parent)],
    )
    doorbell.run_enqueue(run_id=run.pk)
    return run


def run_child_create(*, parent: Run, slug: str, inputs: Any, marker: str) -> tuple[Run | None, str]:
    """Inside the parent's checkpoint: start a sub-run, or say why not."""
    playbook = Playbook.objects.filter(organization_id=parent.organization_id, slug=slug).first()
    if playbook is None or playbook.status != PlaybookStatus.ACTIVE:
        return None, f"sub-playbook {slug!r} is not an active playbook of this organization"
    try:
        child = run_start(
            playbook=playbook,
            actor=parent.created_by,
            inputs=inputs or {},
            parent=parent,
            parent_step=marker,
        )
    except AppError as exc:
        return None, f"sub-run of {slug!r} refused: {exc.message}"
    return child, ""


@dataclass(frozen=True)
class RunStartAnswer:
    """What a start under an idempotency key answers: the stored response (`replayed`) or
    the new run's, as `render` made it."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def run_start_once(
    *,
    claim: IdempotencyClaim | None,
    status: int,
    render: Callable[[Run], dict[str, Any]],
    **start: Any,
) -> RunStartAnswer:
    """`run_start` honouring an `Idempotency-Key` (`claim`, or None without one): the first
    answer to a key is replayed for 24 hours. The run, its files and the stored answer are
    written in one transaction; a concurrent request with the same key waits for the first
    and replays its answer (409 while it is still in progress)."""
    if claim is not None and (record := idempotency_replay(claim=claim)) is not None:
        return RunStartAnswer(record.response_status, record.response_body, replayed=True)
    try:
        return RunStartAnswer(status, _run_start_claimed(claim, status, render, start))
    except IdempotencyKeyTaken:
        record = idempotency_replay(claim=claim)  # type: ignore[arg-type]
        if record is None:  # the other request failed after all: nothing to replay
            raise AppError(
                ErrorCode.INVALID_STATE, "A request with this key is in progress; retry."
            ) from None
        return RunStartAnswer(record.response_status, record.response_body, replayed=True)


def _run_start_claimed(
    claim: IdempotencyClaim | None,
    status: int,
    render: Callable[[Run], dict[str, Any]],
    start: dict[str, Any],
) -> dict[str, Any]:
    """Creates the run (and stores the answer under the key) in one transaction."""
    run_id = uuid.uuid4()
    files = list(start.get("files") or ())
    try:
        with transaction.atomic():
            record = idempotency_claim(claim=claim) if claim is not None else None
            run = run_start(**start, run_id=run_id)
            body = render(run)
            if record is not None:
                idempotency_complete(record=record, status=status, body=body)
    except BaseException:
        input_files_discard(run_id=run_id, files=files)
        raise
    return body
