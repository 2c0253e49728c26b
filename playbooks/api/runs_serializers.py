"""Serializers for runs, their events and artifacts, and the parsed start-run request."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agentstudio.api.fields import JSONObjectField
from agentstudio.api.request_checks import json_loads_checked
from agentstudio.errors import AppError, ErrorCode
from approvals.models import ApprovalStatus
from playbooks.models import Artifact, Run, RunEvent


class RunUsageSerializer(serializers.Serializer):
    usd = serializers.DecimalField(source="usage_usd", max_digits=14, decimal_places=6)
    input_tokens = serializers.IntegerField(source="usage_input_tokens")
    output_tokens = serializers.IntegerField(source="usage_output_tokens")
    tool_calls = serializers.IntegerField(source="usage_tool_calls")
    wall_seconds = serializers.SerializerMethodField()

    def get_wall_seconds(self, run: Run) -> float:
        """The run's active time so far: the time its steps ran (budgets'
        `max_wall_seconds` counts it), not the time it waited for a person or a worker."""
        return round(run.usage_wall_seconds, 3)


class PendingApprovalSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.CharField()
    title = serializers.CharField()


class RunSerializer(serializers.ModelSerializer):
    """The run detail of API.md; list rows have the same shape."""

    playbook = serializers.PrimaryKeyRelatedField(read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    usage = RunUsageSerializer(source="*", read_only=True)
    pending_approvals = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(
        read_only=True, allow_null=True, slug_field="username"
    )
    inputs = serializers.JSONField(read_only=True)
    outputs = serializers.JSONField(read_only=True)
    budget = serializers.JSONField(read_only=True)

    class Meta:
        model = Run
        fields = [
            "id",
            "playbook",
            "version",
            "status",
            "inputs",
            "outputs",
            "current_step",
            "usage",
            "budget",
            "error",
            "paused_reason",
            "pending_approvals",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @extend_schema_field(PendingApprovalSerializer(many=True))
    def get_pending_approvals(self, run: Run) -> list[dict[str, Any]]:
        approvals = getattr(run, "pending_approvals", None)
        if approvals is None:  # not loaded through run_list_visible
            approvals = run.approvals.filter(status=ApprovalStatus.PENDING).order_by("created_at")
        return PendingApprovalSerializer(approvals, many=True).data


class RunCreatedSerializer(RunSerializer):
    """The create response: the run, plus the callback secret when a callback_url was given."""

    # A plain string here: the enum is documented once, on Run (one enum, one component name).
    status = serializers.CharField(read_only=True, help_text="`queued` for a new run.")
    callback_secret = serializers.CharField(
        read_only=True,
        required=False,
        help_text="HMAC key of the callback's `X-Signature: sha256=<hex>`; shown only here.",
    )

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "callback_secret"]
        read_only_fields = fields


class RunEventSerializer(serializers.ModelSerializer):
    data = serializers.JSONField(read_only=True)

    class Meta:
        model = RunEvent
        fields = ["seq", "type", "data", "created_at"]
        read_only_fields = fields


class ArtifactSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    step = serializers.CharField(source="step_id", read_only=True)

    class Meta:
        model = Artifact
        fields = ["path", "content_type", "size", "sha256", "url", "step", "created_at"]
        read_only_fields = fields

    def get_url(self, artifact: Artifact) -> str:
        """Where to download it (absolute when the request is known)."""
        location = f"/api/v1/runs/{artifact.run_id}/artifacts/{quote(artifact.path)}"
        request = self.context.get("request")
        return request.build_absolute_uri(location) if request is not None else location


class RunStartSerializer(serializers.Serializer):
    """`POST /playbooks/{id}/runs/` as JSON. With file inputs the same fields come as
    multipart/form-data parts (`inputs` and `budget` as JSON text) plus one part per file."""

    inputs = JSONObjectField(required=False, default=dict)
    budget = JSONObjectField(required=False, allow_null=True, default=None)
    callback_url = serializers.URLField(
        required=False, allow_blank=True, default="", max_length=2000
    )

    def validate_inputs(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise serializers.ValidationError("inputs must be a JSON object.")
        return value

    def validate_budget(self, value: Any) -> dict[str, Any] | None:
        if value is not None and not isinstance(value, dict):
            raise serializers.ValidationError("budget must be a JSON object.")
        return value

    def validate_callback_url(self, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("callback_url must be an http(s) URL.")
        return value


class RunStartMultipartSerializer(serializers.Serializer):
    """Schema of the multipart form: add one file part per `format: binary` input."""

    inputs = serializers.CharField(required=False, help_text="The inputs as JSON text.")
    budget = serializers.CharField(required=False, help_text="The budget as JSON text.")
    callback_url = serializers.URLField(required=False)


MULTIPART_JSON_PARTS = ("inputs", "budget")


def _multipart_text(form: Any, files: Any, name: str) -> str | None:
    """A part's text, sent as a form field or as a file (`curl -F inputs=@inputs.json`)."""
    if name not in files:
        return form.get(name)
    limit = settings.AGENTSTUDIO_MAX_JSON_BODY_BYTES
    raw = files[name].read(limit + 1)
    if len(raw) > limit:
        raise AppError(ErrorCode.PAYLOAD_TOO_LARGE, f"The {name} part is over {limit} bytes.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AppError(
            ErrorCode.VALIDATION_ERROR,
            f"The {name} part must be UTF-8 JSON.",
            details=[{"path": f"/{name}", "message": "not UTF-8"}],
        ) from exc


def multipart_fields_as_json(form: Any, files: Any) -> dict[str, Any]:
    """The JSON parts of a multipart start request, decoded (400 when not JSON)."""
    body: dict[str, Any] = {}
    for name in MULTIPART_JSON_PARTS:
        text = _multipart_text(form, files, name)
        if text in (None, ""):
            continue
        try:  # the same refusals as a JSON body (NUL, surrogates, depth), under /<name>
            body[name] = json_loads_checked(text, prefix=f"/{name}", where=f"{name} part")
        except ValueError as exc:
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                f"The {name} part must be JSON: {exc}",
                details=[{"path": f"/{name}", "message": "not valid JSON"}],
            ) from exc
    if form.get("callback_url"):
        body["callback_url"] = form.get("callback_url")
    return body
