"""`manage.py verify_audit`: checks every audit chain and reports the first broken link."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agentstudio.audit.chain import audit_verify
from agentstudio.audit.models import AuditEvent


class Command(BaseCommand):
    help = "Verify the hash chains of the audit log; exits non-zero on the first broken link."

    def handle(self, *args: Any, **options: Any) -> None:
        broken = list(audit_verify())
        for link in broken:
            self.stderr.write(f"broken: stream {link.stream} at seq {link.seq}: {link.reason}")
        if broken:
            raise CommandError(f"audit log tampered: {len(broken)} broken chain(s)")
        self.stdout.write(f"audit log intact: {AuditEvent.objects.count()} rows verified")
