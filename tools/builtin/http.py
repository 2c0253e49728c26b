"""HTTP tools: `tools.studio.http.fetch` (GET, outside content) and `tools.studio.http.post`
(an external send with an Idempotency-Key header, and a dry run that renders the exact
request). Every hop is checked after DNS resolution: no private, loopback, link-local or
metadata addresses unless the host is in AGENTSTUDIO_HTTP_ALLOW."""

from __future__ import annotations

import json
from typing import Any

import httpx

from agentstudio.netguard import guarded_transport, url_refusal
from tools.context import ToolContext, ToolExecutionError

MAX_FETCH_BYTES = 1024 * 1024
MAX_REDIRECTS = 5
REQUEST_TIMEOUT_SECONDS = 15.0
USER_AGENT = "AgentStudio/1 (+tools.studio.http)"


def _guarded(url: str) -> None:
    refusal = url_refusal(url)
    if refusal:
        raise ToolExecutionError(f"Refused {url}: {refusal}.")


def _client() -> httpx.Client:
    # trust_env=False: no proxy or netrc from the worker's environment; the transport checks
    # the address each connection is made to (url_refusal looked at the name just before).
    return httpx.Client(
        follow_redirects=False,
        timeout=REQUEST_TIMEOUT_SECONDS,
        trust_env=False,
        transport=guarded_transport(),
    )


def http_fetch(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """GETs `url`, following at most MAX_REDIRECTS redirects, each hop checked; the body is
    read up to MAX_FETCH_BYTES (`truncated` says when there was more)."""
    url = arguments["url"]
    try:
        with _client() as client:
            for _hop in range(MAX_REDIRECTS + 1):
                _guarded(url)
                with client.stream("GET", url, headers={"User-Agent": USER_AGENT}) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = str(response.url.join(response.headers["location"]))
                        continue
                    body, truncated = _read_capped(response)
                    return {
                        "url": url,
                        "status": response.status_code,
                        "content_type": response.headers.get("content-type", ""),
                        "body": body.decode(response.encoding or "utf-8", errors="replace"),
                        "truncated": truncated,
                    }
    except httpx.HTTPError as exc:
        raise ToolExecutionError(f"GET {url} failed: {type(exc).__name__}: {exc}") from exc
    raise ToolExecutionError(f"GET {arguments['url']} redirected more than {MAX_REDIRECTS} times.")


def _read_capped(response: httpx.Response) -> tuple[bytes, bool]:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_FETCH_BYTES:
            return b"".join(chunks)[:MAX_FETCH_BYTES], True
    return b"".join(chunks), False


def http_post_request(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The exact request `http_post` makes: what a dry run shows an approver."""
    headers = {str(name): str(value) for name, value in (arguments.get("headers") or {}).items()}
    headers = {name: value for name, value in headers.items() if name.lower() != "idempotency-key"}
    headers.update(
        {
            "Content-Type": "application/json",
            "Idempotency-Key": ctx.call_key,
            "User-Agent": USER_AGENT,
        }
    )
    return {
        "method": "POST",
        "url": arguments["url"],
        "headers": headers,
        "json": arguments["json"],
    }


def http_post_dry_run(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    request = http_post_request(ctx, arguments)
    url = request["url"]
    # A URL from the vault stays a handle here (a dry run never sees a secret): its host
    # is checked when the call is made, not now.
    refusal = url_refusal(url) if isinstance(url, str) else ""
    return {
        "dry_run": True,
        "request": request,
        "idempotency_key": ctx.call_key,
        "refused": refusal or None,
    }


def http_post(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """POSTs the JSON body once (redirects are not followed: a POST is not re-sent
    elsewhere); the receiver can drop a repeat by its Idempotency-Key, the call's key."""
    request = http_post_request(ctx, arguments)
    _guarded(request["url"])
    try:
        with _client() as client:
            response = client.post(
                request["url"],
                content=json.dumps(request["json"]).encode(),
                headers=request["headers"],
            )
    except httpx.HTTPError as exc:
        raise ToolExecutionError(f"POST {request['url']} failed: {exc}") from exc
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text[:MAX_FETCH_BYTES]
    return {
        "dry_run": False,
        "status": response.status_code,
        "body": body,
        "idempotency_key": ctx.call_key,
    }


def _slack_body(arguments: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"text": arguments["text"]}
    if arguments.get("channel"):
        body["channel"] = arguments["channel"]
    return body


# The one vault entry the Slack tool reads. Fixed, not an argument: a secret is chosen by
# the playbook's author, never by whoever calls the tool (an agent, an API caller).
SLACK_WEBHOOK_SECRET = "slack.webhook"


def notify_slack_dry_run(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """The message as it would be posted; the webhook stays a vault reference."""
    return {
        "dry_run": True,
        "request": {
            "method": "POST",
            "url": f"vault:{SLACK_WEBHOOK_SECRET}",
            "json": _slack_body(arguments),
        },
    }


def notify_slack(ctx: ToolContext, arguments: dict[str, Any]) -> dict[str, Any]:
    """Posts through the Slack incoming webhook kept in the vault as `slack.webhook`."""
    url = ctx.secret(SLACK_WEBHOOK_SECRET)
    refusal = url_refusal(url)
    if refusal:
        raise ToolExecutionError(f"Refused the webhook in the vault: {refusal}.")
    try:
        with _client() as client:
            response = client.post(
                url,
                content=json.dumps(_slack_body(arguments)).encode(),
                headers={"Content-Type": "application/json", "Idempotency-Key": ctx.call_key},
            )
    except httpx.HTTPError as exc:
        raise ToolExecutionError(f"Posting to Slack failed: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        raise ToolExecutionError(f"Slack answered {response.status_code}.")
    return {"dry_run": False, "status": response.status_code}
