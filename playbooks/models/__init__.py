"""Playbook models: the catalogue and lifecycle (catalogue.py) and runs (runs.py)."""

from playbooks.models.catalogue import Blueprint, Playbook, PlaybookStatus, PlaybookVersion
from playbooks.models.runs import (
    Artifact,
    IdempotencyRecord,
    Run,
    RunEvent,
    RunStatus,
    RunStep,
    StepStatus,
)

__all__ = [
    "Artifact",
    "Blueprint",
    "IdempotencyRecord",
    "Playbook",
    "PlaybookStatus",
    "PlaybookVersion",
    "Run",
    "RunEvent",
    "RunStatus",
    "RunStep",
    "StepStatus",
]
