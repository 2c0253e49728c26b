"""The decisions the approval page offers (approve, edit and approve, reject, undo; the
queue's bulk decisions are in admin_bulk): each parses the form, calls one service and
reports its refusal as a message, never a 500."""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import reverse

from agentstudio.accounts.roles import can_decide_approvals
from agentstudio.errors import AppError, ErrorCode
from approvals.admin_review import DRAFT_SESSION_KEY, confirmed_edit
from approvals.models import Approval, ApprovalKind
from approvals.services import (
    approval_answer,
    approval_answer_with_file,
    approval_approve,
    approval_reject,
    approval_undo,
)


class ApprovalDecisionViews:
    """Mixed into ApprovalAdmin, which routes the views and scopes get_object to the
    viewer's organization (a row of another one is a 404)."""

    def has_decide_permission(self, request: HttpRequest) -> bool:
        """Whether to offer bulk approval at all; each approval is still the service's call."""
        return can_decide_approvals(request.user)

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST {body_hash, reason?, scope?, payload?, edited_hash?}: body_hash is the one
        rendered on the page; payload (JSON text) is an edit, approved only with the
        edited_hash its review step showed. A refused edit is kept as a draft for the page,
        so the approver can fix it instead of typing it again. A dry run that says the call
        cannot succeed refuses it here too, not only on the page. An approved call with an
        undo window stays on its page, where the countdown and Undo are."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        approval = self.get_object(request, unquote(object_id))
        edited_text = request.POST.get("payload")

        def call() -> Approval:
            payload = None
            if edited_text is not None:
                payload = confirmed_edit(approval, edited_text, request.POST.get("edited_hash", ""))
            return approval_approve(
                approval=approval,
                actor=request.user,
                body_hash=request.POST.get("body_hash", ""),
                reason=request.POST.get("reason", ""),
                payload=payload,
                scope=request.POST.get("scope") or None,
            )

        ok, decided = self.run_service(request, call)
        if not ok:
            if edited_text is not None:
                request.session[DRAFT_SESSION_KEY.format(approval.pk)] = edited_text
            return self._back_to(approval)
        self.message_user(request, self.approved_message(decided), messages.SUCCESS)
        if decided.undo_until is not None:
            return self._back_to(decided)
        return HttpResponseRedirect(reverse("admin:approvals_approval_changelist"))

    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST {reason}: the service refuses an empty reason."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        approval = self.get_object(request, unquote(object_id))
        ok, _ = self.run_service(
            request,
            lambda: approval_reject(
                approval=approval, actor=request.user, reason=request.POST.get("reason", "")
            ),
            success=f"Rejected “{approval.title}”.",
        )
        if not ok:
            return self._back_to(approval)
        return HttpResponseRedirect(reverse("admin:approvals_approval_changelist"))

    def answer_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST the answer to a question, in the form its schema asks for: text, a choice
        (by its position, so the value keeps its JSON type), a number, or a file (stored in
        the run's workspace). The service validates it against the schema."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        approval = self.get_object(request, unquote(object_id))
        widget, choices = question_widget(approval)
        if widget == "file":
            uploaded = request.FILES.get("answer")

            def call() -> Any:
                if uploaded is None:
                    raise AppError(
                        ErrorCode.VALIDATION_ERROR,
                        "Choose a file to answer with.",
                        details=[{"path": "/answer", "message": "required"}],
                    )
                return approval_answer_with_file(
                    approval=approval, actor=request.user, uploaded=uploaded
                )
        else:

            def call() -> Any:
                answer = question_answer_from_form(widget, choices, request.POST.get("answer"))
                return approval_answer(approval=approval, actor=request.user, answer=answer)

        ok, _ = self.run_service(request, call, success=f"Answered “{approval.title}”.")
        if not ok:
            return self._back_to(approval)
        return HttpResponseRedirect(reverse("admin:approvals_approval_changelist"))

    def undo_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: takes an approval back inside its undo window and opens the reopened one,
        which is where the approver decides again."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        approval = self.get_object(request, unquote(object_id))
        ok, reopened = self.run_service(
            request,
            lambda: approval_undo(approval=approval, actor=request.user),
            success=f"Undid “{approval.title}”; nothing was sent. It is pending again here.",
        )
        return self._back_to(reopened if ok else approval)

    def approved_message(self, approval: Approval) -> str:
        message = f"Approved “{approval.title}”."
        if approval.kind == ApprovalKind.PROMOTION and approval.playbook_id is not None:
            # Fetched again: the cached playbook predates the activation (and a protected
            # FSM field cannot be refreshed in place). The model through the FK: approvals
            # does not import playbooks.
            playbook_model = Approval._meta.get_field("playbook").related_model
            playbook = playbook_model.objects.get(pk=approval.playbook_id)
            message += f" {playbook.name} is {playbook.status} as version {playbook.version}."
        return message

    def _back_to(self, approval: Approval) -> HttpResponse:
        return HttpResponseRedirect(reverse("admin:approvals_approval_change", args=[approval.pk]))


def question_widget(approval: Approval) -> tuple[str, list[Any]]:
    """How the admin asks for a question's answer, from its schema: `file` (`format:
    binary`), `choice` (an `enum`, with its values), `number` (number or integer), or
    `text`."""
    schema = (approval.payload or {}).get("schema") or {}
    if schema.get("type") == "string" and schema.get("format") == "binary":
        return "file", []
    if isinstance(schema.get("enum"), list):
        return "choice", list(schema["enum"])
    if schema.get("type") in ("number", "integer"):
        return "number", []
    return "text", []


def question_answer_from_form(widget: str, choices: list[Any], raw: str | None) -> Any:
    """The answer as JSON: a choice's own value, a number as a number, text as typed."""
    raw = (raw or "").strip() if widget != "text" else (raw or "")
    try:
        if widget == "choice":
            index = int(raw)
            if not 0 <= index < len(choices):
                raise IndexError(index)
            return choices[index]
        if widget == "number":
            number = float(raw)
            if not math.isfinite(number):  # NaN and infinities are not JSON
                raise ValueError(raw)
            return int(number) if number.is_integer() and "." not in raw else number
    except (ValueError, IndexError):
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "Pick one of the choices." if widget == "choice" else "Enter a number.",
            details=[{"path": "/answer", "message": f"not a {widget}"}],
        ) from None
    return raw
