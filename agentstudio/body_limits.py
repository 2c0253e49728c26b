"""How large a request body may be, and the ASGI layer that holds every body to it.

JSON, YAML and forms: AGENTSTUDIO_MAX_JSON_BODY_BYTES. Multipart: the artifact cap applies
to each file (checked where a file is taken, `playbooks.runs.files`), so the envelope may hold
AGENTSTUDIO_UPLOAD_MAX_FILES files at the cap plus the JSON limit for its other fields.

Django reads an ASGI body whole before any middleware runs, and a body without
Content-Length (Transfer-Encoding: chunked) reaches DRF as an empty one. `BodyLimitASGI`
sits in front of Django: a declared length over the limit is refused before a byte is read;
a body without one is read here up to the limit (413 past it) and handed on with its
Content-Length, so everything behind it treats it like any other body.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from agentstudio.errors import ErrorCode, error_body

_REPLAY_CHUNK_BYTES = 64 * 1024
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def request_body_limit(*, content_type: str) -> int:
    """The most bytes a body of this content type may have."""
    if content_type.startswith("multipart/"):
        files = settings.AGENTSTUDIO_UPLOAD_MAX_FILES * settings.AGENTSTUDIO_ARTIFACT_MAX_BYTES
        return files + settings.AGENTSTUDIO_MAX_JSON_BODY_BYTES
    return settings.AGENTSTUDIO_MAX_JSON_BODY_BYTES


def body_too_large_message(*, length: int | None, limit: int) -> str:
    if length is None:
        return f"Request body is over the limit of {limit} bytes."
    return f"Request body is {length} bytes; the limit is {limit} bytes."


class _Replay:
    """The `receive` Django gets: the body read so far, then the connection's own events
    (Django listens on it for the client's disconnect while it streams a response)."""

    def __init__(self, body: Any, size: int, receive: Receive) -> None:
        self.body = body
        self.remaining = size
        self.receive = receive
        self.done = False

    async def __call__(self) -> dict[str, Any]:
        if self.done:
            return await self.receive()
        chunk = self.body.read(_REPLAY_CHUNK_BYTES)
        self.remaining -= len(chunk)
        if self.remaining <= 0 or not chunk:
            self.done = True
            self.body.close()
        return {"type": "http.request", "body": chunk, "more_body": not self.done}


class BodyLimitASGI:
    """ASGI middleware in front of Django: bodies over `request_body_limit` are 413 in the
    error envelope; bodies without Content-Length are read (capped) and given one."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        limit = request_body_limit(content_type=content_type)
        declared = headers.get(b"content-length")
        if declared is not None:
            length = int(declared) if declared.isdigit() else 0  # a bad one: Django's to judge
            if length > limit:
                await _refuse(send, message=body_too_large_message(length=length, limit=limit))
                return
            await self.app(scope, receive, send)
            return
        await self._with_length(scope, receive, send, limit=limit)

    async def _with_length(self, scope: Scope, receive: Receive, send: Send, *, limit: int) -> None:
        # spooled like Django's own read (in memory while small, then on disk); _Replay
        # closes it once Django has read it all
        body = tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE)  # noqa: SIM115
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body.close()
                return  # the client left; nothing to answer (as Django does)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                body.close()
                await _refuse(send, message=body_too_large_message(length=None, limit=limit))
                return
            body.write(chunk)
            if not message.get("more_body", False):
                break
        body.seek(0)
        headers = [
            (name, value)
            for name, value in scope.get("headers", [])
            if name.lower() not in (b"transfer-encoding", b"content-length")
        ]
        headers.append((b"content-length", str(size).encode("ascii")))
        await self.app({**scope, "headers": headers}, _Replay(body, size, receive), send)


async def _refuse(send: Send, *, message: str) -> None:
    """413 in the envelope; the connection closes (uvicorn drops an unread body)."""
    payload = json.dumps(error_body(code=ErrorCode.PAYLOAD_TOO_LARGE, message=message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
