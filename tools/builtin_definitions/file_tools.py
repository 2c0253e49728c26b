"""Definitions of the workspace file tools (list, read, write)."""

from approvals.risk import RiskClass
from tools.builtin_definitions.schema_parts import (
    BOOLEAN,
    COUNT,
    MAX_FILE_CONTENT_CHARS,
    STRING,
    arguments_schema,
    result_schema,
    text_schema,
    workspace_path_schema,
    written_file_schema,
)
from tools.registry import ToolDefinition

STUDIO_FILES_LIST = ToolDefinition(
    name="tools.studio.files.list",
    title="List workspace files",
    description="Lists the files in the run workspace, or in one folder of it.",
    input_schema=arguments_schema(
        {"path": workspace_path_schema("Folder to list; the workspace root when left out.")}
    ),
    output_schema=result_schema(
        {
            "path": STRING,
            "entries": {
                "type": "array",
                "maxItems": 1000,
                "items": result_schema(
                    {"path": STRING, "size": COUNT, "is_dir": BOOLEAN},
                    required=("path", "size", "is_dir"),
                ),
            },
            "truncated": BOOLEAN,
        },
        required=("path", "entries", "truncated"),
    ),
    risk=RiskClass.READ,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)

STUDIO_FILES_READ = ToolDefinition(
    name="tools.studio.files.read",
    title="Read a workspace file",
    description="Reads a text file from the run workspace.",
    input_schema=arguments_schema(
        {"path": workspace_path_schema("File to read, relative to the workspace.")},
        required=("path",),
    ),
    output_schema=result_schema(
        {
            "path": STRING,
            "content": STRING,
            "size": COUNT,
            "truncated": BOOLEAN,
        },
        required=("path", "content", "size", "truncated"),
    ),
    risk=RiskClass.READ,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)

STUDIO_FILES_WRITE = ToolDefinition(
    name="tools.studio.files.write",
    title="Write a workspace file",
    description="Writes (or overwrites) a file in the run workspace; it becomes an "
    "artifact of the run.",
    input_schema=arguments_schema(
        {
            "path": workspace_path_schema("File to write, relative to the workspace."),
            "content": text_schema(max_length=MAX_FILE_CONTENT_CHARS, min_length=0),
            "content_type": text_schema(max_length=200, description="e.g. text/markdown"),
        },
        required=("path", "content"),
    ),
    output_schema=written_file_schema(),
    risk=RiskClass.WRITE,
    idempotent=True,
    untrusted_output=False,
    open_world=False,
    has_dry_run=False,
)
