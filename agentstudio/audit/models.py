"""Audit rows chained by SHA-256 per stream, and the per-stream head that writers lock."""

import random
import time
import uuid

from django.conf import settings
from django.db import models


def time_ordered_uuid() -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits. An id, not a
    secret: the fast generator is enough (Python reseeds it in a forked child)."""
    value = (time.time_ns() // 1_000_000) << 80 | random.getrandbits(80)
    value = value & ~(0xF000 << 64) | (0x7000 << 64)  # version 7
    value = value & ~(0xC000 << 48) | (0x8000 << 48)  # RFC 9562 variant
    return uuid.UUID(int=value)


class AuditStream(models.Model):
    """The head of one chain (an organization's lifecycle, a run): writers lock this row."""

    key = models.CharField(max_length=120, primary_key=True)
    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"{self.key} @ {self.last_seq}"


class AuditEvent(models.Model):
    """One audited fact; `hash` covers the previous row's hash, so edits break the chain."""

    # time-ordered ids: appends go to the right edge of the primary key's index
    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    # no index of its own: the (stream, seq) unique index serves lookups by stream
    stream = models.CharField(max_length=120)
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=64)
    # No database constraints: an audit row outlives what it names (Django still applies
    # SET_NULL on delete), and the engine appends rows without a foreign-key check each.
    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        db_index=False,
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
