"""What the tool broker keeps in the database: the vault's encrypted secrets."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

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
