"""Views for starting runs (`POST /playbooks/{id}/runs/`) and for /runs/: list, detail,
cancel, retry, events, artifacts. The live event stream is in `stream.py`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import django_filters
from django.http import FileResponse, HttpResponse, HttpResponseNotModified
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import filters, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from agentstudio.accounts.roles import can_see_runs
from agentstudio.api.request_checks import CheckedJSONParser, CheckedMultiPartParser
from agentstudio.errors import AppError, ErrorCode
from agentstudio.ratelimits import RunStartThrottle
from playbooks import selectors
from playbooks.api.runs_serializers import (
    MULTIPART_JSON_PARTS,
    ArtifactSerializer,
    RunCreatedSerializer,
    RunEventSerializer,
    RunSerializer,
    RunStartMultipartSerializer,
    RunStartSerializer,
    multipart_fields_as_json,
)
from playbooks.callbacks import run_callback_secret
from playbooks.engine.workspace import run_workspace
from playbooks.idempotency import (
    IDEMPOTENCY_HEADER,
    IdempotencyClaim,
    idempotency_key_checked,
    idempotency_request_hash,
)
from playbooks.models import Playbook, Run, RunStatus
from playbooks.runs import selectors as run_selectors
from playbooks.runs.files import InputFile, binary_input_fields, input_file_from_upload
from playbooks.runs.services import run_assert_can_start, run_cancel, run_retry
from playbooks.runs.starting import RunStartAnswer, run_start_once
from tools.paths import file_inside


def _not_found() -> AppError:
    return AppError(ErrorCode.NOT_FOUND, "Not found.")


def _denied(message: str) -> AppError:
    return AppError(ErrorCode.PERMISSION_DENIED, message)


def _validation_error(path: str, message: str) -> AppError:
    details = [{"path": path, "message": message}]
    return AppError(ErrorCode.VALIDATION_ERROR, message, details=details)


def _render_run(run: Run, *, user: Any) -> dict:
    """The run as its viewer sees it, reloaded with its pending approvals."""
    fresh = run_selectors.run_get_visible(user=user, run_id=run.pk) or run
    return RunSerializer(fresh).data


# --- Starting a run ---------------------------------------------------------------------------


def _active_spec(playbook: Playbook) -> dict[str, Any]:
    version = playbook.versions.filter(number=playbook.version).first()
    return version.spec if version is not None else {}


def _input_files(*, request: Request, binary: list[str], inputs: dict) -> list[InputFile]:
    """One file part per binary input; values for them in `inputs` are refused."""
    for field in binary:
        if field in inputs:
            raise _validation_error(
                f"/inputs/{field}",
                f"{field!r} is a file: send it as a multipart/form-data part named {field!r}.",
            )
    files: list[InputFile] = []
    for name in sorted(set(request.FILES.keys()) - set(MULTIPART_JSON_PARTS)):
        parts = request.FILES.getlist(name)
        if name not in binary:
            raise _validation_error(f"/{name}", f"{name!r} is not a file input of this playbook.")
        if len(parts) != 1:
            raise _validation_error(f"/{name}", f"Send exactly one file for {name!r}.")
        files.append(input_file_from_upload(name, parts[0]))
    return files


def _start_request(request: Request, playbook: Playbook) -> tuple[dict[str, Any], list[InputFile]]:
    """The parsed body (inputs, budget, callback_url) and the uploaded input files."""
    is_multipart = (request.content_type or "").startswith("multipart/")
    body = multipart_fields_as_json(request.data, request.FILES) if is_multipart else request.data
    serializer = RunStartSerializer(data=body)
    serializer.is_valid(raise_exception=True)
    data = dict(serializer.validated_data)
    binary = binary_input_fields(_active_spec(playbook))
    files = _input_files(request=request, binary=binary, inputs=data["inputs"])
    return data, files


def _claim(
    request: Request, playbook: Playbook, data: dict, files: list[InputFile]
) -> IdempotencyClaim | None:
    key = idempotency_key_checked(request.headers.get(IDEMPOTENCY_HEADER))
    if key is None:
        return None
    hashed = {
        **data,
        "files": {item.field: {"name": item.filename, "sha256": item.sha256} for item in files},
    }
    return IdempotencyClaim(
        organization_id=playbook.organization_id,
        user_id=request.user.pk,
        scope=f"POST /playbooks/{playbook.pk}/runs/",
        key=key,
        request_hash=idempotency_request_hash(hashed),
    )


def _created_response(answer: RunStartAnswer, *, has_callback: bool) -> Response:
    """The run, with its callback secret (derived, never stored) when it has a callback; a
    replayed answer has the same body hash, so the same callback_url."""
    body = answer.body
    if has_callback:
        body = {**body, "callback_secret": run_callback_secret(body["id"])}
    response = Response(body, status=answer.status)
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


class PlaybookRunStartView(APIView):
    """Starts a run of an active playbook: admins and approvers, authors of the playbook,
    runners it lists. Honours `Idempotency-Key` for 24 hours. Rate-limited per user and
    organization (RunStartThrottle, counted before the playbook is looked up)."""

    parser_classes = [CheckedJSONParser, CheckedMultiPartParser]
    throttle_classes = [RunStartThrottle]

    def _playbook(self, pk: Any) -> Playbook:
        playbook = selectors.playbook_list_visible(user=self.request.user).filter(pk=pk).first()
        if playbook is None:
            raise _not_found()
        run_assert_can_start(actor=self.request.user, playbook=playbook)  # before any upload
        return playbook

    @extend_schema(
        operation_id="playbooks_runs_create",
        request={
            "application/json": RunStartSerializer,
            "multipart/form-data": RunStartMultipartSerializer,
        },
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
                OpenApiParameter.HEADER,
                description="Retries with the same key and body return the first response.",
            )
        ],
        responses={201: RunCreatedSerializer},
    )
    def post(self, request: Request, pk: Any) -> Response:
        playbook = self._playbook(pk)
        data, files = _start_request(request, playbook)
        answer = run_start_once(
            claim=_claim(request, playbook, data, files),
            status=status.HTTP_201_CREATED,
            render=lambda run: _render_run(run, user=request.user),
            playbook=playbook,
            actor=request.user,
            inputs=data["inputs"],
            files=files,
            budget=data.get("budget"),
            callback_url=data.get("callback_url") or "",
        )
        return _created_response(answer, has_callback=bool(data.get("callback_url")))


# --- /runs/ -----------------------------------------------------------------------------------


class RunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    playbook = django_filters.UUIDFilter(field_name="playbook_id")

    class Meta:
        model = Run
        fields = ["status", "playbook"]


SEQ_SCHEMA = {"type": "integer", "minimum": 0}


def _after_param(request: Request) -> int:
    raw = request.query_params.get("after", "0") or "0"
    if not (raw.isascii() and raw.isdigit()):  # not "²", which int() refuses
        raise _validation_error("/after", "after must be a non-negative event seq.")
    return int(raw)


EVENT_LIST_OPTIONS: dict[str, Any] = {
    "filter_backends": [filters.SearchFilter, filters.OrderingFilter],
    "search_fields": ["type"],
    "ordering_fields": ["seq", "created_at"],
    "ordering": ["seq"],
}
ARTIFACT_LIST_OPTIONS: dict[str, Any] = {
    "filter_backends": [filters.SearchFilter, filters.OrderingFilter],
    "search_fields": ["path", "content_type", "step_id"],
    "ordering_fields": ["path", "size", "created_at"],
    "ordering": ["path"],
}


class RunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs the caller may see (see `run_list_visible`); cancel and retry for those who may
    start runs of the playbook. Viewers see no runs: 403 on the list, 404 on a run."""

    serializer_class = RunSerializer
    filterset_class = RunFilter
    search_fields = ["playbook__name", "playbook__slug", "current_step", "error"]
    ordering_fields = ["created_at", "started_at", "finished_at", "status", "usage_usd"]
    ordering = ["-created_at"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return run_selectors.run_list_visible(user=self.request.user)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not can_see_runs(request.user):
            raise _denied("Viewers do not see runs.")
        return super().list(request, *args, **kwargs)

    def _visible_run(self) -> Run:
        """The run of the URL, unfiltered: the list's filters and the event and artifact
        lists' orderings apply to other querysets."""
        run = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        self.check_object_permissions(self.request, run)
        return run

    def _actionable(self) -> Run:
        return self.get_object()  # the services check who may cancel and retry

    @extend_schema(request=None, responses=RunSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancels from any non-final state (409 when finished); pending approvals cancel."""
        run = run_cancel(run=self._actionable(), actor=request.user)
        return Response(_render_run(run, user=request.user))

    @extend_schema(request=None, responses=RunSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        """A failed run continues from its failed step as a new attempt (409 otherwise)."""
        run = run_retry(run=self._actionable(), actor=request.user)
        return Response(_render_run(run, user=request.user))

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "after", SEQ_SCHEMA, description="Only events with a larger seq (default 0)"
            )
        ],
        responses=RunEventSerializer(many=True),
    )
    @action(detail=True, methods=["get"], **EVENT_LIST_OPTIONS)
    def events(self, request: Request, pk: str) -> Response:
        run = self._visible_run()
        events = run_selectors.run_events_after(run_id=run.pk, after=_after_param(request))
        page = self.paginate_queryset(self.filter_queryset(events))
        return self.get_paginated_response(RunEventSerializer(page, many=True).data)

    @extend_schema(responses=ArtifactSerializer(many=True))
    @action(detail=True, methods=["get"], **ARTIFACT_LIST_OPTIONS)
    def artifacts(self, request: Request, pk: str) -> Response:
        run = self._visible_run()
        page = self.paginate_queryset(self.filter_queryset(run_selectors.run_artifacts(run=run)))
        serializer = ArtifactSerializer(page, many=True, context={"request": request})
        return self.get_paginated_response(serializer.data)


# --- Artifact download --------------------------------------------------------------------


class AnyAcceptNegotiation(BaseContentNegotiation):
    """A download answers whatever the client accepts; errors then render as JSON."""

    def select_parser(self, request: Any, parsers: list) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: list, format_suffix: Any = None) -> Any:
        return renderers[0], renderers[0].media_type


def _artifact_path_checked(raw: str) -> str:
    """A relative path inside the workspace: no `..`, `.`, empty segments, NUL or backslash."""
    path = raw.rstrip("/")
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise _validation_error("/path", "The artifact path must stay inside the run workspace.")
    return path


def _etag_matches(header: str, sha256: str) -> bool:
    for candidate in header.split(","):
        tag = candidate.strip().removeprefix("W/").strip('"')
        if tag in ("*", sha256):
            return True
    return False


class RunArtifactDownloadView(APIView):
    """One artifact's file, with its SHA-256 as the ETag (304 on a matching If-None-Match).
    Visible to whoever sees the run; 404 for other organizations and unknown paths."""

    content_negotiation_class = AnyAcceptNegotiation

    @extend_schema(
        operation_id="runs_artifacts_download",
        parameters=[
            OpenApiParameter("path", str, OpenApiParameter.PATH, description="Artifact path"),
        ],
        responses={
            # the artifact's own content type (text/csv, image/png, ...): any
            (200, "*/*"): OpenApiTypes.BINARY,
            304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)"),
        },
    )
    def get(self, request: Request, pk: Any, path: str) -> HttpResponse:
        relative = _artifact_path_checked(path)
        run = run_selectors.run_get_visible(user=request.user, run_id=pk)
        artifact = run_selectors.run_artifact_get(run=run, path=relative) if run else None
        if artifact is None:
            raise _not_found()
        file_path = self._file(run, relative)  # type: ignore[arg-type]
        etag = f'"{artifact.sha256}"'
        if _etag_matches(request.headers.get("If-None-Match", ""), artifact.sha256):
            response: HttpResponse = HttpResponseNotModified()
        else:
            response = FileResponse(
                file_path.open("rb"),
                as_attachment=True,
                filename=Path(relative).name,
                content_type=artifact.content_type or "application/octet-stream",
            )
            response["X-Content-Type-Options"] = "nosniff"
        response["ETag"] = etag
        response["Cache-Control"] = "private, no-cache"
        return response

    def _file(self, run: Run, relative: str) -> Path:
        resolved = file_inside(run_workspace(run.pk), relative)
        if resolved is None:
            raise _not_found()
        return resolved
