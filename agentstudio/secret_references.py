"""Where vault handles (`{"$vault": name}`) sit in a JSON value, by JSON Pointer, and what an
edit did to them: shared by approvals (an edit may not touch one) and the broker (only the
author's resolve), which is why it lives in the core and not in `tools`."""

from __future__ import annotations

from typing import Any

import orjson

VAULT_MARKER = "$vault"  # a JSON value {"$vault": name} is shaped like a handle to a secret


def is_vault_handle(value: Any) -> bool:
    """Whether `value` has a handle's shape, wherever it came from (its provenance is the
    broker's question, not this one)."""
    return type(value) is dict and len(value) == 1 and VAULT_MARKER in value


def json_pointer_join(base: str, key: Any) -> str:
    """`base` extended by one key or index, escaped as RFC 6901 says."""
    return f"{base}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _may_hold_handles(value: Any) -> bool:
    """False when `value` surely holds no handle: its JSON text never says "$vault" (a
    few microseconds, on every tool call's arguments; the walk is only for the rest)."""
    try:
        return b'"$vault"' in orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # not plain JSON: walk it
        return True


def vault_references(value: Any, *, base: str = "") -> dict[str, Any]:
    """Every handle-shaped value inside `value`: its JSON Pointer → the name it refers to."""
    found: dict[str, Any] = {}
    if not _may_hold_handles(value):
        return found
    pending: list[tuple[str, Any]] = [(base, value)]
    while pending:
        path, item = pending.pop()
        if is_vault_handle(item):
            found[path] = item[VAULT_MARKER]
        elif isinstance(item, dict):
            pending.extend((json_pointer_join(path, k), v) for k, v in item.items())
        elif isinstance(item, list):
            pending.extend((json_pointer_join(path, i), v) for i, v in enumerate(item))
    return found


def vault_reference_changes(before: Any, after: Any, *, base: str = "") -> list[dict[str, str]]:
    """What `after` does to the secret references of `before`, one detail per path (the
    error envelope's `details`); empty when it keeps every one exactly where it was."""
    old, new = vault_references(before, base=base), vault_references(after, base=base)
    changes = []
    for path in sorted(old.keys() | new.keys()):
        if path not in new:
            changes.append({"path": path, "message": "removes a vault reference"})
        elif path not in old:
            changes.append({"path": path, "message": "adds a vault reference"})
        elif old[path] != new[path]:
            changes.append({"path": path, "message": "changes a vault reference"})
    return changes
