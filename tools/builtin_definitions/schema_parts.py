"""JSON Schema pieces the built-in tools' definitions share (arguments, results, paths, URLs)."""

from typing import Any

# Relative to the run workspace: no leading slash or backslash, no ".." segment, no NUL.
WORKSPACE_PATH_PATTERN = r"^(?![/\\])(?!.*(^|[/\\])\.\.([/\\]|$))[^\x00]+$"
HTTP_URL_PATTERN = r"^[hH][tT][tT][pP][sS]?://[^\s]+$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$"
MAX_FILE_CONTENT_CHARS = 10_000_000


def text_schema(*, max_length: int, min_length: int = 1, description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "minLength": min_length, "maxLength": max_length}
    if description:
        schema["description"] = description
    return schema


def workspace_path_schema(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": 1024,
        "pattern": WORKSPACE_PATH_PATTERN,
        "description": description,
    }


def http_url_schema(description: str) -> dict[str, Any]:
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": 2048,
        "format": "uri",
        "pattern": HTTP_URL_PATTERN,
        "description": description,
    }


def arguments_schema(
    properties: dict[str, Any], *, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A strict input schema: unknown arguments are refused."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def result_schema(properties: dict[str, Any], *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An output schema: named fields are checked, extra fields are allowed."""
    return {"type": "object", "properties": properties, "required": list(required)}


COUNT = {"type": "integer", "minimum": 0}
ROW_NUMBER = {"type": "integer", "minimum": 1, "description": "1-based data row (header excluded)"}
SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
STRINGS = {"type": "array", "items": STRING}


def written_file_schema(
    extra: dict[str, Any] | None = None, *, required: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The result of a tool that wrote one workspace file (an artifact of the run)."""
    return result_schema(
        {
            "path": STRING,
            "size": COUNT,
            "sha256": SHA256,
            "content_type": STRING,
            **(extra or {}),
        },
        required=("path", "size", "sha256", "content_type", *required),
    )


COLUMN_NAME = text_schema(max_length=200)
