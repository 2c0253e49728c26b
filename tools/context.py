"""What a tool implementation may touch: its run's workspace, and nothing else.

The engine builds one ToolContext per call. Implementations read and write files only
through it; the engine records every file a call wrote as a run artifact in the same
checkpoint that records the call, so a crash never leaves an artifact without its step.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tools.paths import PathOutsideRoot, path_inside


class ToolExecutionError(Exception):
    """A failure inside a tool that the caller (person or model) can act on; it becomes a
    result with `isError: true` and this message, never a crash of the run engine."""


class WorkspacePathError(ToolExecutionError):
    """A path that is absolute, climbs out of the workspace, or crosses a symlink out."""


@dataclass(frozen=True)
class WrittenFile:
    path: str  # relative to the workspace, with forward slashes
    content_type: str
    size: int
    sha256: str


@dataclass
class ToolContext:
    run_id: str
    step_id: str
    call_key: str
    workspace: Path
    # For tools.studio.report.lineage: one entry per finished step, oldest first:
    # {"step", "kind", "tool", "inputs", "artifacts": [paths], "started_at", "finished_at"},
    # and for a decided gate or question "decision": {approval, status, by, at, body_hash}
    lineage: list[dict[str, Any]] = field(default_factory=list)
    max_file_bytes: int = 50 * 1024 * 1024
    written: list[WrittenFile] = field(default_factory=list)
    organization_id: Any = None  # set by the broker; whose vault `secret` reads
    secrets_used: list[str] = field(default_factory=list)
    # For the model-backed tools (tools.studio.ai.*): the model they may ask, a ToolModel
    # (tools.ai_services.model_access) set by the caller: the run's model spec inside a run,
    # the organization's AI-services provider through the REST AI services. None: no model.
    model: Any = None

    def secret(self, name: str) -> str:
        """A vault secret's value, for a tool that names its secret in an argument (the
        broker scrubs it from the call's result)."""
        from tools.vault import vault_resolve

        value = vault_resolve(organization_id=self.organization_id, name=name)
        self.secrets_used.append(value)
        return value

    def resolve(self, relative: str) -> Path:
        """The absolute path of `relative` inside the workspace; refuses any escape."""
        if not isinstance(relative, str) or not relative or "\x00" in relative:
            raise WorkspacePathError("A workspace path must be a non-empty string.")
        candidate = Path(relative)
        if candidate.is_absolute() or ".." in candidate.parts:
            raise WorkspacePathError(f"{relative!r} must be relative to the run workspace.")
        try:
            return path_inside(self.workspace, candidate)
        except PathOutsideRoot:
            raise WorkspacePathError(f"{relative!r} leaves the run workspace.") from None

    def write_file(
        self, relative: str, data: bytes, content_type: str | None = None
    ) -> WrittenFile:
        """Writes atomically (temp file + rename) and remembers the file as an artifact."""
        if len(data) > self.max_file_bytes:
            raise ToolExecutionError(
                f"{relative!r} would be {len(data)} bytes; the artifact cap is "
                f"{self.max_file_bytes} bytes."
            )
        target = self.resolve(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        written = WrittenFile(
            path=target.relative_to(self.workspace.resolve()).as_posix(),
            content_type=content_type or guess_content_type(relative),
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )
        self.written = [item for item in self.written if item.path != written.path] + [written]
        return written

    def read_bytes(self, relative: str, *, limit: int | None = None) -> bytes:
        path = self.resolve(relative)
        if not path.is_file():
            raise ToolExecutionError(f"{relative!r} is not a file in the run workspace.")
        size = path.stat().st_size
        cap = limit if limit is not None else self.max_file_bytes
        if size > cap:
            raise ToolExecutionError(f"{relative!r} is {size} bytes; the limit is {cap} bytes.")
        return path.read_bytes()


def guess_content_type(path: str) -> str:
    known = {
        ".md": "text/markdown",
        ".csv": "text/csv",
        ".json": "application/json",
        ".yaml": "application/yaml",
        ".yml": "application/yaml",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    suffix = Path(path).suffix.lower()
    return known.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
