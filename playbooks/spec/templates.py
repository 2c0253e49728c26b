"""Playbook templates: a locked-down Jinja2 sandbox, native-type rendering and static checks."""

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment

from agentstudio.secret_references import VAULT_MARKER, json_pointer_join
from playbooks.spec import template_limits as limits
from playbooks.spec.template_limits import MAX_RENDERED_SEQUENCE

TEMPLATE_NAMES = frozenset({"inputs", "steps", "run", "vault", "loop"})
# Attributes that reach interpreter internals; anything starting with "_" is refused too.
DENIED_ATTRIBUTES = frozenset(
    {
        "mro",
        "func_globals",
        "func_code",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "cr_code",
        "ag_frame",
        "ag_code",
        "tb_frame",
        "tb_next",
        "format",
        "format_map",
    }
)
# Filters a template may use. Left out: attr (sidesteps the attribute check), format (printf
# widths), center, indent, batch and slice (sizes chosen by the template), random (runs must
# replay the same), pprint, urlize and xmlattr (HTML helpers with nothing to do here).
SAFE_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "filesizeformat",
        "first", "float", "groupby", "int", "items", "join", "last", "length", "list", "lower",
        "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "select",
        "selectattr", "sort", "string", "striptags", "sum", "title", "tojson", "trim",
        "truncate", "unique", "upper", "urlencode", "wordcount", "wordwrap",
    }
)  # fmt: skip
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{[-+]?(?P<expression>.*?)[-+]?\}\}\s*$", re.DOTALL)
_TEMPLATE_MARKERS = ("{{", "}}", "{%", "%}", "{#", "#}")


@dataclass(frozen=True)
class VaultHandle:
    """A reference to a vault secret by name; the broker swaps in the value at call time."""

    name: str

    def __str__(self) -> str:
        return f"vault:{self.name}"


def vault_handles_as_json(value: Any) -> tuple[Any, dict[str, str]]:
    """Rendered arguments as JSON, each whole-value VaultHandle as `{"$vault": name}`, and
    where those are (JSON Pointer → name). A VaultHandle only comes from a vault() call in
    the spec (data is JSON, never one), so these are the author's references: the only
    handles the broker resolves (tools.vault)."""
    if not _holds_vault_handle(value):
        return value, {}
    references: dict[str, str] = {}

    def walk(item: Any, path: str) -> Any:
        if isinstance(item, VaultHandle):
            references[path] = item.name
            return {VAULT_MARKER: item.name}
        if isinstance(item, dict):
            return {key: walk(inner, json_pointer_join(path, key)) for key, inner in item.items()}
        if isinstance(item, list):
            return [walk(inner, json_pointer_join(path, i)) for i, inner in enumerate(item)]
        return item

    return walk(value, ""), references


def _holds_vault_handle(value: Any) -> bool:
    if isinstance(value, VaultHandle):
        return True
    if isinstance(value, dict):
        return any(_holds_vault_handle(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_vault_handle(item) for item in value)
    return False


@dataclass(frozen=True)
class TemplateProblem:
    """Why a template is refused; `line` is the line inside the template (1-based) when known.

    Syntax errors name the line in the message too; other kinds leave that to the caller.
    """

    message: str
    kind: str
    line: int | None = None


class _StudioSandbox(ImmutableSandboxedEnvironment):
    """The sandbox plus the limits of template_limits: every operation it sees ticks the
    time limit, and whatever builds text or lists is measured first."""

    code_generator_class = limits.BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "%", "+"})
    bounded_loop = staticmethod(limits.bounded_loop)
    bounded_concat = staticmethod(limits.bounded_concat)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("the % string operator is not allowed; join strings with ~")
        limits.refuse_oversized_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        limits.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        limits.tick()
        return super().getitem(obj, argument)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        limits.tick()
        # What template_check lets a template call, and nothing else (no str methods
        # such as ljust, whose size the template would choose).
        allowed = (
            isinstance(__obj, Macro | LoopContext)
            or __obj is _vault
            or __obj is limits.bounded_loop
        )
        if not allowed:
            raise SecurityError("calls are not allowed in templates, except vault('name')")
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str) and len(result) > limits.MAX_RENDERED_TEXT:
            raise SecurityError("the result of a macro would be too large")
        return result


def _vault(name: Any) -> VaultHandle:
    if not isinstance(name, str) or not name:
        raise SecurityError("vault() takes the name of a secret, e.g. vault('slack.token')")
    return VaultHandle(name)


