"""Bounds on rendering a template: a time limit checked cooperatively, so it holds in any
thread or process (no signals), and a cap on the size of every text and list it builds."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateRuntimeError
from jinja2.filters import make_attrgetter, sync_do_join
from jinja2.utils import _PassArg, pass_environment, pass_eval_context

# Longer than any text a tool hands a template (files.read returns up to 10 M characters).
MAX_RENDERED_TEXT = 16_000_000
# What one render may write out in all (its pieces, concatenations, macro results): a text
# at the cap may pass through a few outputs, never through a loop.
MAX_RENDER_WRITTEN = 4 * MAX_RENDERED_TEXT
MAX_RENDERED_SEQUENCE = 1_000_000
MAX_POWER_RESULT_BITS = 100_000
MAX_JSON_INDENT = 16
# A render outside any time limit (e.g. a test) still ends; the engine sets the step's.
DEFAULT_RENDER_SECONDS = 120.0
# Filters that turn their value into text: their value is measured before they run.
TEXT_FILTERS = frozenset(
    {
        "capitalize", "e", "escape", "lower", "replace", "string", "striptags", "title",
        "trim", "truncate", "upper", "urlencode", "wordcount", "wordwrap",
    }
)  # fmt: skip
# Filters slower than linear in pure Python: a smaller cap on their value.
# urlencode writes up to 12 characters for one (a 4-byte UTF-8 character).
FILTER_INPUT_LIMITS = {"wordwrap": 100_000, "urlencode": MAX_RENDERED_TEXT // 12}


class TemplateTimeout(TemplateRuntimeError):
    """Rendering ran past its time limit."""


@dataclass
class _Budget:
    deadline: float
    label: str
    written: int = 0


_budget: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


@contextmanager
def template_time_limit(*, seconds: float, label: str = "") -> Iterator[None]:
    """Renders inside this block stop with TemplateTimeout after `seconds` (in all)."""
    budget = _Budget(
        deadline=time.monotonic() + seconds, label=label or f"the {seconds:g} s time limit"
    )
    token = _budget.set(budget)
    try:
        yield
    finally:
        _budget.reset(token)


@contextmanager
def render_bounded() -> Iterator[None]:
    """The caller's time limit when there is one, else DEFAULT_RENDER_SECONDS."""
    if _budget.get() is not None:
        yield
        return
    with template_time_limit(seconds=DEFAULT_RENDER_SECONDS):
        yield


def tick() -> None:
    """Called by every operation the sandbox sees; raises once the time is up."""
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise TemplateTimeout(f"rendering ran past {budget.label}")


def _too_large(what: str) -> SecurityError:
    return SecurityError(f"the result of {what} would be too large")


def text_size(value: Any, *, limit: int = MAX_RENDERED_TEXT) -> int:
    """About how many characters `value` takes as text (containers count their items and
    separators), counted up to just past `limit`: references to one big value count each
    time, so a list of many references to it cannot be written out cheaply."""
    pending, total, visited = [value], 0, 0
    while pending:
        item = pending.pop()
        visited += 1
        if not visited & 0xFFFF:
            tick()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple):
            total += 2 + 2 * len(item)
            pending.extend(item)
        elif isinstance(item, dict):
            total += 2 + 4 * len(item)
            pending.extend(item.keys())
            pending.extend(item.values())
        else:
            total += 1
        if total > limit:
            return total
    return total


def refuse_oversized(value: Any, *, what: str) -> None:
    if text_size(value) > MAX_RENDERED_TEXT:
        raise _too_large(what)


def note_written(size: int, *, what: str) -> None:
    """Counts text the render wrote; refuses it past MAX_RENDER_WRITTEN."""
    budget = _budget.get()
    if budget is None:
        return
    budget.written += size
    if budget.written > MAX_RENDER_WRITTEN:
        raise _too_large(what)


def finalize_output(value: Any) -> Any:
    """Every {{ output }}: measured before it becomes text."""
    tick()
    size = text_size(value)
    if size > MAX_RENDERED_TEXT:
        raise _too_large("an output")
    note_written(size, what="the template's output")
    return value


def bounded_concat(parts: tuple[Any, ...]) -> str:
    """`a ~ b ~ c`: measured before the parts are joined."""
    tick()
    size = sum(text_size(part) for part in parts)
    if size > MAX_RENDERED_TEXT:
        raise _too_large("~")
    note_written(size, what="~")
    return "".join(map(str, parts))


def bounded_loop(iterable: Iterable[Any]) -> Iterator[Any]:
    """What every {% for %} iterates: one tick per iteration."""
    for item in iterable:
        tick()
        yield item


