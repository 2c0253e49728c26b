"""The validator `tools.spec_validation` calls (draft_playbook checks its drafts with it):
the same checks as creating a playbook, with the organization's connection tools."""

from __future__ import annotations

from typing import Any

from playbooks.spec.checked import spec_check
from playbooks.spec.yaml_loader import spec_to_yaml
from tools.spec_validation import SpecVerdict, register_spec_validator


def spec_verdict(source: str | dict[str, Any], *, organization_id: Any) -> SpecVerdict:
    if isinstance(source, str):
        checked = spec_check(spec_yaml=source, organization_id=organization_id)
    else:
        checked = spec_check(spec=source, organization_id=organization_id)
    errors = [problem.as_dict() for problem in checked.report.errors]
    if checked.spec is None and not errors:
        errors = [{"path": "", "message": "The spec must be a mapping."}]
    spec_yaml = spec_to_yaml(checked.spec) if checked.spec is not None else ""
    return SpecVerdict(spec=checked.spec, spec_yaml=spec_yaml, errors=errors)


def spec_validator_register() -> None:
    register_spec_validator(spec_verdict)
