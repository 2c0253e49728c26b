"""Append-only audit log whose rows chain by hash within a stream."""
