"""Playbook models: the catalogue and lifecycle (catalogue.py) and runs (runs.py)."""

from playbooks.models.catalogue import Blueprint, Playbook, PlaybookStatus, PlaybookVersion
from playbooks.models.runs import (
    Artifact,
    IdempotencyRecord,
    InvocationStatus,
    Run,
    RunEvent,
    RunStatus,
    RunStep,
    StepStatus,
    ToolInvocation,
)

__all__ = [
    "Artifact",
    "Blueprint",
    "IdempotencyRecord",
    "InvocationStatus",
    "Playbook",
    "PlaybookStatus",
    "PlaybookVersion",
    "Run",
    "RunEvent",
    "RunStatus",
    "RunStep",
    "StepStatus",
    "ToolInvocation",
]
