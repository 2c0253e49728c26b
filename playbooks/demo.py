"""The demo organization `make up` creates: credit, an admin, and an active playbook per
blueprint (activated by the system, so the audit log says so)."""

import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from agentstudio.accounts.models import Organization, Role
from agentstudio.accounts.services import organization_create, user_create
from agentstudio.billing.services import credits_grant
from playbooks.models import Blueprint, Playbook
from playbooks.services import playbook_activate_as_system, playbook_fork

DEMO_ORGANIZATION = "Demo"
DEMO_ADMIN = "admin"


@dataclass
class DemoResult:
    organization: Organization
    admin_username: str
    admin_password: str | None = None
    activated: list[str] = field(default_factory=list)


@transaction.atomic
def demo_bootstrap() -> DemoResult:
    """Idempotent: creates only what is missing; the admin password is returned only once."""
    organization = Organization.objects.filter(name=DEMO_ORGANIZATION).first()
    if organization is None:
        organization = organization_create(name=DEMO_ORGANIZATION)
        credits_grant(organization=organization, amount=settings.AGENTSTUDIO_DEMO_CREDIT_USD)
    admin = get_user_model().objects.filter(username=DEMO_ADMIN).first()
    result = DemoResult(organization=organization, admin_username=DEMO_ADMIN)
    if admin is None:
        result.admin_password = secrets.token_urlsafe(12)
        admin = user_create(
            organization=organization,
            username=DEMO_ADMIN,
            role=Role.ADMIN,
            password=result.admin_password,
        )
        admin.is_superuser = True
        admin.save(update_fields=["is_superuser"])
    for blueprint in Blueprint.objects.order_by("slug"):
        if Playbook.objects.filter(organization=organization, blueprint=blueprint).exists():
            continue
        playbook = playbook_fork(blueprint=blueprint, organization=organization, actor=admin)
        playbook_activate_as_system(playbook=playbook)
        result.activated.append(playbook.slug)
    return result
