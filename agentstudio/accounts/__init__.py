"""Accounts: organizations, memberships with roles, and API keys."""
