"""The body hash an approver sees and sends back: SHA-256 of canonical JSON."""

import hashlib
from typing import Any

from agentstudio.audit.chain import canonical_json


def approval_body_hash(payload: Any) -> str:
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def tool_call_body_hash(*, tool: str, arguments: Any) -> str:
    return approval_body_hash({"tool": tool, "arguments": arguments})
