"""Playbook (draft → active → archived), its immutable versions, and catalogue Blueprints."""

import uuid

from django.conf import settings
from django.db import models
from django_fsm import FSMField, FSMModelMixin, transition

from agentstudio.errors import AppError, ErrorCode


class PlaybookStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class Playbook(FSMModelMixin, models.Model):
    """An authored spec. Status changes only through the transition methods, run by services."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="playbooks"
    )
    slug = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = FSMField(
        max_length=16,
        choices=PlaybookStatus.choices,
        default=PlaybookStatus.DRAFT,
        protected=True,
    )
    spec = models.JSONField()
    spec_source_yaml = models.TextField(
        blank=True,
        default="",
        help_text="The YAML the spec came from, kept so later validations report lines.",
    )
    version = models.PositiveIntegerField(default=0, help_text="Latest activated version.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="playbooks_created",
    )
    allowed_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="playbooks_listed"
    )
    blueprint = models.ForeignKey(
        "playbooks.Blueprint",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="forks",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "slug"], name="playbook_slug_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @transition(field=status, source=PlaybookStatus.DRAFT, target=PlaybookStatus.ACTIVE)
    def promote(self) -> None:
        """Activation; the service snapshots the spec into a PlaybookVersion."""

    @transition(field=status, source=PlaybookStatus.ACTIVE, target=PlaybookStatus.DRAFT)
    def demote(self) -> None:
        """Back to draft so the spec can be edited; running runs keep their pinned version."""

    @transition(field=status, source=PlaybookStatus.ACTIVE, target=PlaybookStatus.ARCHIVED)
    def archive(self) -> None:
        """Retire: no new runs."""

    @transition(field=status, source=PlaybookStatus.ARCHIVED, target=PlaybookStatus.DRAFT)
    def restore(self) -> None:
        """Bring an archived playbook back as a draft."""


class PlaybookVersion(models.Model):
    """The spec as it was activated. Immutable: runs pin it, nothing may change it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec = models.JSONField()
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Empty when the system activated it (demo seeding).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["playbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="version_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.playbook.slug} v{self.number}"

    def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not self._state.adding:
            raise AppError(ErrorCode.INVALID_STATE, "Playbook versions are immutable.")
        super().save(*args, **kwargs)


class Blueprint(models.Model):
    """A catalogue entry loaded from playbooks/blueprints/*.yaml by `seed_blueprints`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=100)
    problem = models.TextField()
    what_it_does = models.TextField()
    expected_impact = models.TextField()
    systems = models.JSONField(default=list)
    spec = models.JSONField()
    source_sha256 = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "name"]

    def __str__(self) -> str:
        return self.name
