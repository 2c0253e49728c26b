"""The lineage tool: records which step produced which artifact from which inputs, as JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.context import ToolContext

DEFAULT_PATH = "lineage.json"
MAX_WORKSPACE_FILES_SCANNED = 10_000
MAX_REFERENCE_LENGTH = 1_024
TEMPORARY_PREFIX = ".tmp-"


def report_lineage(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Writes the lineage document for the run's finished steps to `path`."""
    relative = arguments.get("path", DEFAULT_PATH)
    target = ctx.resolve(relative).relative_to(ctx.resolve(".")).as_posix()
    document = lineage_document(ctx, target)
    data = (json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n").encode()
    written = ctx.write_file(relative, data, "application/json")
    return {
        "path": written.path,
        "size": written.size,
        "sha256": written.sha256,
        "content_type": written.content_type,
        "steps": len(document["steps"]),
        "artifacts": len(document["artifacts"]),
    }


def lineage_document(ctx: ToolContext, target: str) -> dict[str, Any]:
    """{run, generated_at, steps: [...], artifacts: {path: {produced_by, from_inputs}}}.

    `from_inputs` lists the strings in the producing step's inputs that name a file of the
    workspace or an artifact of the run (an uploaded dataset, an earlier step's output); a
    step that rewrote an artifact later is the one recorded as its producer."""
    produced = {path for entry in ctx.lineage for path in entry.get("artifacts") or []}
    known_files = _workspace_files(ctx) | produced
    steps: list[dict[str, Any]] = []
    artifacts: dict[str, dict[str, Any]] = {}
    for entry in ctx.lineage:
        own = list(entry.get("artifacts") or [])
        references = [
            reference
            for reference in _file_references(entry.get("inputs"), known_files)
            if reference not in own
        ]
        steps.append(
            {key: entry.get(key) for key in _STEP_FIELDS}
            | {key: entry[key] for key in _OPTIONAL_STEP_FIELDS if key in entry}
            | {"artifacts": own}
        )
        for path in own:
            artifacts[path] = {"produced_by": entry.get("step"), "from_inputs": references}
    artifacts[target] = {"produced_by": ctx.step_id, "from_inputs": []}
    return {
        "run": ctx.run_id,
        "generated_at": datetime.now(UTC).isoformat(),
        "steps": steps,
        "artifacts": dict(sorted(artifacts.items())),
    }


_STEP_FIELDS = ("step", "kind", "tool", "inputs", "started_at", "finished_at")
_OPTIONAL_STEP_FIELDS = ("decision",)  # who approved a gate or answered a question, the hash


def _file_references(inputs: Any, known_files: set[str]) -> list[str]:
    found: list[str] = []
    for value in _strings(inputs):
        if len(value) > MAX_REFERENCE_LENGTH or "\n" in value:
            continue
        candidate = value.strip().removeprefix("./")
        if candidate in known_files and candidate not in found:
            found.append(candidate)
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _workspace_files(ctx: ToolContext) -> set[str]:
    """Relative paths of the files in the workspace (up to a cap), found through the
    context so nothing outside the workspace is looked at."""
    workspace = ctx.resolve(".")
    files: set[str] = set()
    for folder, subfolders, names in os.walk(workspace):
        subfolders[:] = [name for name in subfolders if not name.startswith(TEMPORARY_PREFIX)]
        for name in names:
            if name.startswith(TEMPORARY_PREFIX):
                continue
            files.add(Path(folder, name).relative_to(workspace).as_posix())
            if len(files) >= MAX_WORKSPACE_FILES_SCANNED:
                return files
    return files
