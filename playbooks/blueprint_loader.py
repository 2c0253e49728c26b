"""Loading the blueprint catalogue from playbooks/blueprints/*.yaml into the database."""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from playbooks.models import Blueprint
from playbooks.spec.validator import spec_validate
from playbooks.spec.yaml_loader import SpecYAMLError, spec_parse_yaml

CARD_FIELDS = ("category", "problem", "what_it_does", "expected_impact", "systems")


class BlueprintFileError(Exception):
    """A blueprint file that cannot be loaded; the message names the file and the problem."""


@dataclass
class BlueprintFile:
    slug: str
    card: dict[str, Any]
    spec: dict[str, Any]
    sha256: str


@dataclass
class SeedResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def blueprint_file_load(path: Path) -> BlueprintFile:
    text = path.read_text(encoding="utf-8")
    try:
        data, _positions = spec_parse_yaml(text)
    except SpecYAMLError as exc:
        raise BlueprintFileError(f"{path.name}: {exc}") from exc
    missing = [key for key in ("slug", "card", "spec") if key not in data]
    if missing:
        raise BlueprintFileError(f"{path.name}: missing {', '.join(missing)}")
    if data["slug"] != path.stem:
        raise BlueprintFileError(f"{path.name}: slug {data['slug']!r} must match the file name")
    card = data["card"]
    absent = [key for key in CARD_FIELDS if not card.get(key)]
    if absent:
        raise BlueprintFileError(f"{path.name}: card lacks {', '.join(absent)}")
    report = spec_validate(data["spec"])
    if report.errors:
        problems = "; ".join(f"{p.path or '/'}: {p.message}" for p in report.errors)
        raise BlueprintFileError(f"{path.name}: invalid spec: {problems}")
    return BlueprintFile(
        slug=data["slug"],
        card=card,
        spec=data["spec"],
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


def blueprint_files(directory: Path | None = None) -> list[Path]:
    directory = directory or Path(settings.AGENTSTUDIO_BLUEPRINT_DIR)
    return sorted(directory.glob("*.yaml"))


@transaction.atomic
def blueprints_seed(directory: Path | None = None) -> SeedResult:
    """Idempotent: creates new blueprints, updates changed ones, leaves the rest alone."""
    loaded = [blueprint_file_load(path) for path in blueprint_files(directory)]
    result = SeedResult()
    for item in loaded:
        existing = Blueprint.objects.select_for_update().filter(slug=item.slug).first()
        if existing is not None and existing.source_sha256 == item.sha256:
            result.unchanged.append(item.slug)
            continue
        values = {
            "name": item.spec["name"],
            "description": item.spec.get("description", ""),
            "spec": item.spec,
            "source_sha256": item.sha256,
            **{key: item.card[key] for key in CARD_FIELDS},
        }
        Blueprint.objects.update_or_create(slug=item.slug, defaults=values)
        (result.updated if existing else result.created).append(item.slug)
    return result
