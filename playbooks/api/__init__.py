"""REST endpoints for playbooks and blueprints."""
