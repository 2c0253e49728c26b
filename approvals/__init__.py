"""Approvals: hash-bound human decisions on gates, tool calls, budgets, promotions, reviews."""
