"""The broker's tests use the engine's test tools, and small specs around one tool."""

from tests.engine import tools_for_tests  # noqa: F401  (registers tools.test.*)


def spec_with(tools: list[str], **extra) -> dict:
    return {
        "name": "Broker gates",
        "tools": tools,
        "steps": [{"id": "first", "tool": tools[0], "args": {}}],
        **extra,
    }
