"""Moved to `tools.providers` (DESIGN.md puts LLM providers in tools); these names stay
importable from here for code written against the old place."""

from tools.providers.base import (
    ModelProvider,
    ModelProviderError,
    ModelReply,
    ModelRequest,
    ModelToolCall,
)
from tools.providers.registry import provider_for
from tools.providers.scripted import ScriptedProvider

__all__ = [
    "ModelProvider",
    "ModelProviderError",
    "ModelReply",
    "ModelRequest",
    "ModelToolCall",
    "ScriptedProvider",
    "provider_for",
]
