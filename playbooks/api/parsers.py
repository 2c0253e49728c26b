"""A parser for raw YAML request bodies (`POST /playbooks/import/` with application/yaml)."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


class YAMLTextParser(BaseParser):
    """Hands the YAML text to the view unparsed, so the validator can report lines."""

    media_type = "application/yaml"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> dict:
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError("The YAML body must be UTF-8 text.") from exc
        return {"spec_yaml": text}


class XYAMLTextParser(YAMLTextParser):
    media_type = "application/x-yaml"


class TextYAMLTextParser(YAMLTextParser):
    media_type = "text/yaml"
