"""App config for playbooks."""

from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    name = "playbooks"
    verbose_name = "Playbooks"

    def ready(self) -> None:
        from agentstudio.audit.chain import audit_head_source_register
        from playbooks.engine.audit import run_audit_heads

        audit_head_source_register(run_audit_heads)
