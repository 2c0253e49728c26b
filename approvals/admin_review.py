"""Seeing before committing: an edited payload is reviewed (its diff against the requested
payload and its new hash) on a confirmation step before it can be approved, and a dry run
that says the call cannot succeed keeps Approve shut, on the page and on the server."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.response import TemplateResponse

from agentstudio.accounts.admin import pretty_json
from agentstudio.api.request_checks import json_loads_checked
from agentstudio.errors import AppError, ErrorCode
from approvals.admin_display import diff_block, payload_diff_lines
from approvals.admin_schema_form import schema_form_payload_text
from approvals.hashing import approval_body_hash
from approvals.models import Approval
from approvals.services.checks import dry_run_blocker
from approvals.services.edit import approval_edited_payload_checked

DRAFT_SESSION_KEY = "approval-draft-{}"


def _not_json(constant: str) -> Any:
    """NaN and Infinity are accepted by Python's parser but are not JSON (nor storable)."""
    raise json.JSONDecodeError(f"{constant} is not JSON", constant, 0)


def edited_payload(text: str) -> Any:
    """The edited payload from the page's textarea; text that is not JSON, or that the
    database could not store (the API parser's refusals), is refused like any other invalid
    edit, before the service is called."""
    try:
        return json_loads_checked(
            text, prefix="/payload", where="edited payload", parse_constant=_not_json
        )
    except json.JSONDecodeError as error:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"The edited payload is not valid JSON: {error.msg} at line {error.lineno}, "
            f"column {error.colno}.",
            details=[{"path": "/payload", "message": "not JSON"}],
        ) from error


def with_fields(error: AppError) -> AppError:
    """The error with the fields its details name in its message, so the page says which
    field is wrong (the admin shows a message, not the details)."""
    named = "; ".join(
        f"{detail.get('path', '')}: {detail.get('message', '')}"
        for detail in (error.details or [])
        if isinstance(detail, dict)
    )
    if not named or named in error.message:
        return error
    return AppError(error.code, f"{error.message} {named}", details=error.details)


def edit_checked(approval: Approval, text: str) -> tuple[Any, str]:
    """The edited payload as the service will store it, and its hash."""
    try:
        checked = approval_edited_payload_checked(approval, edited_payload(text))
    except AppError as error:
        raise with_fields(error) from None
    return checked, approval_body_hash(checked)


def confirmed_edit(approval: Approval, text: str, confirmed_hash: str) -> Any:
    """The edit to approve: only the one whose hash the approver saw on the review step."""
    checked, new_hash = edit_checked(approval, text)
    if not confirmed_hash:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            "Review the edit first: an edited payload is approved from its review step.",
            details=[{"path": "/edited_hash", "message": "required"}],
        )
    if confirmed_hash != new_hash:
        raise AppError(
            ErrorCode.HASH_MISMATCH,
            "The edited payload is not the one you reviewed; review it again.",
            details=[{"path": "/edited_hash", "message": f"the edit's hash is {new_hash}"}],
        )
    return checked


class ApprovalReviewViews:
    """Mixed into ApprovalAdmin beside ApprovalDecisionViews."""

    review_template = "admin/approvals/approval/review_edit.html"

    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST {body_hash, payload, reason?, scope?}, or the schema form's fields (editor=
        schema) in place of payload: the confirmation step of an edit.
        Nothing is approved here; an invalid edit comes back to the page as a draft with
        the field that is wrong."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        approval = self.get_object(request, unquote(object_id))
        from_form = request.POST.get("editor") == "schema"
        text = request.POST.get("payload", "")

        def check() -> tuple[Any, str]:
            posted = schema_form_payload_text(approval, request.POST) if from_form else text
            return edit_checked(approval, posted)

        ok, checked = self.run_service(request, check)
        if not ok:
            if not from_form:
                request.session[DRAFT_SESSION_KEY.format(approval.pk)] = text
            return self._back_to(approval)
        payload, new_hash = checked
        if request.POST.get("body_hash", "") != approval.body_hash:
            self.message_user(
                request,
                "The payload changed since you looked at it; review the current payload.",
                messages.ERROR,
            )
            return self._back_to(approval)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": approval,
            "title": f"Review the edit of “{approval.title}”",
            "diff": diff_block(
                payload_diff_lines(approval.payload, payload, labels=("requested", "edited"))
            ),
            "payload_text": pretty_json(payload),
            "body_hash": approval.body_hash,
            "edited_hash": new_hash,
            "reason": request.POST.get("reason", ""),
            "scope": request.POST.get("scope", ""),
            "blocked": dry_run_blocker(approval.dry_run),
        }
        return TemplateResponse(request, self.review_template, context)
