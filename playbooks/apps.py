"""Playbooks: specs, versions, runs, the engine. May import the core, approvals and tools."""

from django.apps import AppConfig


class PlaybooksConfig(AppConfig):
    name = "playbooks"
    verbose_name = "Playbooks"

    def ready(self) -> None:
        from agentstudio.audit.chain import audit_head_source_register
        from playbooks.approval_effects import run_approval_effects_register
        from playbooks.engine.store.run_audit import run_audit_heads
        from playbooks.runs.tool_calls import run_tool_calls_register
        from playbooks.spec.tool_hook import spec_validator_register

        # What approvals' decisions do to playbooks and runs is this app's rule; approvals
        # dispatches to it through its effects registry and imports nothing of playbooks.
        run_approval_effects_register()
        # The approval page shows the run around an approval through approvals.context.
        from playbooks.runs.approval_context import run_approval_context_register

        run_approval_context_register()
        # The broker reaches runs (scope, workspace, recording a call made through the API)
        # through the RunAccess tools defines and this app implements; tools imports nothing
        # of playbooks.
        run_tool_calls_register()
        # tools.studio.ai.draft_playbook checks its drafts with the playbook validator,
        # which tools reaches through tools.spec_validation.
        spec_validator_register()
        # The runs' audit chains keep their heads on the run row; the core's verifier
        # finds them through this source.
        audit_head_source_register(run_audit_heads)