def _json_default(value: Any) -> Any:
    if isinstance(value, VaultHandle):
        return str(value)
    if isinstance(value, Undefined):
        return str(value)  # StrictUndefined raises here with the missing name.
    if isinstance(value, Iterator | range | set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _tojson(value: Any, indent: int | None = None) -> str:
    return limits.bounded_json(value, indent=indent, default=_json_default)


def _bounded_replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(value)
    occurrences = text.count(old) if count is None else min(text.count(old), count)
    if len(text) + occurrences * (len(new) - len(old)) > MAX_RENDERED_SEQUENCE:
        raise SecurityError("the result of replace would be too large")
    return text.replace(old, new, -1 if count is None else count)


@functools.cache
def template_environment() -> ImmutableSandboxedEnvironment:
    """The one environment playbook templates run in: sandboxed, immutable, strict."""
    # Templates produce prompts, arguments and JSON, never HTML, so escaping would corrupt them.
    environment = _StudioSandbox(
        undefined=StrictUndefined, autoescape=False, finalize=limits.finalize_output
    )
    filters = {name: FILTERS[name] for name in SAFE_FILTERS if name in FILTERS}
    filters.update(
        tojson=_tojson,
        replace=_bounded_replace,
        join=limits.bounded_join,
        sum=limits.bounded_sum,
    )
    environment.filters = {
        name: limits.bounded_filter(name, function) for name, function in filters.items()
    }
    environment.globals = {"vault": _vault}
    return environment


@functools.lru_cache(maxsize=1024)
def _compiled_template(source: str) -> Any:
    return template_environment().from_string(source)


@functools.lru_cache(maxsize=1024)
def _compiled_expression(expression: str) -> Any:
    return template_environment().compile_expression(expression, undefined_to_none=False)


def _single_expression(source: str) -> str | None:
    """The expression when the whole string is one {{ expression }}, else None."""
    match = _SINGLE_EXPRESSION.match(source)
    if match is None:
        return None
    expression = match.group("expression")
    if any(marker in expression for marker in _TEMPLATE_MARKERS):
        return None
    return expression


def _native_value(value: Any) -> Any:
    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming what is missing.
    if isinstance(value, Iterator | range | tuple):
        value = list(limits.bounded_loop(value))
    limits.refuse_oversized(value, what="the expression")
    return value


def template_render_string(source: str, context: Mapping[str, Any]) -> Any:
    """Renders one template string; exactly one {{ expression }} keeps its native type."""
    if "{" not in source:
        return source
    expression = _single_expression(source)
    if expression is not None:
        return _native_value(_compiled_expression(expression)(**context))
    return limits.bounded_output(_compiled_template(source).generate(**context))


def template_render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Renders every string inside a JSON value (dict keys stay as they are), within the
    caller's template_time_limit (else template_limits.DEFAULT_RENDER_SECONDS).

    Raises jinja2 errors (UndefinedError, SecurityError, TemplateSyntaxError,
    template_limits.TemplateTimeout) on failure.
    """
    with limits.render_bounded():
        return _render_value(value, context)


def _render_value(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return template_render_string(value, context)
    if isinstance(value, dict):
        return {key: _render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_value(item, context) for item in value]
    return value


@functools.lru_cache(maxsize=256)
def _parse(source: str) -> tuple[nodes.Template | None, TemplateProblem | None]:
    try:
        return template_environment().parse(source), None
    except TemplateSyntaxError as error:
        message = f"template syntax error on line {error.lineno}: {error.message}"
        return None, TemplateProblem(message=message, kind="syntax", line=error.lineno)
    except RecursionError:
        return None, TemplateProblem(message="template is nested too deeply", kind="syntax")


def _walk(tree: nodes.Node) -> Iterator[nodes.Node]:
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        pending.extend(reversed(list(node.iter_child_nodes())))


def _bound_names(tree: nodes.Template) -> set[str]:
    """Names the template itself binds (for, set, with, macro and its arguments)."""
    bound: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, nodes.Name) and node.ctx in ("store", "param"):
            bound.add(node.name)
        elif isinstance(node, nodes.Macro):
            bound.update({node.name, "caller", "varargs", "kwargs"})
        elif isinstance(node, nodes.CallBlock):
            bound.add("caller")
    return bound


def _attribute_problem(attribute: str, *, line: int) -> TemplateProblem | None:
    if attribute.startswith("_") or attribute in DENIED_ATTRIBUTES:
        return TemplateProblem(
            message=f"attribute {attribute!r} is not allowed in templates",
            kind="attribute",
            line=line,
        )
    return None


def _node_problem(node: nodes.Node, *, bound: set[str]) -> TemplateProblem | None:
    line = node.lineno
    if isinstance(node, nodes.Getattr):
        return _attribute_problem(node.attr, line=line)
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        key = node.arg.value
        return _attribute_problem(key, line=line) if isinstance(key, str) else None
    if isinstance(node, nodes.Name) and node.ctx == "load":
        if node.name not in TEMPLATE_NAMES and node.name not in bound:
            allowed = ", ".join(sorted(TEMPLATE_NAMES))
            message = f"unknown name {node.name!r} (templates see {allowed})"
            return TemplateProblem(message=message, kind="name", line=line)
        return None
    if isinstance(node, nodes.Call):
        callee = node.node
        if isinstance(callee, nodes.Name) and (callee.name == "vault" or callee.name in bound):
            return None
        message = (
            "calls are not allowed in templates, except vault('name'); "
            "use filters such as |items or |join instead"
        )
        return TemplateProblem(message=message, kind="call", line=line)
    if isinstance(node, nodes.Filter) and node.name not in SAFE_FILTERS:
        message = f"filter {node.name!r} is not available in templates"
        return TemplateProblem(message=message, kind="filter", line=line)
    if isinstance(node, nodes.Test) and node.name not in template_environment().tests:
        message = f"unknown test {node.name!r}"
        return TemplateProblem(message=message, kind="test", line=line)
    if isinstance(node, nodes.Extends | nodes.Include | nodes.Import | nodes.FromImport):
        message = "extends, include and import are not allowed in templates"
        return TemplateProblem(message=message, kind="statement", line=line)
    return None


def template_check(source: str) -> list[TemplateProblem]:
    """Every reason the sandbox policy refuses this template; empty when it is fine."""
    if not any(marker in source for marker in ("{{", "{%", "{#")):
        return []
    tree, syntax_problem = _parse(source)
    if tree is None:
        return [syntax_problem] if syntax_problem else []
    bound = _bound_names(tree)
    problems: list[TemplateProblem] = []
    for problem in [
        *(_node_problem(node, bound=bound) for node in _walk(tree)),
        *_recursion_problems(tree),
    ]:
        if problem is not None and problem not in problems:
            problems.append(problem)
    for problem in _vault_problems(tree):
        if problem not in problems:
            problems.append(problem)
    return problems


def _vault_problems(tree: nodes.Template) -> Iterator[TemplateProblem]:
    """vault() is called by name with one string literal: the secret is chosen by the
    author, never by data (vault(inputs.name)), and vault is never passed around."""
    literal_calls: set[int] = set()
    for node in _walk(tree):
        if isinstance(node, nodes.Call) and _is_vault_name(node.node):
            arguments = node.args
            literal = len(arguments) == 1 and isinstance(arguments[0], nodes.Const)
            if literal and isinstance(arguments[0].value, str) and not _call_extras(node):
                literal_calls.add(id(node.node))
    for node in _walk(tree):
        if _is_vault_name(node) and id(node) not in literal_calls:
            message = "vault() takes one secret name written in the spec, e.g. vault('slack.token')"
            yield TemplateProblem(message=message, kind="vault", line=node.lineno)


def _is_vault_name(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "vault" and node.ctx == "load"


def _call_extras(call: nodes.Call) -> bool:
    return bool(call.kwargs or call.dyn_args or call.dyn_kwargs)


def _recursion_problems(tree: nodes.Template) -> Iterator[TemplateProblem]:
    """Recursion lets a short template double its work at every level, so none is allowed:
    no recursive loop, no macro that reaches itself, no macro handed on as a value (which
    could reach it in the end)."""
    macros = [node for node in _walk(tree) if isinstance(node, nodes.Macro)]
    names = {macro.name for macro in macros}
    callees = {id(node.node) for node in _walk(tree) if isinstance(node, nodes.Call)}
    for node in _walk(tree):
        if isinstance(node, nodes.For) and node.recursive:
            message = "recursive loops are not allowed in templates"
            yield TemplateProblem(message=message, kind="recursion", line=node.lineno)
        elif _is_macro_as_value(node, names=names, callees=callees):
            message = f"{node.name!r} can only be called, not used as a value"
            yield TemplateProblem(message=message, kind="recursion", line=node.lineno)
    calls = {name: set() for name in names}
    for macro in macros:
        for node in _walk(macro):
            callee = node.node if isinstance(node, nodes.Call) else None
            if isinstance(callee, nodes.Name) and callee.name in names:
                calls[macro.name].add(callee.name)
    for macro in macros:
        if _reaches(calls, start=macro.name, target=macro.name):
            message = f"macro {macro.name!r} calls itself (directly or through other macros)"
            yield TemplateProblem(message=message, kind="recursion", line=macro.lineno)


def _is_macro_as_value(node: nodes.Node, *, names: set[str], callees: set[int]) -> bool:
    return (
        isinstance(node, nodes.Name)
        and node.ctx == "load"
        and id(node) not in callees
        and (node.name in names or node.name == "caller")
    )


def _reaches(calls: dict[str, set[str]], *, start: str, target: str) -> bool:
    pending, seen = list(calls[start]), set()
    while pending:
        name = pending.pop()
        if name == target:
            return True
        if name not in seen:
            seen.add(name)
            pending.extend(calls.get(name, ()))
    return False


def template_step_references(source: str) -> set[str]:
    """Step ids the template reads as steps.X or steps['X']; empty if it does not parse."""
    if "steps" not in source:
        return set()
    tree, _problem = _parse(source)
    if tree is None:
        return set()
    references: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, nodes.Getattr) and _is_steps_name(node.node):
            references.add(node.attr)
        elif isinstance(node, nodes.Getitem) and _is_steps_name(node.node):
            key = node.arg.value if isinstance(node.arg, nodes.Const) else None
            if isinstance(key, str):
                references.add(key)
    return references


def _is_steps_name(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "steps" and node.ctx == "load"
