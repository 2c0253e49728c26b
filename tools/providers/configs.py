"""Writing provider configurations (admins): one service for the admin pages and
`manage.py add_provider`. At most one default and one AI-services provider per
organization: marking one unmarks the others."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from agentstudio.accounts.roles import org_admin_assert
from agentstudio.audit import events as audit_events
from agentstudio.errors import AppError, ErrorCode

CONFIG_FIELDS = (
    "kind",
    "base_url",
    "api_key_secret",
    "default_model",
    "timeout_seconds",
    "connect_timeout_seconds",
    "max_retries",
    "is_default",
    "use_for_ai_services",
)


@transaction.atomic
def provider_config_save(
    *, organization: Any, actor: Any, name: str, **fields: Any
) -> tuple[Any, bool]:
    """Creates the named provider, or updates the given fields of an existing one; answers
    (config, created)."""
    from tools.models import ModelProviderConfig

    org_admin_assert(actor=actor, organization=organization, what="configure model providers")
    unknown = sorted(set(fields) - set(CONFIG_FIELDS))
    if unknown:
        raise AppError(ErrorCode.VALIDATION_ERROR, f"Unknown provider fields: {unknown}.")
    config = (
        ModelProviderConfig.objects.select_for_update()
        .filter(organization=organization, name=name)
        .first()
    )
    created = config is None
    if config is None:
        config = ModelProviderConfig(organization=organization, name=name)
    for field, value in fields.items():
        setattr(config, field, value)
    try:
        config.full_clean(validate_constraints=False)
    except ValidationError as exc:
        details = [
            {"path": f"/{field}", "message": " ".join(problems)}
            for field, problems in exc.message_dict.items()
        ]
        raise AppError(
            ErrorCode.VALIDATION_ERROR, "Invalid model provider.", details=details
        ) from exc
    others = ModelProviderConfig.objects.filter(organization=organization).exclude(name=name)
    if config.is_default:
        others.filter(is_default=True).update(is_default=False)
    if config.use_for_ai_services:
        others.filter(use_for_ai_services=True).update(use_for_ai_services=False)
    config.save()
    audit_events.model_provider_changed(
        organization=organization,
        actor=actor,
        name=name,
        change="created" if created else "updated",
    )
    return config, created
