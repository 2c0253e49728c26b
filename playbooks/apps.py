"""App config for playbooks."""

from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    name = "playbooks"
    verbose_name = "Playbooks"

    def ready(self) -> None:
        # What approvals' decisions do to playbooks and runs is this app's rule; approvals
        # dispatches to it through its effects registry and imports nothing of playbooks.
        from playbooks.run_approval_effects import run_approval_effects_register

        run_approval_effects_register()
