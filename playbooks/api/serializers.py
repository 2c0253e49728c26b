"""Serializers for playbooks, versions and blueprints."""

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agentstudio.api.fields import JSONObjectField, StrictBooleanField, StrictCharField
from approvals.models import ApprovalKind, ApprovalStatus
from playbooks.models import Blueprint, Playbook, PlaybookVersion

SPEC_YAML_MAX_CHARS = 1024 * 1024


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string"},
            "body_hash": {"type": "string"},
            "expires_at": {"type": "string", "format": "date-time"},
        },
    }
)
class PendingPromotionField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, playbook: Playbook) -> dict[str, Any] | None:
        approval = next(
            (
                a
                for a in playbook.approvals.all()
                if a.kind == ApprovalKind.PROMOTION and a.status == ApprovalStatus.PENDING
            ),
            None,
        )
        if approval is None:
            return None
        return {
            "id": str(approval.pk),
            "status": approval.status,
            "body_hash": approval.body_hash,
            "expires_at": approval.expires_at.isoformat().replace("+00:00", "Z"),
        }


class PlaybookSerializer(serializers.ModelSerializer):
    allowed_users = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")
    created_by = serializers.SlugRelatedField(
        read_only=True, allow_null=True, slug_field="username"
    )
    pending_promotion = PendingPromotionField()
    blueprint = serializers.SlugRelatedField(read_only=True, allow_null=True, slug_field="slug")

    class Meta:
        model = Playbook
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "status",
            "spec",
            "version",
            "allowed_users",
            "created_by",
            "created_at",
            "updated_at",
            "pending_promotion",
            "blueprint",
        ]
        read_only_fields = fields


class PlaybookWriteSerializer(serializers.Serializer):
    """Input of create and PATCH: a spec as an object or as YAML text, plus metadata."""

    name = StrictCharField(max_length=200, required=False, allow_blank=False)
    slug = StrictCharField(max_length=100, required=False)
    description = StrictCharField(max_length=10_000, required=False, allow_blank=True)
    spec = JSONObjectField(required=False)
    spec_yaml = StrictCharField(
        max_length=SPEC_YAML_MAX_CHARS, required=False, trim_whitespace=False
    )
    allowed_users = serializers.ListField(
        child=StrictCharField(max_length=150), required=False, max_length=1000
    )

    def __init__(self, *args: Any, spec_required: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spec_required = spec_required

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "spec" in attrs and "spec_yaml" in attrs:
            raise serializers.ValidationError(
                {"spec_yaml": ["Send either spec or spec_yaml, not both."]}
            )
        if self.spec_required and "spec" not in attrs and "spec_yaml" not in attrs:
            raise serializers.ValidationError({"spec": ["A spec (or spec_yaml) is required."]})
        return attrs

    def validate_allowed_users(self, usernames: list[str]) -> list[Any]:
        organization = self.context["organization"]
        users = {
            user.username: user
            for user in get_user_model().objects.filter(
                username__in=usernames, membership__organization=organization
            )
        }
        unknown = [name for name in usernames if name not in users]
        if unknown:
            raise serializers.ValidationError(
                f"Not members of your organization: {', '.join(sorted(set(unknown)))}."
            )
        return [users[name] for name in dict.fromkeys(usernames)]


class ImportSerializer(serializers.Serializer):
    spec_yaml = StrictCharField(max_length=SPEC_YAML_MAX_CHARS, trim_whitespace=False)
    name = StrictCharField(max_length=200, required=False)
    slug = StrictCharField(max_length=100, required=False)


class ValidateSerializer(serializers.Serializer):
    spec = JSONObjectField(required=False)
    spec_yaml = StrictCharField(
        max_length=SPEC_YAML_MAX_CHARS, required=False, trim_whitespace=False
    )
    dry_run = StrictBooleanField(required=False, default=False)


class PlaybookVersionSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="number")
    activated_by = serializers.SerializerMethodField()

    class Meta:
        model = PlaybookVersion
        fields = ["version", "spec", "created_at", "activated_by"]
        read_only_fields = fields

    def get_activated_by(self, version: PlaybookVersion) -> str:
        return version.activated_by.username if version.activated_by else "system"


class BlueprintSerializer(serializers.ModelSerializer):
    class Meta:
        model = Blueprint
        fields = [
            "slug",
            "name",
            "description",
            "category",
            "problem",
            "what_it_does",
            "expected_impact",
            "systems",
            "spec",
            "updated_at",
        ]
        read_only_fields = fields


class ForkSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False)
