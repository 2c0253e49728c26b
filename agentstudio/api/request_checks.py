"""Request parsing that refuses what PostgreSQL cannot store, before any view sees it.

PostgreSQL text and jsonb hold neither NUL (U+0000) nor lone UTF-16 surrogates
(U+D800-U+DFFF, which JSON's `\\ud800` escapes produce), and JSON nested thousands of levels
deep overflows the parser's recursion. The parsers here (every API view's, see
`DEFAULT_PARSER_CLASSES`) and the query-string middleware refuse such input with a 400
`validation_error` whose details name the JSON Pointer of the offending value.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser, get_encoding
from rest_framework.utils import json

from agentstudio.errors import AppError, ErrorCode

# Containers nested deeper than this are refused (the spec YAML loader's limit too).
MAX_REQUEST_JSON_DEPTH = 100


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored in PostgreSQL, or None when it can."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (U+D800-U+DFFF), which cannot be stored"
    return None


def _walk(data: Any, prefix: str) -> Iterator[tuple[str, Any, int]]:
    """(pointer, value, depth) of every value, without recursion (depth 1 is the root)."""
    pending: list[tuple[str, Any, int]] = [(prefix, data, 1)]
    while pending:
        pointer, value, depth = pending.pop()
        yield pointer, value, depth
        if isinstance(value, dict):
            for key, item in value.items():
                pending.append((f"{pointer}/{_pointer_escape(str(key))}", item, depth + 1))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                pending.append((f"{pointer}/{index}", item, depth + 1))


def data_problem(data: Any, *, prefix: str = "") -> dict[str, str] | None:
    """The first `{path, message}` that makes decoded JSON unstorable, or None."""
    for pointer, value, depth in _walk(data, prefix):
        if isinstance(value, dict | list | tuple):
            if depth > MAX_REQUEST_JSON_DEPTH:
                return {
                    "path": pointer,
                    "message": f"nested deeper than {MAX_REQUEST_JSON_DEPTH} levels",
                }
            keys = value.keys() if isinstance(value, dict) else ()
            for key in keys:
                if isinstance(key, str) and (problem := text_problem(key)):
                    key_pointer = f"{pointer}/{_pointer_escape(key)}"
                    return {"path": key_pointer, "message": f"key {problem}"}
        elif isinstance(value, str) and (problem := text_problem(value)):
            return {"path": pointer, "message": problem}
    return None


def unstorable_error(detail: dict[str, str], *, where: str = "request") -> AppError:
    message = f"The {where} cannot be accepted: {detail['path'] or 'the body'} {detail['message']}."
    return AppError(ErrorCode.VALIDATION_ERROR, message, details=[detail])


def data_checked(data: Any, *, prefix: str = "", where: str = "request") -> Any:
    """`data` unchanged, or a 400 naming the first value PostgreSQL could not store."""
    problem = data_problem(data, prefix=prefix)
    if problem is not None:
        raise unstorable_error(problem, where=where)
    return data


def json_loads_checked(
    text: str | bytes,
    *,
    prefix: str = "",
    where: str = "request",
    parse_constant: Callable[[str], Any] = json.strict_constant,
) -> Any:
    """json.loads (strict: no NaN nor Infinity, which jsonb cannot hold either), with the
    too-deep, NUL and surrogate refusals; ValueError when the text is not JSON."""
    try:
        data = json.loads(text, parse_constant=parse_constant)
    except RecursionError:
        detail = {"path": prefix, "message": f"nested deeper than {MAX_REQUEST_JSON_DEPTH} levels"}
        raise unstorable_error(detail, where=where) from None
    return data_checked(data, prefix=prefix, where=where)


def _multivalue_problem(items: Any, *, what: str) -> dict[str, str] | None:
    """A problem in a QueryDict or MultiValueDict: its names and its text values."""
    for name, values in items.lists():
        pointer = f"/{_pointer_escape(name)}"
        if problem := text_problem(name):
            return {"path": pointer, "message": f"{what} name {problem}"}
        for value in values:
            text = value if isinstance(value, str) else getattr(value, "name", None)
            if isinstance(text, str) and (problem := text_problem(text)):
                kind = what if isinstance(value, str) else "file name"
                return {"path": pointer, "message": f"{kind} {problem}"}
    return None


def query_problem(query: Any) -> dict[str, str] | None:
    """The first query parameter whose name or value PostgreSQL could not store."""
    return _multivalue_problem(query, what="query parameter")


def form_problem(form: Any) -> dict[str, str] | None:
    """The first form field (or file part) whose name, value or file name is unstorable."""
    return _multivalue_problem(form, what="form field")


class CheckedParser:
    """Marks the parsers that refuse unstorable input (a test holds every view to them)."""


class CheckedJSONParser(CheckedParser, JSONParser):
    """DRF's JSON parser, plus the depth, NUL and surrogate refusals."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        encoding = get_encoding(parser_context or {})  # DRF's: refuses bytes-to-bytes codecs
        try:  # DRF's own reading and message, with the checked loader
            text = codecs.getreader(encoding)(stream).read()
            return json_loads_checked(text, where="request body")
        except ValueError as exc:  # not JSON, or not text in that encoding
            raise ParseError(f"JSON parse error - {exc}") from exc


class CheckedFormParser(CheckedParser, FormParser):
    """DRF's url-encoded form parser, plus the NUL refusal for names and values."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if problem := _multivalue_problem(data, what="form field"):
            raise unstorable_error(problem, where="request body")
        return data


class CheckedMultiPartParser(CheckedParser, MultiPartParser):
    """DRF's multipart parser, plus the NUL refusal for field names, values and file names
    (file contents are bytes and are stored as files, not in the database)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        for items, what in ((parsed.data, "form field"), (parsed.files, "file part")):
            if problem := _multivalue_problem(items, what=what):
                raise unstorable_error(problem, where="request body")
        return parsed
