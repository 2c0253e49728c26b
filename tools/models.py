"""What the tool broker keeps in the database: the vault's encrypted secrets, the external MCP
connections and their tools, and every tool call made (its invocation row, on a run)."""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from approvals.risk import RISK_CLASSES, RiskClass
from tools.registry import (
    RESERVED_CONNECTION_NAMES,
    reserved_connection_name_message,
)

VAULT_NAME_VALIDATOR = RegexValidator(
    r"^[A-Za-z0-9_.-]{1,200}$", "Use 1-200 letters, digits, dots, dashes or underscores."
)


class Secret(models.Model):
    """A named secret of one organization, encrypted at rest (tools.vault). Its value is
    written, never read back through any API; only the broker decrypts it, at call time."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="secrets"
    )
    name = models.CharField(max_length=200, validators=[VAULT_NAME_VALIDATOR])
    ciphertext = models.BinaryField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="secret_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name


CONNECTION_NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,63}$",
    "Use lowercase letters, digits, - or _ (its tools are named tools.<name>.<tool>).",
)
RISK_CHOICES = [(risk, risk) for risk in RISK_CLASSES]


class Connection(models.Model):
    """An external MCP server an admin registered; its tools join the registry as
    `tools.<name>.<tool>`. Names are unique across organizations: they name tools."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="connections"
    )
    name = models.CharField(max_length=64, unique=True, validators=[CONNECTION_NAME_VALIDATOR])
    url = models.URLField(max_length=2000, help_text="The server's Streamable HTTP endpoint.")
    auth_secret = models.CharField(
        max_length=200,
        blank=True,
        default="",
        validators=[VAULT_NAME_VALIDATOR],
        help_text="Vault entry sent as `Authorization: Bearer <value>` (optional).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Refuses a reserved name on every path that validates (the admin's form too)."""
        if self.name in RESERVED_CONNECTION_NAMES:
            raise ValidationError({"name": reserved_connection_name_message(self.name)})


class ConnectionTool(models.Model):
    """One tool a connection offers, as last imported. New tools are `external_send` and
    untrusted until an admin classifies them; a refresh keeps the classification."""

    id = models.BigAutoField(primary_key=True)
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=128, help_text="Local name: the remote one, made valid.")
    remote_name = models.CharField(max_length=256, help_text="The name the server knows it by.")
    title = models.CharField(max_length=300, blank=True, default="")
    description = models.TextField(blank=True, default="")
    input_schema = models.JSONField(default=dict)
    output_schema = models.JSONField(null=True, blank=True)
    risk = models.CharField(max_length=16, choices=RISK_CHOICES, default=RiskClass.EXTERNAL_SEND)
    untrusted = models.BooleanField(default=True)
    classified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    classified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["connection", "name"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "name"], name="connection_tool_name")
        ]

    def __str__(self) -> str:
        return self.registry_name

    @property
    def registry_name(self) -> str:
        return f"tools.{self.connection.name}.{self.name}"


class InvocationStatus(models.TextChoices):
    STARTED = "started", "Started"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    UNKNOWN = "unknown", "Outcome unknown"


class ToolInvocation(models.Model):
    """A tool call with its idempotency key `run:step:call`: a succeeded invocation is never
    executed again; a `started` one found after a crash has an unknown outcome.

    The broker writes it; the run's engine checkpoints it. Its table kept the name it had
    when the model lived in playbooks (tools migration 0003 moved only the model)."""

    id = models.BigAutoField(primary_key=True)
    # By name, not by import: tools sits below playbooks. No database foreign-key
    # constraint (Django still cascades deletes): the engine writes this row only in the
    # statement whose guarded UPDATE found the run, or under the run's row lock, and a
    # constraint check per row would cost every call a lookup of the run row at commit.
    run = models.ForeignKey(
        "playbooks.Run",
        on_delete=models.CASCADE,
        related_name="tool_invocations",
        db_constraint=False,
    )
    key = models.CharField(max_length=200)  # unique: see Meta (no LIKE index needed)
    step_id = models.CharField(max_length=64)
    tool = models.CharField(max_length=200)
    arguments = models.JSONField()
    status = models.CharField(max_length=16, choices=InvocationStatus.choices)
    result = models.JSONField(null=True, blank=True)
    is_error = models.BooleanField(default=False)
    idempotent = models.BooleanField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "playbooks_toolinvocation"
        ordering = ["run", "id"]
        constraints = [
            models.UniqueConstraint(fields=["key"], name="tool_invocation_key_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.tool} ({self.status})"


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible Chat Completions"
    ANTHROPIC = "anthropic", "Anthropic Messages"


PROVIDER_NAME_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9_.-]{0,63}$", "Use lowercase letters, digits, dots, - or _."
)


def base_url_validate(value: str) -> None:
    """http(s) and a host: service names without a dot (`http://vllm:8000/v1`) are fine."""
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValidationError("Give an http:// or https:// URL with a host.")


# Names a playbook's `model.provider` already gives a meaning.
RESERVED_PROVIDER_NAMES = ("scripted", "default")


class ModelProviderConfig(models.Model):
    """A model provider an admin configured for the organization; a playbook's
    `model.provider` names it (`default` means the one marked `is_default`). The API key is
    the NAME of a vault secret, read at call time: no key is ever stored here."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="model_providers"
    )
    name = models.CharField(max_length=64, validators=[PROVIDER_NAME_VALIDATOR])
    kind = models.CharField(max_length=16, choices=ProviderKind.choices)
    base_url = models.CharField(
        max_length=2000,
        validators=[base_url_validate],
        help_text="e.g. https://api.openai.com/v1, http://localhost:11434/v1 (Ollama), "
        "https://RESOURCE.openai.azure.com/openai/v1/, https://api.anthropic.com",
    )
    api_key_secret = models.CharField(
        max_length=200,
        blank=True,
        default="",
        validators=[VAULT_NAME_VALIDATOR],
        help_text="The name of the vault secret holding the API key (empty: none sent).",
    )
    default_model = models.CharField(max_length=200, blank=True, default="")
    timeout_seconds = models.FloatField(default=60.0)
    connect_timeout_seconds = models.FloatField(default=10.0)
    max_retries = models.PositiveSmallIntegerField(default=2)
    is_default = models.BooleanField(default=False, help_text="What `provider: default` means.")
    use_for_ai_services = models.BooleanField(
        default=False, help_text="The provider the studio's AI services use."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="model_provider_name_per_org"
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(is_default=True),
                name="model_provider_one_default_per_org",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(use_for_ai_services=True),
                name="model_provider_one_ai_services_per_org",
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gt=0) & models.Q(connect_timeout_seconds__gt=0),
                name="model_provider_timeouts_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        if self.name in RESERVED_PROVIDER_NAMES:
            raise ValidationError(
                {"name": f"{self.name!r} is reserved (`provider: {self.name}` has a meaning)."}
            )
