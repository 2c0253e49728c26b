"""Serializers for approvals."""

from rest_framework import serializers

from agentstudio.api.fields import AnyJSONField, StrictCharField, StrictRegexField
from approvals.models import Approval, ApprovalScope, ApprovalVote
from approvals.rules import approval_required_approvals


class ApprovalVoteSerializer(serializers.ModelSerializer):
    """One approver's approval of one hash while several are required."""

    user = serializers.SlugRelatedField(read_only=True, slug_field="username")
    at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = ApprovalVote
        fields = ["user", "body_hash", "at"]
        read_only_fields = fields


class ApprovalSerializer(serializers.ModelSerializer):
    # nullable: an approval of a run has no playbook link, the system requests some, and a
    # pending one has no decider
    playbook = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    requested_by = serializers.SlugRelatedField(
        read_only=True, allow_null=True, slug_field="username"
    )
    decided_by = serializers.SlugRelatedField(
        read_only=True, allow_null=True, slug_field="username"
    )
    run = serializers.SerializerMethodField()
    required_approvals = serializers.SerializerMethodField()
    approvals = ApprovalVoteSerializer(source="votes", many=True, read_only=True)

    class Meta:
        model = Approval
        fields = [
            "id",
            "kind",
            "status",
            "title",
            "run",
            "playbook",
            "step",
            "tool",
            "risk",
            "payload",
            "body_hash",
            "scope",
            "dry_run",
            "expires_at",
            "undo_until",
            "requested_by",
            "decided_by",
            "decided_at",
            "reason",
            "response",
            "result",
            "required_approvals",
            "approvals",
            "escalated_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_required_approvals(self, approval: Approval) -> int:
        return approval_required_approvals(approval)

    def get_run(self, approval: Approval) -> str | None:
        run_id = getattr(approval, "run_id", None)
        return str(run_id) if run_id else None


class ApproveSerializer(serializers.Serializer):
    body_hash = StrictRegexField(r"^[0-9a-f]{64}$", help_text="The hash you reviewed.")
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
    payload = AnyJSONField(required=False)
    scope = serializers.ChoiceField(choices=ApprovalScope.choices, required=False)


class EditSerializer(serializers.Serializer):
    payload = AnyJSONField(help_text="The payload to decide on instead (new hash).")


class RejectSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=2000)


class AnswerFileSerializer(serializers.Serializer):
    answer = serializers.FileField(help_text="The file, for a question that asks for one.")


class AnswerSerializer(serializers.Serializer):
    answer = serializers.JSONField(
        allow_null=True, help_text="A value valid against the question's schema."
    )
