"""One small function per audited event type; each appends one row to its stream."""

from typing import Any

from agentstudio.audit.chain import audit_append


def org_stream(organization: Any) -> str:
    return f"org:{organization.pk}"


def _org_event(organization: Any, type: str, actor: Any, data: dict[str, Any]) -> None:
    audit_append(
        stream=org_stream(organization),
        type=type,
        actor=actor,
        organization=organization,
        data=data,
    )


def organization_created(*, organization: Any) -> None:
    _org_event(organization, "organization.created", None, {"name": organization.name})


def member_added(*, organization: Any, actor: Any, user: Any, role: str) -> None:
    _org_event(organization, "member.added", actor, {"user": user.get_username(), "role": role})


def member_role_changed(*, organization: Any, actor: Any, user: Any, old: str, new: str) -> None:
    _org_event(
        organization,
        "member.role_changed",
        actor,
        {"user": user.get_username(), "from": old, "to": new},
    )


def member_removed(*, organization: Any, actor: Any, user: Any) -> None:
    _org_event(organization, "member.removed", actor, {"user": user.get_username()})


def api_key_created(*, organization: Any, actor: Any, key: Any) -> None:
    _org_event(organization, "api_key.created", actor, {"key": str(key.pk), "prefix": key.prefix})


def api_key_revoked(*, organization: Any, actor: Any, key: Any) -> None:
    _org_event(organization, "api_key.revoked", actor, {"key": str(key.pk), "prefix": key.prefix})


def credits_granted(*, organization: Any, actor: Any, amount: str, balance_after: str) -> None:
    _org_event(
        organization, "credits.granted", actor, {"amount": amount, "balance_after": balance_after}
    )


def playbook_created(*, playbook: Any, actor: Any, source: str) -> None:
    _org_event(
        playbook.organization,
        "playbook.created",
        actor,
        {"playbook": str(playbook.pk), "slug": playbook.slug, "source": source},
    )


def playbook_spec_edited(*, playbook: Any, actor: Any) -> None:
    _org_event(
        playbook.organization,
        "playbook.spec_edited",
        actor,
        {"playbook": str(playbook.pk), "slug": playbook.slug},
    )


def playbook_transitioned(
    *, playbook: Any, actor: Any, transition: str, source: str, target: str, **extra: Any
) -> None:
    _org_event(
        playbook.organization,
        f"playbook.{transition}",
        actor,
        {
            "playbook": str(playbook.pk),
            "slug": playbook.slug,
            "from": source,
            "to": target,
            **extra,
        },
    )


def run_transitioned(*, run: Any, actor: Any, transition: str, source: str, **extra: Any) -> None:
    """A person (or the system) moved a run: cancelled, retried."""
    _org_event(
        run.organization,
        f"run.{transition}",
        actor,
        {
            "run": str(run.pk),
            "playbook": str(run.playbook_id),
            "from": source,
            "to": run.status,
            **extra,
        },
    )


def playbook_deleted(*, organization: Any, actor: Any, playbook_id: str, slug: str) -> None:
    _org_event(organization, "playbook.deleted", actor, {"playbook": playbook_id, "slug": slug})


def approval_requested(*, approval: Any, actor: Any) -> None:
    _org_event(
        approval.organization,
        "approval.requested",
        actor,
        {"approval": str(approval.pk), "kind": approval.kind, "body_hash": approval.body_hash},
    )


def approval_decided(*, approval: Any, actor: Any, decision: str, reason: str = "") -> None:
    _org_event(
        approval.organization,
        f"approval.{decision}",
        actor,
        {
            "approval": str(approval.pk),
            "kind": approval.kind,
            "body_hash": approval.body_hash,
            "reason": reason,
        },
    )


def approval_escalated(*, approval: Any, escalate_to: list[str]) -> None:
    _org_event(
        approval.organization,
        "approval.escalated",
        None,
        {"approval": str(approval.pk), "kind": approval.kind, "escalate_to": escalate_to},
    )


def secret_written(*, organization: Any, actor: Any, name: str, created: bool) -> None:
    """A vault entry was created or replaced (its value never enters the audit log)."""
    _org_event(
        organization, "secret.created" if created else "secret.replaced", actor, {"name": name}
    )


def secret_deleted(*, organization: Any, actor: Any, name: str) -> None:
    _org_event(organization, "secret.deleted", actor, {"name": name})


def connection_changed(*, organization: Any, actor: Any, name: str, change: str) -> None:
    """An MCP connection was registered, refreshed, or one of its tools classified."""
    _org_event(organization, "connection.changed", actor, {"name": name, "change": change})


def model_provider_changed(*, organization: Any, actor: Any, name: str, change: str) -> None:
    """A model provider configuration was created or updated (never its key: a vault name)."""
    _org_event(organization, "model_provider.changed", actor, {"name": name, "change": change})
