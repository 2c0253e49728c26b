"""The studio's model-backed tools (`tools.studio.ai.refine_prompt`, `…draft_playbook`):
what they ask a model, how they check its answer, and the REST AI services that call them
with the organization's AI-services provider. Inside a run they use the run's model."""
