"""Audit rows chained by SHA-256 per stream, and the per-stream head that writers lock."""

import uuid

from django.conf import settings
from django.db import models


class AuditStream(models.Model):
    """The head of one chain (an organization's lifecycle, a run): writers lock this row."""

    key = models.CharField(max_length=120, primary_key=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"{self.key} @ {self.last_seq}"


class AuditEvent(models.Model):
    """One audited fact; `hash` covers the previous row's hash, so edits break the chain."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stream = models.CharField(max_length=120, db_index=True)
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=64)
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    actor_label = models.CharField(max_length=150)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["stream", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "seq"], name="audit_event_stream_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.stream}#{self.seq} {self.type}"
