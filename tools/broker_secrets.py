"""Secrets at the broker: the author's vault handles resolved at call time (no other
handle-shaped value ever is), and one scrub for everything that leaves a call."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from agentstudio.secret_references import json_pointer_join, vault_references
from tools.call_results import ToolCallResult, error_result
from tools.context import ToolContext
from tools.vault import VaultHandleForged, vault_resolve_arguments, vault_scrub


def with_secrets(
    arguments: Any, scope: Any, authored: Mapping[str, str], secrets: list[str]
) -> Any:
    """The arguments to call with: the author's vault handles resolved (only here, at call
    time), their secrets added to `secrets`. Raises VaultHandleForged for any other handle
    and VaultError for a secret that is missing or unreadable."""
    resolved, used = vault_resolve_arguments(
        arguments, organization_id=scope.organization_id, authored=authored
    )
    secrets.extend(used)
    return resolved


def vault_error(name: str, key: str, exc: Exception, invocation: Any) -> ToolCallResult:
    """The call's error result for a forged handle or a secret that cannot be read."""
    message = str(exc) if isinstance(exc, VaultHandleForged) else f"Vault: {exc}."
    return error_result(name, key, message, invocation)


def leaving(value: Any, secrets: list[str], context: ToolContext) -> Any:
    """What leaves the broker (a result, with what is recorded of it, or a refusal's text),
    scrubbed with vault_scrub of every secret the call used: the ones its arguments
    resolved and the ones the tool read itself (ToolContext.secret, connection headers).
    Events, a run's error and the stream are made from the result, so they are clean too."""
    used = [*secrets, *context.secrets_used]
    if not used:
        return value
    if not isinstance(value, ToolCallResult):
        return vault_scrub(value, used)
    value.structured = vault_scrub(value.structured, used)
    value.text = vault_scrub(value.text, used)
    if value.invocation is not None and not value.replayed:
        value.invocation.result = vault_scrub(value.invocation.result, used)
    if value.approval_request is not None:
        value.approval_request = vault_scrub(value.approval_request, used)
    return value


def errors_off_handles(validator: Any, arguments: Any) -> Iterator[Any]:
    """The validator's errors about `arguments`, but none at or under a vault handle (its
    secret is not known here; the broker validates the resolved arguments)."""
    handles = vault_references(arguments)
    for error in sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path)):
        pointer = ""
        for part in error.absolute_path:
            pointer = json_pointer_join(pointer, part)
            if pointer in handles:
                break
        else:
            yield error
