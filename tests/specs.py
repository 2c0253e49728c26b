"""Small valid specs shared by tests."""

import copy

READ_ONLY_SPEC = {
    "name": "Read notes",
    "description": "Reads one file.",
    "tools": ["tools.studio.files.read"],
    "steps": [{"id": "read", "tool": "tools.studio.files.read", "args": {"path": "notes.txt"}}],
}

WRITE_SPEC = {
    "name": "Write notes",
    "description": "Writes one file.",
    "tools": ["tools.studio.files.write"],
    "steps": [
        {
            "id": "write",
            "tool": "tools.studio.files.write",
            "args": {"path": "notes.txt", "content": "hello"},
        }
    ],
}

WRITE_SPEC_YAML = """\
name: Write notes
description: Writes one file.
tools: [tools.studio.files.write]
steps:
  - id: write
    tool: tools.studio.files.write
    args: {path: notes.txt, content: hello}
"""


def spec(base: dict, **changes) -> dict:
    result = copy.deepcopy(base)
    result.update(changes)
    return result
