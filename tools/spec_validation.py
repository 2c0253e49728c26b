"""Checking a playbook spec from inside tools: `tools.studio.ai.draft_playbook` must hand
back a spec that passes the playbook validator, which lives in playbooks (a higher layer
that tools never imports). Playbooks registers its validator here from
`AppConfig.ready()`, as it registers its RunAccess in `tools.run_access`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class SpecValidatorMissing(LookupError):
    """Nothing registered a spec validator: a wiring fault, never a spec passed unchecked."""


@dataclass(frozen=True)
class SpecVerdict:
    """What the validator made of a spec given as text (YAML or JSON) or as a mapping."""

    spec: dict[str, Any] | None  # the parsed spec (None when unreadable)
    spec_yaml: str  # the spec as YAML (canonical form), "" when unreadable
    # Every error as {path (JSON Pointer into the spec), message, line?, column?}.
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.spec is not None and not self.errors


# validator(source, *, organization_id) -> SpecVerdict; `source` is YAML/JSON text or a
# mapping; the organization decides which connection tools the spec may use.
SpecValidator = Callable[..., SpecVerdict]

_registered: list[SpecValidator] = []


def register_spec_validator(validator: SpecValidator) -> None:
    """Playbooks registers its validator (once); a second, different one is refused."""
    if _registered and _registered[0] is not validator:
        raise ValueError("A spec validator is registered already (playbooks registers one).")
    _registered[:] = [validator]


def spec_validate(source: str | dict[str, Any], *, organization_id: Any) -> SpecVerdict:
    """The registered validator's verdict on `source`; SpecValidatorMissing without one."""
    if not _registered:
        raise SpecValidatorMissing(
            "No spec validator is registered: playbooks registers one in "
            "PlaybooksConfig.ready() with tools.spec_validation.register_spec_validator."
        )
    return _registered[0](source, organization_id=organization_id)
