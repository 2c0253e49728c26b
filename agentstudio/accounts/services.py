"""Writes for accounts: organizations, users with their membership, API keys."""

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from agentstudio.accounts.authentication import API_KEY_PREFIX, api_key_hash
from agentstudio.accounts.models import ApiKey, Membership, Organization, Role
from agentstudio.accounts.roles import can_manage_org_resources, is_staff_role
from agentstudio.audit import events
from agentstudio.errors import AppError, ErrorCode


@transaction.atomic
def organization_create(*, name: str) -> Organization:
    name = name.strip()
    if not name:
        raise AppError(ErrorCode.VALIDATION_ERROR, "An organization needs a name.")
    if Organization.objects.filter(name=name).exists():
        raise AppError(ErrorCode.INVALID_STATE, f"Organization {name!r} already exists.")
    organization = Organization.objects.create(name=name)
    events.organization_created(organization=organization)
    return organization


def _assert_can_manage_members(actor: Any) -> None:
    if actor is not None and not can_manage_org_resources(actor):
        raise AppError(ErrorCode.PERMISSION_DENIED, "Only admins manage members.")


def _role_checked(role: str) -> str:
    if role not in Role.values:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"Unknown role {role!r}; use one of: {', '.join(Role.values)}.",
            details=[{"path": "/role", "message": "unknown role"}],
        )
    return role


@transaction.atomic
def user_create(
    *,
    organization: Organization,
    username: str,
    role: str,
    password: str | None = None,
    email: str = "",
    actor: AbstractUser | None = None,
) -> AbstractUser:
    """Creates a user inside one organization; admins and approvers may use the Django admin."""
    _assert_can_manage_members(actor)
    _role_checked(role)
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"Username {username!r} is taken.",
            details=[{"path": "/username", "message": "already taken"}],
        )
    user = user_model.objects.create_user(
        username=username, email=email, password=password, is_staff=is_staff_role(role)
    )
    if password is None:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Membership.objects.create(user=user, organization=organization, role=role)
    events.member_added(organization=organization, actor=actor, user=user, role=role)
    return user


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, actor: AbstractUser) -> Membership:
    _assert_can_manage_members(actor)
    _role_checked(role)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    old_role = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    user = membership.user
    if not user.is_superuser:
        user.is_staff = is_staff_role(role)
        user.save(update_fields=["is_staff"])
    events.member_role_changed(
        organization=membership.organization, actor=actor, user=user, old=old_role, new=role
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, actor: AbstractUser) -> None:
    """Removes a user from the organization: the user is deactivated and their keys revoked."""
    _assert_can_manage_members(actor)
    if membership.user_id == actor.pk:
        raise AppError(ErrorCode.INVALID_STATE, "You cannot remove yourself.")
    user = membership.user
    organization = membership.organization
    ApiKey.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    membership.delete()
    user.is_active = False
    user.is_staff = False
    user.save(update_fields=["is_active", "is_staff"])
    events.member_removed(organization=organization, actor=actor, user=user)


@transaction.atomic
def api_key_create(*, user: AbstractUser, name: str = "") -> tuple[ApiKey, str]:
    """Returns the key row and its secret; the secret is never retrievable again."""
    organization = user.membership.organization
    prefix = secrets.token_hex(6)
    raw = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        user=user,
        organization=organization,
        name=name,
        prefix=prefix,
        key_hash=api_key_hash(raw),
    )
    events.api_key_created(organization=organization, actor=user, key=key)
    return key, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey, actor: AbstractUser) -> ApiKey:
    key = ApiKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        events.api_key_revoked(organization=key.organization, actor=actor, key=key)
    return key
