"""`GET /runs/{id}/stream/`: a run's events as Server-Sent Events, from an async view.

The stream subscribes to the run's Redis channel first, then replays the events after
`Last-Event-ID` (or `?after=`) from the database, then relays live events, dropping any seq
it already sent and filling any gap from the database, so nothing falls between replay and
live. Without Redis (the embedded default) it polls the database instead. A `: keepalive`
comment goes out after 15 quiet seconds; the stream ends after the run's terminal event, or
at once when the run was already final after the replay.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import structlog
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.views import APIView

from agentstudio.accounts.authentication import ApiKeyAuthentication
from agentstudio.accounts.roles import user_membership
from agentstudio.errors import AppError, ErrorCode, error_response
from playbooks.engine.events import run_events_channel
from playbooks.models import Run
from playbooks.models.runs import FINAL_RUN_STATUSES
from playbooks.runs import selectors as run_selectors
from playbooks.runs.selectors import TERMINAL_EVENT_TYPES

HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 0.5
SUBSCRIBE_CONFIRM_SECONDS = 2.0
EventRow = dict[str, Any]

_log = structlog.get_logger("agentstudio.stream")


# --- Before streaming: who asks, for which run, from where ----------------------------------


def _authenticated_user(request: HttpRequest) -> Any:
    """The API key's (or session's) user, as DRF would authenticate it; 401 otherwise."""
    drf_request = Request(request, authenticators=[ApiKeyAuthentication(), SessionAuthentication()])
    try:
        user = drf_request.user
    except exceptions.APIException as exc:
        raise AppError(ErrorCode.NOT_AUTHENTICATED, str(exc.detail)) from exc
    if user is None or not user.is_authenticated:
        raise AppError(ErrorCode.NOT_AUTHENTICATED, "Authentication credentials were not provided.")
    if user_membership(user) is None:
        raise AppError(ErrorCode.PERMISSION_DENIED, "Your account is not in any organization.")
    return user


def _visible_run_id(user: Any, run_id: Any) -> Any:
    run = run_selectors.run_get_visible(user=user, run_id=run_id)
    if run is None:
        raise AppError(ErrorCode.NOT_FOUND, "Not found.")
    return run.pk


def _after(request: HttpRequest) -> int:
    """`Last-Event-ID` (a reconnecting EventSource sends it) wins over `?after=`."""
    header, query = request.headers.get("Last-Event-ID"), request.GET.get("after")
    for raw in (header, query):  # both are checked, so neither is silently ignored
        if raw is not None and not (raw.strip().isascii() and raw.strip().isdigit()):
            raise AppError(
                ErrorCode.VALIDATION_ERROR,
                "Last-Event-ID and after must be a non-negative event seq.",
                details=[{"path": "/after", "message": "not a non-negative integer"}],
            )
    return int((header if header is not None else query or "0").strip())


def _prepare(request: HttpRequest, run_id: Any) -> tuple[Any, int]:
    user = _authenticated_user(request)
    return _visible_run_id(user, run_id), _after(request)


def _error(exc: AppError) -> JsonResponse:
    response = error_response(code=exc.code, message=exc.message, details=exc.details)
    if exc.code == ErrorCode.NOT_AUTHENTICATED:
        response["WWW-Authenticate"] = "Bearer"
    return response


async def run_stream(request: HttpRequest, pk: Any) -> HttpResponseBase:
    """The async view: errors before streaming use the JSON envelope (401, 404, 400)."""
    try:
        run_id, after = await sync_to_async(_prepare)(request, pk)
    except AppError as exc:
        return _error(exc)
    response = StreamingHttpResponse(
        run_event_stream(run_id=run_id, after=after), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies must not buffer the stream
    return response


SEQ: dict[str, Any] = {"type": "integer", "minimum": 0}

# One server-sent event (OpenAPI has no stream type: schema tools apply a text/event-stream
# schema to each event). `data` is the event row as JSON; heartbeats are comments.
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One event: `id` is its seq, `event` its type, `data` the event as JSON.",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$"},
        "event": {"type": "string"},
        "data": {
            "type": "string",
            "description": "The event as JSON: `{seq, type, data, created_at}`.",
        },
    },
    "required": ["id", "event", "data"],
}


class RunStreamView(APIView):
    """The URL entry and OpenAPI description of the stream. DRF views are synchronous, so
    `as_view` hands Django the async `run_stream` view, which serves every request."""

    @extend_schema(
        operation_id="runs_stream",
        parameters=[
            OpenApiParameter(
                "Last-Event-ID", SEQ, OpenApiParameter.HEADER, description="Replay after seq"
            ),
            OpenApiParameter("after", SEQ, description="Replay after seq (no header)"),
        ],
        responses={(200, "text/event-stream"): SSE_EVENT_SCHEMA},
    )
    def get(self, request: Request, pk: Any) -> None:
        raise NotImplementedError("run_stream serves this URL.")

    @classmethod
    def as_view(cls, **initkwargs: Any) -> Any:  # type: ignore[override]
        async def view(request: HttpRequest, pk: Any) -> HttpResponseBase:
            return await run_stream(request, pk)

        view.cls = cls  # type: ignore[attr-defined]
        view.initkwargs = initkwargs  # type: ignore[attr-defined]
        return view


# --- The stream ---------------------------------------------------------------------------


def _rows_after(run_id: Any, after: int) -> tuple[list[EventRow], bool]:
    """Events after `after` and whether the run was final before they were read (so a final
    run's terminal event is always among the rows or already sent)."""
    final = Run.objects.filter(pk=run_id, status__in=FINAL_RUN_STATUSES).exists()
    rows = [
        {
            "seq": event.seq,
            "type": event.type,
            "data": event.data,
            "created_at": event.created_at.isoformat(),
        }
        for event in run_selectors.run_events_after(run_id=run_id, after=after)[:500]
    ]
    return rows, final


def _close_database() -> None:
    """Under ASGI this request's thread opened its own connection: close it rather than leak
    it (a connection inside a transaction, as in an in-process test, is left alone)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def sse_format(row: EventRow) -> str:
    data = json.dumps(row, default=str, ensure_ascii=False)
    return f"id: {row['seq']}\nevent: {row['type']}\ndata: {data}\n\n"


class DatabaseFeed:
    """The embedded default: poll the database every POLL_SECONDS."""

    def __init__(self, run_id: Any) -> None:
        self.run_id = run_id

    async def start(self) -> None:
        return None

    async def next_rows(self, last: int, timeout: float) -> tuple[list[EventRow], bool]:
        await asyncio.sleep(min(POLL_SECONDS, timeout))
        return await sync_to_async(_rows_after)(self.run_id, last)

    async def close(self) -> None:
        return None


class RedisFeed(DatabaseFeed):
    """Live events from the run's Redis channel; the database fills gaps and quiet spells."""

    def __init__(self, run_id: Any) -> None:
        super().__init__(run_id)
        self.client: Any = None
        self.pubsub: Any = None

    async def start(self) -> None:
        """Subscribes and waits for Redis to confirm, before anything is replayed."""
        import redis.asyncio as redis_asyncio

        self.client = redis_asyncio.from_url(settings.REDIS_URL, socket_connect_timeout=2)
        self.pubsub = self.client.pubsub()
        await self.pubsub.subscribe(run_events_channel(self.run_id))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIBE_CONFIRM_SECONDS
        while loop.time() < deadline:
            message = await self.pubsub.get_message(timeout=deadline - loop.time())
            if message and message.get("type") == "subscribe":
                return
        raise TimeoutError("Redis did not confirm the subscription")

    async def next_rows(self, last: int, timeout: float) -> tuple[list[EventRow], bool]:
        message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
        if message is None:
            return await sync_to_async(_rows_after)(self.run_id, last)  # lost publishes
        decoded = json.loads(message["data"])
        # One message per checkpoint: a list of consecutive events (a single event object
        # is read the same way).
        events = [row for row in _as_list(decoded) if row["seq"] > last]
        if not events:
            return [], False  # already sent (replayed before it was published)
        if [row["seq"] for row in events] == list(range(last + 1, last + 1 + len(events))):
            return events, False
        return await sync_to_async(_rows_after)(self.run_id, last)  # a gap: read it

    async def close(self) -> None:
        if self.pubsub is not None:
            await self.pubsub.aclose()
        if self.client is not None:
            await self.client.aclose()


def _as_list(decoded: Any) -> list[dict[str, Any]]:
    return decoded if isinstance(decoded, list) else [decoded]


async def _feed_for(run_id: Any) -> DatabaseFeed:
    if not settings.REDIS_URL:
        return DatabaseFeed(run_id)
    feed = RedisFeed(run_id)
    try:
        await feed.start()
    except Exception:
        _log.warning("redis unavailable; polling the database", run=str(run_id))
        await feed.close()
        return DatabaseFeed(run_id)
    return feed


async def run_event_stream(*, run_id: Any, after: int) -> AsyncIterator[str]:
    """Replay, then live, until the terminal event; heartbeats while quiet."""
    feed = await _feed_for(run_id)
    loop = asyncio.get_running_loop()
    last, last_write = after, loop.time()
    try:
        rows, final = await sync_to_async(_rows_after)(run_id, last)
        while True:
            for row in rows:
                yield sse_format(row)
                last, last_write = row["seq"], loop.time()
                if row["type"] in TERMINAL_EVENT_TYPES:
                    return
            if final and not rows:
                return
            if loop.time() - last_write >= HEARTBEAT_SECONDS:
                yield ": keepalive\n\n"
                last_write = loop.time()
            if final:  # more rows than one read holds: keep reading the database
                rows, final = await sync_to_async(_rows_after)(run_id, last)
                continue
            wait = max(0.05, HEARTBEAT_SECONDS - (loop.time() - last_write))
            rows, final = await feed.next_rows(last, wait)
    finally:
        await feed.close()
        await sync_to_async(_close_database)()
