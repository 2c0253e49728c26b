"""Playbooks: specs, their governed lifecycle, immutable versions and the blueprint catalogue."""