def bounded_output(chunks: Iterable[str], *, what: str = "the template") -> str:
    """A template's whole output, constants included, refused once past the cap."""
    collected, size = [], 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_RENDERED_TEXT:
            raise _too_large(what)
        collected.append(chunk)
    return "".join(collected)


def refuse_oversized_binop(operator: str, left: Any, right: Any) -> None:
    tick()
    if operator == "*":
        _refuse_oversized_repeat(left, right)
    elif operator == "**":
        _refuse_oversized_power(left, right)
    elif operator == "+":
        _refuse_oversized_sum(left, right)


def _refuse_oversized_repeat(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > MAX_POWER_RESULT_BITS:
            raise _too_large("*")
        return
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(times, int):
            too_long = len(sequence) * times > MAX_RENDERED_SEQUENCE
            if too_long or text_size(sequence) * max(times, 0) > MAX_RENDERED_TEXT:
                raise _too_large("*")


def _refuse_oversized_power(base: Any, exponent: Any) -> None:
    is_integer_power = isinstance(base, int) and isinstance(exponent, int) and exponent > 0
    if is_integer_power and base.bit_length() * exponent > MAX_POWER_RESULT_BITS:
        raise _too_large("**")


def _refuse_oversized_sum(left: Any, right: Any) -> None:
    if isinstance(left, str) and isinstance(right, str):
        if len(left) + len(right) > MAX_RENDERED_TEXT:
            raise _too_large("+")
    elif (
        isinstance(left, list | tuple)
        and isinstance(right, list | tuple)
        and len(left) + len(right) > MAX_RENDERED_SEQUENCE
    ):
        raise _too_large("+")


def bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with a tick, its value measured first when it makes text of it, and a
    text result measured after."""
    skip = 1 if _PassArg.from_obj(function) is not None else 0

    @functools.wraps(function)  # keeps jinja_pass_arg, so Jinja passes the same arguments
    def bounded(*args: Any, **kwargs: Any) -> Any:
        tick()
        if name in TEXT_FILTERS and len(args) > skip:
            limit = FILTER_INPUT_LIMITS.get(name, MAX_RENDERED_TEXT)
            if text_size(args[skip], limit=limit) > limit:
                raise _too_large(f"|{name}")
        result = function(*args, **kwargs)
        if isinstance(result, str) and len(result) > MAX_RENDERED_TEXT:
            raise _too_large(f"|{name}")
        return result

    return bounded


@pass_eval_context
def bounded_join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> str:
    items = list(value)
    if attribute is not None:
        items = list(map(make_attrgetter(eval_ctx.environment, attribute), items))
    separators = len(str(d)) * max(len(items) - 1, 0)
    if text_size(items) + separators > MAX_RENDERED_TEXT:
        raise _too_large("|join")
    return sync_do_join(eval_ctx, items, d)


@pass_environment
def bounded_sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Numbers only: adding up lists or strings copies them again at every item."""
    if not isinstance(start, int | float):
        raise SecurityError("sum adds numbers; use join for text")
    if attribute is not None:
        iterable = map(make_attrgetter(environment, attribute), iterable)
    total = start
    for item in iterable:
        tick()
        if not isinstance(item, int | float):
            raise SecurityError("sum adds numbers; use join for text")
        total += item
    return total


def bounded_json(value: Any, *, indent: Any, default: Callable[[Any], Any]) -> str:
    """JSON of `value`, refused once past the cap (counted as it is written when indented)."""
    if indent is not None and (not isinstance(indent, int) or not 0 <= indent <= MAX_JSON_INDENT):
        raise SecurityError(f"tojson takes an indent from 0 to {MAX_JSON_INDENT}")
    encoder = json.JSONEncoder(ensure_ascii=False, indent=indent, default=default)
    if indent is None:
        refuse_oversized(value, what="|tojson")
        text = encoder.encode(value)
        if len(text) > MAX_RENDERED_TEXT:
            raise _too_large("|tojson")
        return text
    return bounded_output(_ticking(encoder.iterencode(value)), what="|tojson")


def _ticking(chunks: Iterable[str]) -> Iterator[str]:
    for chunk in chunks:
        tick()
        yield chunk


class BoundedCodeGenerator(CodeGenerator):
    """Compiles every {% for %} to iterate through `environment.bounded_loop` and every
    `~` to `environment.bounded_concat`, so neither escapes the limits."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        if not isinstance(node.iter, nodes.Call) or not _is_bounded_loop(node.iter.node):
            node.iter = nodes.Call(
                nodes.EnvironmentAttribute("bounded_loop"),
                [node.iter],
                [],
                None,
                None,
                lineno=node.iter.lineno,
            )
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


def _is_bounded_loop(node: nodes.Node) -> bool:
    return isinstance(node, nodes.EnvironmentAttribute) and node.name == "bounded_loop"
