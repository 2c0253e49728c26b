"""Views for /playbooks/ and /blueprints/: parse input, call one service, render."""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response

from agentstudio.accounts.roles import (
    can_author,
    user_organization,
)
from agentstudio.api.request_checks import CheckedJSONParser
from agentstudio.errors import AppError, ErrorCode
from approvals.api.serializers import ApprovalSerializer
from playbooks import selectors, services
from playbooks.api.parsers import TextYAMLTextParser, XYAMLTextParser, YAMLTextParser
from playbooks.api.serializers import (
    BlueprintSerializer,
    ForkSerializer,
    ImportSerializer,
    PlaybookSerializer,
    PlaybookVersionSerializer,
    PlaybookWriteSerializer,
    ValidateSerializer,
)
from playbooks.models import Blueprint, Playbook
from playbooks.spec.checked import spec_check, spec_check_stored, spec_dry_run_plan
from playbooks.spec.yaml_loader import spec_to_yaml


def _denied(message: str) -> AppError:
    return AppError(ErrorCode.PERMISSION_DENIED, message)


def _checked_from(data: dict[str, Any], *, organization_id: Any) -> Any:
    if "spec_yaml" in data:
        return spec_check(spec_yaml=data["spec_yaml"], organization_id=organization_id)
    if "spec" in data:
        return spec_check(spec=data["spec"], organization_id=organization_id)
    return None


class PlaybookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = PlaybookSerializer
    filterset_fields = ["status"]
    search_fields = ["name", "slug", "description"]
    ordering_fields = ["name", "slug", "status", "created_at", "updated_at"]
    parser_classes = [CheckedJSONParser]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.playbook_list_visible(user=self.request.user)

    def _editable(self) -> Playbook:
        """Validation writes nothing, but only those who may edit may validate."""
        playbook = self.get_object()
        services.playbook_assert_can_edit(self.request.user, playbook)
        return playbook

    def _render(self, playbook: Playbook, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=playbook.pk)
        return Response(PlaybookSerializer(fresh).data, status=code)

    def _write_serializer(self, *, spec_required: bool) -> PlaybookWriteSerializer:
        serializer = PlaybookWriteSerializer(
            data=self.request.data,
            spec_required=spec_required,
            context={"organization": user_organization(self.request.user)},
        )
        serializer.is_valid(raise_exception=True)
        return serializer

    @extend_schema(request=PlaybookWriteSerializer, responses={201: PlaybookSerializer})
    def create(self, request: Request) -> Response:
        data = self._write_serializer(spec_required=True).validated_data
        organization = user_organization(request.user)
        playbook = services.playbook_create(
            organization=organization,
            actor=request.user,
            checked=_checked_from(data, organization_id=organization.pk),
            name=data.get("name"),
            slug=data.get("slug"),
            description=data.get("description"),
            allowed_users=data.get("allowed_users"),
        )
        return self._render(playbook, status.HTTP_201_CREATED)

    @extend_schema(request=PlaybookWriteSerializer, responses=PlaybookSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        playbook = self.get_object()
        data = self._write_serializer(spec_required=False).validated_data
        playbook = services.playbook_update(
            playbook=playbook,
            actor=request.user,
            checked=_checked_from(data, organization_id=playbook.organization_id),
            name=data.get("name"),
            slug=data.get("slug"),
            description=data.get("description"),
            allowed_users=data.get("allowed_users"),
        )
        return self._render(playbook)

    def destroy(self, request: Request, pk: str) -> Response:
        services.playbook_delete(playbook=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ImportSerializer, responses={201: PlaybookSerializer})
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[CheckedJSONParser, YAMLTextParser, XYAMLTextParser, TextYAMLTextParser],
    )
    def import_yaml(self, request: Request) -> Response:
        if not can_author(request.user):  # before reading up to 1 MiB of YAML
            raise _denied("Only admins and authors import playbooks.")
        serializer = ImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        organization = user_organization(request.user)
        playbook = services.playbook_create(
            organization=organization,
            actor=request.user,
            checked=spec_check(spec_yaml=data["spec_yaml"], organization_id=organization.pk),
            name=data.get("name"),
            slug=data.get("slug"),
            source="import",
        )
        return self._render(playbook, status.HTTP_201_CREATED)

    # the YAML document is the spec: an object once parsed
    @extend_schema(responses={(200, "application/yaml"): OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def export(self, request: Request, pk: str) -> HttpResponse:
        playbook = self.get_object()
        response = HttpResponse(spec_to_yaml(playbook.spec), content_type="application/yaml")
        response["Content-Disposition"] = f'attachment; filename="{playbook.slug}.yaml"'
        return response

    @extend_schema(request=ValidateSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    def validate(self, request: Request, pk: str) -> Response:
        """Checks the stored spec, or a spec sent in the body, without saving anything."""
        playbook = self._editable()
        serializer = ValidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        checked = _checked_from(data, organization_id=playbook.organization_id) or (
            spec_check_stored(
                spec=playbook.spec,
                source_yaml=playbook.spec_source_yaml,
                organization_id=playbook.organization_id,
            )
        )
        body: dict[str, Any] = {
            "valid": checked.valid,
            "errors": [problem.as_dict() for problem in checked.report.errors],
            "warnings": [problem.as_dict() for problem in checked.report.warnings],
            "policy": checked.policy.as_dict() if checked.policy else None,
        }
        if data["dry_run"]:
            body["dry_run"] = spec_dry_run_plan(checked.spec) if checked.valid else None
        return Response(body)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"], url_path="promotion-requirements")
    def promotion_requirements(self, request: Request, pk: str) -> Response:
        playbook = self.get_object()
        checked = spec_check_stored(
            spec=playbook.spec,
            source_yaml=playbook.spec_source_yaml,
            organization_id=playbook.organization_id,
        )
        if checked.policy is None:
            errors = [problem.as_dict() for problem in checked.report.errors]
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                "The spec is invalid; fix it before promotion.",
                details=errors,
            )
        return Response(checked.policy.as_dict())

    @extend_schema(
        request=None,
        responses={
            200: PlaybookSerializer,
            202: inline_serializer("PromotionPending", {"approval": ApprovalSerializer()}),
        },
    )
    @action(detail=True, methods=["post"])
    def promote(self, request: Request, pk: str) -> Response:
        playbook, approval = services.playbook_promote(
            playbook=self.get_object(), actor=request.user
        )
        if approval is not None:
            return Response(
                {"approval": ApprovalSerializer(approval).data}, status=status.HTTP_202_ACCEPTED
            )
        return self._render(playbook)

    @extend_schema(request=None, responses=PlaybookSerializer)
    @action(detail=True, methods=["post"])
    def demote(self, request: Request, pk: str) -> Response:
        return self._render(
            services.playbook_demote(playbook=self.get_object(), actor=request.user)
        )

    @extend_schema(request=None, responses=PlaybookSerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str) -> Response:
        return self._render(
            services.playbook_archive(playbook=self.get_object(), actor=request.user)
        )

    @extend_schema(request=None, responses=PlaybookSerializer)
    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str) -> Response:
        return self._render(
            services.playbook_restore(playbook=self.get_object(), actor=request.user)
        )

    @extend_schema(responses=PlaybookVersionSerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str) -> Response:
        page = self.paginate_queryset(selectors.playbook_versions(playbook=self.get_object()))
        return self.get_paginated_response(PlaybookVersionSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("against", int, description="Older version (default n-1)")],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<number>[0-9]+)/diff")
    def version_diff(self, request: Request, pk: str, number: str) -> Response:
        versions = selectors.playbook_versions(playbook=self.get_object())
        newer = get_object_or_404(versions, number=int(number))
        against = request.query_params.get("against", str(newer.number - 1))
        if not (against.isascii() and against.isdigit()):  # not "²", which int() refuses
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                "`against` must be a version number.",
                details=[{"path": "/against", "message": "not a version number"}],
            )
        older = get_object_or_404(versions, number=int(against))
        return Response(
            {
                "version": newer.number,
                "against": older.number,
                "diff": selectors.playbook_version_diff(older=older, newer=newer),
            }
        )

    @extend_schema(request=None, responses=PlaybookSerializer)
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<number>[0-9]+)/restore")
    def version_restore(self, request: Request, pk: str, number: str) -> Response:
        playbook = self.get_object()
        version = get_object_or_404(
            selectors.playbook_versions(playbook=playbook), number=int(number)
        )
        return self._render(
            services.playbook_version_restore(
                playbook=playbook, version=version, actor=request.user
            )
        )


class BlueprintViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The catalogue: every member may browse it; authors and admins fork from it."""

    serializer_class = BlueprintSerializer
    lookup_field = "slug"
    search_fields = ["name", "slug", "category", "problem", "what_it_does"]
    ordering_fields = ["name", "slug", "category"]
    filterset_fields = ["category"]

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.blueprint_list()

    @extend_schema(request=ForkSerializer, responses={201: PlaybookSerializer})
    @action(detail=True, methods=["post"])
    def fork(self, request: Request, slug: str) -> Response:
        blueprint: Blueprint = self.get_object()
        serializer = ForkSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        playbook = services.playbook_fork(
            blueprint=blueprint,
            organization=user_organization(request.user),
            actor=request.user,
            name=serializer.validated_data.get("name"),
        )
        fresh = selectors.playbook_list_visible(user=request.user).get(pk=playbook.pk)
        return Response(PlaybookSerializer(fresh).data, status=status.HTTP_201_CREATED)
