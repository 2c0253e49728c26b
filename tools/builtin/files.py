"""Workspace file tools: list, read and write the files of a run's workspace."""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tools.context import ToolContext, ToolExecutionError, guess_content_type

MAX_LIST_ENTRIES = 1_000
MAX_READ_BYTES = 1024 * 1024
TEMPORARY_PREFIX = ".tmp-"  # ToolContext.write_file's files mid-write, never artifacts


def files_list(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Every file and folder under `path` (the workspace root by default), recursively,
    sorted by path; at most MAX_LIST_ENTRIES, with `truncated` saying when there were more."""
    folder = arguments.get("path", ".")
    root = ctx.resolve(folder)
    if not root.is_dir():
        raise ToolExecutionError(f"{folder!r} is not a folder in the run workspace.")
    entries: list[dict[str, Any]] = []
    truncated = False
    for entry in _walk(ctx, root):
        if len(entries) == MAX_LIST_ENTRIES:
            truncated = True
            break
        entries.append(entry)
    entries.sort(key=lambda entry: entry["path"])
    return {"path": folder, "entries": entries, "truncated": truncated}


def _walk(ctx: ToolContext, root: Path) -> Iterator[dict[str, Any]]:
    """Entries below `root` with paths relative to the workspace; symlinks that lead out of
    the workspace are left out and symlinked folders are not descended into."""
    workspace = ctx.resolve(".")
    pending = [root]
    while pending:
        folder = pending.pop(0)
        with os.scandir(folder) as scanner:
            children = sorted(scanner, key=lambda child: child.name)
        for child in children:
            if child.name.startswith(TEMPORARY_PREFIX):
                continue
            relative = Path(child.path).relative_to(workspace).as_posix()
            try:
                ctx.resolve(relative)
                is_dir = child.is_dir()
                size = 0 if is_dir else child.stat().st_size
            except (ToolExecutionError, OSError):
                continue  # escapes the workspace, or a dangling link
            yield {"path": relative, "size": size, "is_dir": is_dir}
            if is_dir and not child.is_symlink():
                pending.append(Path(child.path))


def files_read(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """A file's text (UTF-8; undecodable bytes become U+FFFD), cut after MAX_READ_BYTES."""
    relative = arguments["path"]
    path = ctx.resolve(relative)
    if not path.is_file():
        raise ToolExecutionError(f"{relative!r} is not a file in the run workspace.")
    size = path.stat().st_size
    with path.open("rb") as stream:
        data = stream.read(MAX_READ_BYTES)
    truncated = size > len(data)
    # Not final when cut, so a character split by the cut is dropped, not mangled.
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    content = decoder.decode(data, final=not truncated)
    return {"path": relative, "content": content, "size": size, "truncated": truncated}


def files_write(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Writes `content` as UTF-8; the file becomes an artifact of the run."""
    relative = arguments["path"]
    content_type = arguments.get("content_type") or guess_content_type(relative)
    written = ctx.write_file(relative, arguments["content"].encode("utf-8"), content_type)
    return {
        "path": written.path,
        "size": written.size,
        "sha256": written.sha256,
        "content_type": written.content_type,
    }
