"""Files a person hands a run: inputs declared `{type: string, format: binary}` (a multipart
part, or `@path` for `manage.py run_playbook`) and, later, files given as a question's answer.

A file is written to the run's workspace under `<folder>/<field>/<filename>` (inputs before
the run row exists: the run id is generated first), the value becomes that relative path,
and the file is registered as an artifact so it can be downloaded like any other."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from agentstudio.errors import AppError, ErrorCode
from approvals.services import approval_answer
from playbooks.engine.workspace import run_workspace
from playbooks.models import Artifact
from tools.context import guess_content_type

INPUT_FILES_STEP = "inputs"
INPUT_FILE_NAME_MAX_LENGTH = 200


@dataclass(frozen=True)
class InputFile:
    """One file for one binary input: where it comes from and what it is."""

    field: str
    filename: str
    content_type: str
    size: int
    sha256: str
    source: Any  # a Django UploadedFile or a local pathlib.Path
    folder: str = INPUT_FILES_STEP

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.field}/{self.filename}"


def binary_input_fields(spec: dict[str, Any]) -> list[str]:
    """Top-level inputs declared `{type: string, format: binary}`."""
    properties = (spec.get("inputs") or {}).get("properties") or {}
    return sorted(
        name
        for name, schema in properties.items()
        if isinstance(schema, dict)
        and schema.get("type") == "string"
        and schema.get("format") == "binary"
    )


def input_file_name_safe(raw: str, *, fallback: str = "upload") -> str:
    """The base name only: no folders, no `..`, no leading dots, no control characters."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char)[0] != "C")
    name = name.strip().lstrip(".").strip()
    if len(name) > INPUT_FILE_NAME_MAX_LENGTH:
        _stem, dot, extension = name.rpartition(".")
        suffix = f".{extension}" if dot and len(extension) <= 20 else ""
        name = name[: INPUT_FILE_NAME_MAX_LENGTH - len(suffix)] + suffix
    return name or fallback


def _too_large(field: str, size: int) -> AppError:
    cap = settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES
    return AppError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        f"The file for {field!r} is {size} bytes; the cap is {cap} bytes.",
        details=[{"path": f"/{field}", "message": f"over {cap} bytes"}],
    )


def _content_type(filename: str, declared: str | None) -> str:
    """What the name says; the client's declared type only when the name says nothing."""
    guessed = guess_content_type(filename)
    if guessed == "application/octet-stream" and declared:
        return declared[:200]
    return guessed


def input_file_from_upload(field: str, uploaded: Any) -> InputFile:
    """Hashes an uploaded part (413 over the artifact cap)."""
    if uploaded.size > settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES:
        raise _too_large(field, uploaded.size)
    digest = hashlib.sha256()
    uploaded.seek(0)
    for chunk in uploaded.chunks():
        digest.update(chunk)
    filename = input_file_name_safe(uploaded.name, fallback=field)
    return InputFile(
        field=field,
        filename=filename,
        content_type=_content_type(filename, uploaded.content_type),
        size=uploaded.size,
        sha256=digest.hexdigest(),
        source=uploaded,
    )


def input_file_from_path(field: str, local: Path) -> InputFile:
    """Hashes a local file named on the command line (413-equivalent error over the cap)."""
    size = local.stat().st_size
    if size > settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES:
        raise _too_large(field, size)
    digest = hashlib.sha256()
    with local.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
    filename = input_file_name_safe(local.name, fallback=field)
    return InputFile(
        field=field,
        filename=filename,
        content_type=guess_content_type(filename),
        size=size,
        sha256=digest.hexdigest(),
        source=local,
    )


def input_files_store(*, run_id: Any, files: list[InputFile]) -> None:
    """Writes each file to `<workspace>/<folder>/<field>/<filename>`."""
    workspace = run_workspace(run_id)
    for item in files:
        target = workspace / item.path
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(item.source, Path):
            shutil.copyfile(item.source, target)
            continue
        item.source.seek(0)
        with target.open("wb") as stream:
            for chunk in item.source.chunks():
                stream.write(chunk)


def input_files_discard(*, run_id: Any, files: list[InputFile]) -> None:
    """Deletes what input_files_store wrote (the run was not created)."""
    if not files:
        return
    workspace = run_workspace(run_id)
    shutil.rmtree(workspace / INPUT_FILES_STEP, ignore_errors=True)
    with contextlib.suppress(OSError):
        workspace.rmdir()  # only when nothing else is in it


ANSWER_FILES_FOLDER = "answers"


def question_wants_file(approval: Any) -> bool:
    """A question whose answer schema is a file: `{type: string, format: binary}`."""
    schema = (approval.payload or {}).get("schema") or {}
    return schema.get("type") == "string" and schema.get("format") == "binary"


def question_answer_with_file(*, approval: Any, actor: Any, uploaded: Any) -> Any:
    """Answers a file question: the file goes into the run's workspace under
    `answers/<step>/<filename>` as an artifact of the asking step, and the answer is that
    path. Anything refused (not a file question, too large, not allowed to answer, already
    decided) leaves no file behind."""
    if not question_wants_file(approval) or approval.run_id is None:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "This question does not take a file; send the answer as JSON.",
            details=[{"path": "/answer", "message": "not a file question"}],
        )
    item = input_file_from_upload(approval.step or "answer", uploaded)
    item = InputFile(**{**item.__dict__, "folder": ANSWER_FILES_FOLDER})
    input_files_store(run_id=approval.run_id, files=[item])
    try:
        with transaction.atomic():
            answered = approval_answer(approval=approval, actor=actor, answer=item.path)
            Artifact.objects.update_or_create(
                run_id=approval.run_id,
                path=item.path,
                defaults={
                    "content_type": item.content_type,
                    "size": item.size,
                    "sha256": item.sha256,
                    "step_id": approval.step,
                },
            )
    except BaseException:
        (run_workspace(approval.run_id) / item.path).unlink(missing_ok=True)
        raise
    return answered
