"""Tests for tools.builtin.util.util_echo (tools.studio.util.echo)."""

import pytest

from tools.builtin import util
from tools.registry import tool_registry

ECHO = "tools.studio.util.echo"


@pytest.fixture
def sleeps(monkeypatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(util.time, "sleep", recorded.append)
    return recorded


def test_echo_returns_the_value_it_was_given(call_tool, sleeps):
    value = {"a": [1, 2.5, None, True, "x"]}
    assert call_tool(ECHO, {"value": value}) == {"value": value}
    assert sleeps == []


def test_echo_without_a_value_returns_null(call_tool, sleeps):
    assert call_tool(ECHO, {}) == {"value": None}


def test_echo_sleeps_for_the_milliseconds_asked(call_tool, sleeps):
    call_tool(ECHO, {"value": 1, "sleep_ms": 250})
    assert sleeps == [0.25]


def test_echo_is_a_registered_idempotent_compute_tool():
    echo = tool_registry.get(ECHO)
    assert (echo.risk, echo.idempotent, echo.open_world, echo.untrusted_output) == (
        "compute",
        True,
        False,
        False,
    )


@pytest.mark.parametrize("sleep_ms", [-1, 10_001, 1.5])
def test_echo_refuses_a_sleep_outside_zero_to_ten_seconds(sleep_ms):
    from jsonschema import Draft202012Validator

    schema = tool_registry.get(ECHO).input_schema
    assert list(Draft202012Validator(schema).iter_errors({"sleep_ms": sleep_ms}))
