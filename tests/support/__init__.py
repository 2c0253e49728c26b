"""Helpers shared by test modules: test-only tools, a process harness, a local HTTP sink."""
