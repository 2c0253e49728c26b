"""Writes for playbooks: create, edit, delete, lifecycle transitions, versions, forks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify

from agentstudio.accounts.models import Organization
from agentstudio.accounts.roles import (
    can_author,
    can_edit_playbook,
    can_manage_playbook_lifecycle,
    can_see_playbook,
)
from agentstudio.audit import events
from agentstudio.errors import AppError, ErrorCode
from approvals.models import Approval, ApprovalKind, ApprovalStatus
from approvals.services import approval_cancel, approval_create
from playbooks.models import Blueprint, Playbook, PlaybookStatus, PlaybookVersion
from playbooks.spec.checked import CheckedSpec, spec_check_stored, spec_require_valid

_SLUG_MAX = 90


def _invalid_state(message: str) -> AppError:
    return AppError(ErrorCode.INVALID_STATE, message)


def _slug_free(*, organization: Organization, base: str) -> str:
    base = (slugify(base)[:_SLUG_MAX].strip("-")) or "playbook"
    slug, counter = base, 2
    while Playbook.objects.filter(organization=organization, slug=slug).exists():
        slug = f"{base}-{counter}"
        counter += 1
    return slug


def _slug_checked(*, organization: Organization, slug: str, exclude: Any = None) -> str:
    clean = slugify(slug)
    if clean != slug or not slug:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "A slug may hold only lowercase letters, digits, hyphens and underscores.",
            details=[{"path": "/slug", "message": "invalid slug"}],
        )
    taken = Playbook.objects.filter(organization=organization, slug=slug).exclude(pk=exclude)
    if taken.exists():
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"Slug {slug!r} is already used in your organization.",
            details=[{"path": "/slug", "message": "already used"}],
        )
    return slug


def _assert_allowed(
    actor: AbstractUser | None, playbook: Playbook, allowed: Callable[..., bool], message: str
) -> None:
    """404 when the actor cannot see the playbook, 403 when they see it but may not act.
    `None` is the system (demo seeding), which may do anything."""
    if actor is None:
        return
    if not can_see_playbook(actor, playbook):
        raise AppError(ErrorCode.NOT_FOUND, "Not found.")
    if not allowed(actor, playbook):
        raise AppError(ErrorCode.PERMISSION_DENIED, message)


def playbook_assert_can_edit(actor: AbstractUser | None, playbook: Playbook) -> None:
    _assert_allowed(
        actor,
        playbook,
        can_edit_playbook,
        "Only admins and authors edit, validate and promote playbooks.",
    )


def _assert_can_manage(actor: AbstractUser | None, playbook: Playbook) -> None:
    _assert_allowed(
        actor,
        playbook,
        can_manage_playbook_lifecycle,
        "Only admins, or the author who owns it, may demote, archive, restore or delete it.",
    )


def _locked(playbook: Playbook) -> Playbook:
    return Playbook.objects.select_for_update().get(pk=playbook.pk)


def _with_name(spec: dict[str, Any], name: str | None) -> dict[str, Any]:
    """`name` in the request overrides `spec.name`; the spec keeps the one true name."""
    if name:
        return {**spec, "name": name}
    return spec


@transaction.atomic
def playbook_create(
    *,
    organization: Organization,
    actor: AbstractUser | None,
    checked: CheckedSpec,
    name: str | None = None,
    slug: str | None = None,
    description: str | None = None,
    allowed_users: list[AbstractUser] | None = None,
    blueprint: Blueprint | None = None,
    source: str = "api",
) -> Playbook:
    if actor is not None and not can_author(actor):
        raise AppError(ErrorCode.PERMISSION_DENIED, "Only admins and authors create playbooks.")
    spec = _with_name(spec_require_valid(checked), name)
    if slug:
        slug = _slug_checked(organization=organization, slug=slug)
    else:
        slug = _slug_free(organization=organization, base=spec["name"])
    playbook = Playbook.objects.create(
        organization=organization,
        slug=slug,
        name=spec["name"],
        description=description if description is not None else spec.get("description", ""),
        spec=spec,
        spec_source_yaml=checked.source_yaml if not name else "",
        created_by=actor,
        blueprint=blueprint,
    )
    if allowed_users:
        playbook.allowed_users.set(allowed_users)
    events.playbook_created(playbook=playbook, actor=actor, source=source)
    return playbook


@transaction.atomic
def playbook_update(
    *,
    playbook: Playbook,
    actor: AbstractUser,
    checked: CheckedSpec | None = None,
    name: str | None = None,
    slug: str | None = None,
    description: str | None = None,
    allowed_users: list[AbstractUser] | None = None,
) -> Playbook:
    """Edits a playbook; the spec only while draft. A spec edit cancels a pending promotion."""
    playbook_assert_can_edit(actor, playbook)
    playbook = _locked(playbook)
    if checked is not None:
        if playbook.status != PlaybookStatus.DRAFT:
            raise _invalid_state(
                f"The spec can only be edited in draft; this playbook is {playbook.status}. "
                "Demote it first."
            )
        spec = _with_name(spec_require_valid(checked), name or None)
        playbook.spec = spec
        playbook.spec_source_yaml = checked.source_yaml if not name else ""
        playbook.name = spec["name"]
        _promotion_cancel_pending(playbook=playbook, actor=actor, reason="spec edited")
        events.playbook_spec_edited(playbook=playbook, actor=actor)
    elif name:
        if playbook.status != PlaybookStatus.DRAFT:
            raise _invalid_state("The name is part of the spec; edit it in draft.")
        playbook.spec = {**playbook.spec, "name": name}
        playbook.spec_source_yaml = ""
        playbook.name = name
        _promotion_cancel_pending(playbook=playbook, actor=actor, reason="spec edited")
        events.playbook_spec_edited(playbook=playbook, actor=actor)
    if slug is not None and slug != playbook.slug:
        playbook.slug = _slug_checked(
            organization=playbook.organization, slug=slug, exclude=playbook.pk
        )
    if description is not None:
        playbook.description = description
    playbook.save()
    if allowed_users is not None:
        playbook.allowed_users.set(allowed_users)
    return playbook


@transaction.atomic
def playbook_delete(*, playbook: Playbook, actor: AbstractUser) -> None:
    _assert_can_manage(actor, playbook)
    playbook = _locked(playbook)
    if playbook.status not in (PlaybookStatus.DRAFT, PlaybookStatus.ARCHIVED):
        raise _invalid_state("Only draft or archived playbooks can be deleted; archive it first.")
    _promotion_cancel_pending(playbook=playbook, actor=actor, reason="playbook deleted")
    events.playbook_deleted(
        organization=playbook.organization,
        actor=actor,
        playbook_id=str(playbook.pk),
        slug=playbook.slug,
    )
    playbook.delete()


def _promotion_pending(playbook: Playbook) -> Approval | None:
    return Approval.objects.filter(
        playbook=playbook, kind=ApprovalKind.PROMOTION, status=ApprovalStatus.PENDING
    ).first()


def _promotion_cancel_pending(*, playbook: Playbook, actor: Any, reason: str) -> None:
    pending = _promotion_pending(playbook)
    if pending is not None:
        approval_cancel(approval=pending, actor=actor, reason=reason)


def promotion_payload(playbook: Playbook) -> dict[str, Any]:
    """What the approver of a promotion sees and hashes: exactly the spec to activate."""
    from playbooks.spec.promotion import promotion_policy
    from tools.registry import tool_lookup_for

    policy = promotion_policy(playbook.spec, tool_lookup=tool_lookup_for(playbook.organization_id))
    return {
        "playbook": str(playbook.pk),
        "slug": playbook.slug,
        "reasons": policy.reasons,
        "spec": playbook.spec,
    }


@transaction.atomic
def playbook_promote(
    *, playbook: Playbook, actor: AbstractUser
) -> tuple[Playbook, Approval | None]:
    """Activates at once when policy allows, else opens (or returns) a promotion approval."""
    playbook_assert_can_edit(actor, playbook)
    playbook = _locked(playbook)
    if playbook.status != PlaybookStatus.DRAFT:
        raise _invalid_state(f"Only a draft can be promoted; this playbook is {playbook.status}.")
    checked = spec_check_stored(
        spec=playbook.spec,
        source_yaml=playbook.spec_source_yaml,
        organization_id=playbook.organization_id,
    )
    spec_require_valid(checked)
    assert checked.policy is not None
    if not checked.policy.requires_approval:
        return playbook_activate(playbook=playbook, actor=actor, activated_by=actor), None
    pending = _promotion_pending(playbook)
    if pending is not None:
        return playbook, pending
    ttl = settings.AGENTSTUDIO_PROMOTION_APPROVAL_TTL_SECONDS
    approval = approval_create(
        organization=playbook.organization,
        kind=ApprovalKind.PROMOTION,
        title=f"Promote playbook {playbook.name!r}",
        payload=promotion_payload(playbook),
        requested_by=actor,
        playbook=playbook,
        risk=checked.policy.risk_max or "",
        expires_at=timezone.now() + timedelta(seconds=ttl),
    )
    return playbook, approval


def playbook_activate(
    *, playbook: Playbook, actor: AbstractUser | None, activated_by: AbstractUser | None
) -> Playbook:
    """draft → active with a new immutable version. The caller holds the row lock."""
    source = playbook.status
    playbook.promote()
    number = (playbook.versions.aggregate(top=Max("number"))["top"] or 0) + 1
    PlaybookVersion.objects.create(
        playbook=playbook, number=number, spec=playbook.spec, activated_by=activated_by
    )
    playbook.version = number
    playbook.save()
    events.playbook_transitioned(
        playbook=playbook,
        actor=actor,
        transition="promoted",
        source=source,
        target=playbook.status,
        version=number,
    )
    return playbook


def playbook_activate_from_approval(*, approval: Approval, actor: AbstractUser) -> Playbook:
    """Runs inside the approval's transaction: the approved hash must still be the spec's."""
    from approvals.hashing import approval_body_hash

    assert approval.playbook is not None
    playbook = _locked(approval.playbook)
    if playbook.status != PlaybookStatus.DRAFT:
        raise _invalid_state(f"The playbook is {playbook.status}, no longer a draft.")
    if approval_body_hash(promotion_payload(playbook)) != approval.body_hash:
        raise AppError(
            ErrorCode.HASH_MISMATCH,
            "The playbook changed after this promotion was requested; it was not activated.",
        )
    return playbook_activate(playbook=playbook, actor=actor, activated_by=actor)


@transaction.atomic
def playbook_activate_as_system(*, playbook: Playbook) -> Playbook:
    """Demo seeding: the system activates without a person; the audit row says 'system'."""
    playbook = _locked(playbook)
    return playbook_activate(playbook=playbook, actor=None, activated_by=None)


def _simple_transition(playbook: Playbook, actor: AbstractUser, name: str, done: str) -> Playbook:
    _assert_can_manage(actor, playbook)
    playbook = _locked(playbook)
    method = getattr(playbook, name)
    source = playbook.status
    from django_fsm import can_proceed

    if not can_proceed(method):
        raise _invalid_state(f"Cannot {name} a playbook that is {source}.")
    method()
    playbook.save()
    events.playbook_transitioned(
        playbook=playbook, actor=actor, transition=done, source=source, target=playbook.status
    )
    return playbook


@transaction.atomic
def playbook_demote(*, playbook: Playbook, actor: AbstractUser) -> Playbook:
    return _simple_transition(playbook, actor, "demote", "demoted")


@transaction.atomic
def playbook_archive(*, playbook: Playbook, actor: AbstractUser) -> Playbook:
    return _simple_transition(playbook, actor, "archive", "archived")


@transaction.atomic
def playbook_restore(*, playbook: Playbook, actor: AbstractUser) -> Playbook:
    return _simple_transition(playbook, actor, "restore", "restored")


@transaction.atomic
def playbook_version_restore(
    *, playbook: Playbook, version: PlaybookVersion, actor: AbstractUser
) -> Playbook:
    """Copies an activated spec back into the draft (a spec edit like any other)."""
    playbook_assert_can_edit(actor, playbook)
    playbook = _locked(playbook)
    if playbook.status != PlaybookStatus.DRAFT:
        raise _invalid_state("Versions can only be restored into a draft; demote it first.")
    playbook.spec = version.spec
    playbook.spec_source_yaml = ""
    playbook.name = version.spec.get("name", playbook.name)
    playbook.save()
    _promotion_cancel_pending(playbook=playbook, actor=actor, reason="spec edited")
    events.playbook_spec_edited(playbook=playbook, actor=actor)
    return playbook


def playbook_fork(
    *,
    blueprint: Blueprint,
    organization: Organization,
    actor: AbstractUser | None,
    name: str | None = None,
) -> Playbook:
    """A new draft owned by the caller, carrying the blueprint's spec (slug from the
    blueprint unless a name is given)."""
    from playbooks.spec.checked import spec_check

    checked = spec_check(spec=blueprint.spec)
    for _attempt in range(3):
        slug = _slug_free(organization=organization, base=name or blueprint.slug)
        try:
            with transaction.atomic():
                return playbook_create(
                    organization=organization,
                    actor=actor,
                    checked=checked,
                    name=name,
                    slug=slug,
                    description=blueprint.description,
                    blueprint=blueprint,
                    source=f"blueprint:{blueprint.slug}",
                )
        except IntegrityError:  # two forks raced for the same slug; pick the next one
            continue
    raise _invalid_state("Could not choose a free slug for the fork; try again.")
