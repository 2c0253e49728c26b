"""Reading and writing playbook specs as YAML, keeping where each value sat in the text.

The loader accepts JSON-shaped YAML only: mapping keys are taken as the text they were
written as (so `on:` or `200:` become the strings "on" and "200", as in JSON), timestamps stay
strings, and anchors and aliases are refused outright (no YAML bombs), as are duplicate keys,
documents over 1 MiB and nesting deeper than 100 levels.
"""

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_SPEC_YAML_BYTES = 1024 * 1024
MAX_SPEC_YAML_DEPTH = 100
_NULL_TAG = "tag:yaml.org,2002:null"
_REFUSED_TAGS = (
    "tag:yaml.org,2002:timestamp",
    "tag:yaml.org,2002:binary",
    "tag:yaml.org,2002:set",
    "tag:yaml.org,2002:omap",
    "tag:yaml.org,2002:pairs",
)


class SpecYAMLError(ValueError):
    """YAML that is not a readable spec; line and column are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        return f"{self.message} (line {self.line}, column {self.column})"


def json_pointer_escape(segment: str) -> str:
    """One JSON Pointer (RFC 6901) reference token."""
    return segment.replace("~", "~0").replace("/", "~1")


class _SpecLoader(yaml.SafeLoader):
    """SafeLoader limited to JSON values, without aliases, duplicate keys or deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_SPEC_YAML_DEPTH:
                raise ComposerError(
                    None, None, f"nested more than {MAX_SPEC_YAML_DEPTH} levels", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise ConstructorError(
                    None, None, "mapping keys must be plain text", key_node.start_mark
                )
            if key_node.value in mapping:
                raise ConstructorError(
                    None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                )
            mapping[key_node.value] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_refused_tag(self, node: Node) -> Any:
        raise ConstructorError(
            None, None, f"{node.tag} values are not allowed in a spec", node.start_mark
        )


_SpecLoader.yaml_implicit_resolvers = {
    first_character: [
        (tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"
    ]
    for first_character, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _tag in _REFUSED_TAGS:
    _SpecLoader.add_constructor(_tag, _SpecLoader.construct_refused_tag)


_UNICODE_LINE_BREAKS = ("\x85", "\u2028", "\u2029")


class _SpecDumper(yaml.SafeDumper):
    """SafeDumper that never writes anchors and writes multi-line strings as blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    if any(character in text for character in _UNICODE_LINE_BREAKS):
        # PyYAML would fold these inside quotes; only double quotes escape them.
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_SpecDumper.add_representer(str, _represent_text)


def _node_positions(root: Node) -> dict[str, tuple[int, int]]:
    positions: dict[str, tuple[int, int]] = {}
    pending: list[tuple[str, Node]] = [("", root)]
    while pending:
        pointer, node = pending.pop()
        positions[pointer] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode):
                    key = json_pointer_escape(key_node.value)
                    pending.append((f"{pointer}/{key}", value_node))
        elif isinstance(node, SequenceNode):
            for index, item_node in enumerate(node.value):
                pending.append((f"{pointer}/{index}", item_node))
    return positions


def _yaml_error(error: yaml.YAMLError, *, text: str) -> SpecYAMLError:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        message = error.problem or error.context or "invalid YAML"
        if error.problem and error.context:
            message = f"{error.problem} ({error.context})"
        if mark is None:
            return SpecYAMLError(message)
        return SpecYAMLError(message, mark.line + 1, mark.column + 1)
    if isinstance(error, yaml.reader.ReaderError):
        before = text[: error.position]
        line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        return SpecYAMLError(f"character {error.character!r} is not allowed in YAML", line, column)
    return SpecYAMLError(f"invalid YAML: {error}")


def _compose_and_construct(text: str) -> tuple[Any, dict[str, tuple[int, int]]]:
    loader = _SpecLoader(text)
    try:
        root = loader.get_single_node()
        if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
            raise SpecYAMLError("the spec is empty", 1, 1)
        if not isinstance(root, MappingNode):
            line, column = root.start_mark.line + 1, root.start_mark.column + 1
            raise SpecYAMLError("the spec must be a mapping of keys to values", line, column)
        positions = _node_positions(root)
        return loader.construct_document(root), positions
    finally:
        loader.dispose()


def spec_parse_yaml(text: str) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """The spec in `text` and, per JSON Pointer, the 1-based (line, column) of its value.

    Raises SpecYAMLError for anything that is not a readable spec mapping.
    """
    if not isinstance(text, str):
        raise SpecYAMLError("the spec must be YAML text")
    too_large = len(text) > MAX_SPEC_YAML_BYTES
    if too_large or len(text.encode("utf-8", errors="replace")) > MAX_SPEC_YAML_BYTES:
        raise SpecYAMLError("the spec is larger than 1 MiB")
    try:
        return _compose_and_construct(text)
    except SpecYAMLError:
        raise
    except yaml.YAMLError as error:
        raise _yaml_error(error, text=text) from None
    except RecursionError:
        raise SpecYAMLError("the spec is nested too deeply") from None
    except ValueError as error:  # e.g. an integer too long to convert
        raise SpecYAMLError(f"a value cannot be read: {error}") from None


def spec_to_yaml(spec: dict[str, Any]) -> str:
    """The spec as YAML text, in its own key order; spec_parse_yaml reads it back equal."""
    return yaml.dump(
        spec,
        Dumper=_SpecDumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )
