"""Serializers for accounts endpoints."""

from rest_framework import serializers

from agentstudio.accounts.models import ApiKey, Membership, Role
from agentstudio.api.fields import StrictCharField, StrictRegexField


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    organization = serializers.SerializerMethodField()
    role = serializers.SerializerMethodField()

    def get_organization(self, user) -> dict:  # type: ignore[no-untyped-def]
        organization = user.membership.organization
        return {"id": str(organization.pk), "name": organization.name}

    def get_role(self, user) -> str:  # type: ignore[no-untyped-def]
        return user.membership.role


class ApiKeySerializer(serializers.ModelSerializer):
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "revoked"]
        read_only_fields = fields

    def get_revoked(self, key: ApiKey) -> bool:
        return key.revoked_at is not None


class ApiKeyCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False, allow_blank=True, default="")


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    # a user created without an email has "" (not an address): a plain string here
    email = serializers.CharField(
        source="user.email", read_only=True, help_text="An email address, or empty."
    )

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]
        read_only_fields = fields


class MemberCreateSerializer(serializers.Serializer):
    username = StrictRegexField(r"^[\w.@+-]{1,150}$", max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)
    email = serializers.EmailField(required=False, allow_blank=True, default="")
    password = StrictCharField(
        required=False,
        min_length=10,
        max_length=128,
        trim_whitespace=False,  # a password is taken as typed
        write_only=True,
        allow_null=True,
        default=None,
    )


class MemberUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
