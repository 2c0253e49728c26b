"""Writes for approvals, one module per purpose; the public names are re-exported here so
callers keep importing `approvals.services`. What a decision does to runs, playbooks and tool
calls is not here: the owning apps register it in approvals.effects."""

from approvals.services.answer import (
    approval_answer,
    approval_answer_with_file,
    approval_assert_can_answer,
)
from approvals.services.checks import REASON_MAX_LENGTH, approval_assert_can_decide
from approvals.services.create import approval_create
from approvals.services.decide import (
    approval_approve,
    approval_cancel,
    approval_mark_executed,
    approval_reject,
)
from approvals.services.edit import PAYLOAD_FIXED_KINDS, approval_edit, approval_payload_editable
from approvals.services.expiry import approvals_expire_overdue
from approvals.services.recording import approval_in_undo_window
from approvals.services.scopes import (
    SCOPE_FORBIDDEN_RISKS,
    approval_covered_by_session,
    approval_session_grant,
)
from approvals.services.undo import (
    approval_undo,
    approval_undo_window_closed,
    approvals_release_after_undo,
)

__all__ = [
    "PAYLOAD_FIXED_KINDS",
    "REASON_MAX_LENGTH",
    "SCOPE_FORBIDDEN_RISKS",
    "approval_answer",
    "approval_answer_with_file",
    "approval_approve",
    "approval_assert_can_answer",
    "approval_assert_can_decide",
    "approval_cancel",
    "approval_covered_by_session",
    "approval_create",
    "approval_edit",
    "approval_in_undo_window",
    "approval_mark_executed",
    "approval_payload_editable",
    "approval_reject",
    "approval_session_grant",
    "approval_undo",
    "approval_undo_window_closed",
    "approvals_expire_overdue",
    "approvals_release_after_undo",
]
