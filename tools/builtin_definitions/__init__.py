"""Definitions (names, schemas, risk) of the tools built into the studio; no behaviour here.

One module per tool family, beside its implementation in `tools/builtin/`; the schema
pieces they share are in `schema_parts`.
"""

from tools.builtin_definitions.ai_tools import STUDIO_AI_DRAFT_PLAYBOOK, STUDIO_AI_REFINE_PROMPT
from tools.builtin_definitions.cost_tools import (
    STUDIO_DATA_ALLOCATE_COSTS,
    STUDIO_DATA_VARIANCES,
)
from tools.builtin_definitions.data_tools import STUDIO_DATA_PROFILE, STUDIO_DATA_RESOLVE_ENTITIES
from tools.builtin_definitions.file_tools import (
    STUDIO_FILES_LIST,
    STUDIO_FILES_READ,
    STUDIO_FILES_WRITE,
)
from tools.builtin_definitions.http_tools import (
    STUDIO_HTTP_FETCH,
    STUDIO_HTTP_POST,
    STUDIO_NOTIFY_SLACK,
)
from tools.builtin_definitions.report_tools import STUDIO_REPORT_LINEAGE, STUDIO_XLSX_RENDER
from tools.builtin_definitions.schema_parts import (
    HEADER_NAME_PATTERN,
    HTTP_URL_PATTERN,
    MAX_FILE_CONTENT_CHARS,
    WORKSPACE_PATH_PATTERN,
)
from tools.builtin_definitions.skill_tools import SKILL_LOAD_REFERENCE
from tools.builtin_definitions.util_tools import STUDIO_UTIL_ECHO
from tools.registry import ToolDefinition

BUILTIN_TOOL_DEFINITIONS: tuple[ToolDefinition, ...] = (
    STUDIO_FILES_LIST,
    STUDIO_FILES_READ,
    STUDIO_FILES_WRITE,
    STUDIO_DATA_PROFILE,
    STUDIO_DATA_RESOLVE_ENTITIES,
    STUDIO_DATA_ALLOCATE_COSTS,
    STUDIO_DATA_VARIANCES,
    STUDIO_XLSX_RENDER,
    STUDIO_REPORT_LINEAGE,
    STUDIO_HTTP_FETCH,
    STUDIO_HTTP_POST,
    STUDIO_NOTIFY_SLACK,
    STUDIO_AI_REFINE_PROMPT,
    STUDIO_AI_DRAFT_PLAYBOOK,
    STUDIO_UTIL_ECHO,
    SKILL_LOAD_REFERENCE,
)

__all__ = [
    "BUILTIN_TOOL_DEFINITIONS",
    "HEADER_NAME_PATTERN",
    "HTTP_URL_PATTERN",
    "MAX_FILE_CONTENT_CHARS",
    "SKILL_LOAD_REFERENCE",
    "STUDIO_AI_DRAFT_PLAYBOOK",
    "STUDIO_AI_REFINE_PROMPT",
    "STUDIO_DATA_ALLOCATE_COSTS",
    "STUDIO_DATA_PROFILE",
    "STUDIO_DATA_RESOLVE_ENTITIES",
    "STUDIO_DATA_VARIANCES",
    "STUDIO_FILES_LIST",
    "STUDIO_FILES_READ",
    "STUDIO_FILES_WRITE",
    "STUDIO_HTTP_FETCH",
    "STUDIO_HTTP_POST",
    "STUDIO_NOTIFY_SLACK",
    "STUDIO_REPORT_LINEAGE",
    "STUDIO_UTIL_ECHO",
    "STUDIO_XLSX_RENDER",
    "WORKSPACE_PATH_PATTERN",
]
