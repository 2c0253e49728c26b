"""Specs and page-reading helpers shared by the admin tests."""

import re
from typing import Any

PASSWORD = "correct-horse-battery"

WRITE_SPEC: dict[str, Any] = {
    "name": "Write a file",
    "steps": [
        {
            "id": "w",
            "tool": "tools.studio.files.write",
            "args": {"path": "a.txt", "content": "x"},
        }
    ],
    "tools": ["tools.studio.files.write"],
}
READ_SPEC: dict[str, Any] = {
    "name": "Read a file",
    "steps": [{"id": "r", "tool": "tools.studio.files.read", "args": {"path": "a.txt"}}],
    "tools": ["tools.studio.files.read"],
}


def rendered_body_hash(html: str) -> str:
    """The hash the approve form carries, exactly as the page rendered it."""
    match = re.search(r'name="body_hash" value="([0-9a-f]{64})"', html)
    assert match, "the approve form has no body_hash field"
    return match.group(1)


def page_messages(response: Any) -> list[str]:
    """The flash messages shown on a page reached with `follow=True`."""
    return [str(message) for message in response.context["messages"]]


def transition_buttons(html: str) -> list[str]:
    """Names of the lifecycle buttons on a playbook page, in order."""
    return re.findall(r'<button type="submit" class="button" name="transition" value="(\w+)"', html)


def fresh(obj: Any) -> Any:
    """The row as stored now; refresh_from_db() cannot reload a protected FSM field."""
    return type(obj)._default_manager.get(pk=obj.pk)
