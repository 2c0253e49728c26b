"""Step outcomes PostgreSQL refuses to store, and the failed outcome stored instead.

JSONB and text cannot hold a NUL character (\\u0000) and UTF-8 cannot encode a lone surrogate
(a tool that reads a binary file, or decodes JSON with an unpaired escape, may answer either).
A checkpoint that carries one is refused every time it is tried, so retrying it would loop
the run forever. Nothing is checked on the way in (the hot path stays as it is): the refusal
is caught, and the step is recorded as failed with the reason, its tool calls kept with each
offending character replaced by U+FFFD, so their side effects keep their trace.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import psycopg
from django import db

from playbooks.engine.outcome import Result, StepOutcome

# What a checkpoint raises when its data cannot be stored: the server refused a value (SQL
# state class 22, through Django or from the writer's connection), or it could not even be
# encoded (orjson and psycopg refuse surrogates).
UNSTORABLE_ERRORS = (db.DataError, psycopg.DataError, orjson.JSONEncodeError, UnicodeEncodeError)

_REFUSED = re.compile("[\x00\ud800-\udfff]")
_REPLACEMENT = "\ufffd"
_MESSAGE_MAX = 300


class _Found:
    """Where offending characters were found, first ones first."""

    def __init__(self) -> None:
        self.places: list[str] = []

    def add(self, where: str, path: str, character: str) -> None:
        if character == "\x00":
            what = "a NUL character (\\u0000)"
        else:
            what = f"a lone surrogate (\\u{ord(character):04x})"
        self.places.append(f"{what} at {path or '/'} of its {where}")


def storable_value(value: Any, *, found: _Found, where: str, path: str = "") -> Any:
    """`value` with every NUL and surrogate in its strings (keys too) replaced by U+FFFD;
    each string that had one is noted in `found`."""
    kind = type(value)
    if kind is str:
        match = _REFUSED.search(value)
        if match is None:
            return value
        found.add(where, path, match.group())
        return _REFUSED.sub(_REPLACEMENT, value)
    if isinstance(value, dict):
        return {
            storable_value(key, found=found, where=where, path=path)
            if type(key) is str
            else key: storable_value(item, found=found, where=where, path=f"{path}/{key}")
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            storable_value(item, found=found, where=where, path=f"{path}/{position}")
            for position, item in enumerate(value)
        ]
    return value


def _reason(found: _Found, exc: BaseException, kept: bool) -> str:
    if not found.places:
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:_MESSAGE_MAX]
        return f"step output cannot be stored: {detail}"
    first, others = found.places[0], len(found.places) - 1
    more = f" (and {others} more place{'s' if others > 1 else ''})" if others else ""
    message = f"step output cannot be stored: PostgreSQL cannot store {first}{more}"
    if kept:
        message += "; its tool call is recorded with each such character replaced by U+FFFD"
    return message


def unstorable_outcome(outcome: StepOutcome, exc: BaseException) -> StepOutcome:
    """The failed outcome to store instead of `outcome`, which the database refused (a
    retry stays a retry): the reason as its error, no output, and everything else (input,
    state, events, the tool invocations and artifacts of calls that did happen, usage) with
    offending characters replaced."""
    found = _Found()
    storable_value(outcome.output, found=found, where="output")
    step_input = storable_value(outcome.input, found=found, where="input")
    state = storable_value(outcome.state, found=found, where="state")
    storable_value(outcome.error, found=found, where="error")
    events = [
        (kind, storable_value(data, found=found, where=f"{kind} event"))
        for kind, data in outcome.events
    ]
    for invocation in outcome.invocations:
        invocation.arguments = storable_value(
            invocation.arguments, found=found, where=f"{invocation.tool} call's arguments"
        )
        invocation.result = storable_value(
            invocation.result, found=found, where=f"{invocation.tool} call's result"
        )
    return StepOutcome(
        # an attempt that was to be retried still is (its next try may answer otherwise)
        result=Result.RETRY if outcome.result == Result.RETRY else Result.FAILED,
        retry_at=outcome.retry_at if outcome.result == Result.RETRY else None,
        input=step_input,
        output=None,
        error=_reason(found, exc, kept=bool(outcome.invocations)),
        state=state,
        events=events,
        usage=outcome.usage,
        invocations=outcome.invocations,
        usage_records=outcome.usage_records,
        deferred_tool_charges=outcome.deferred_tool_charges,
        written=outcome.written,
        started_at=outcome.started_at,
    )
