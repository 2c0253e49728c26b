"""GET /runs/{id}/stream/ against a real uvicorn server: replay, live events, the end.

The server runs `agentstudio.ops.asgi:application` in a subprocess on the test database, so
these tests are transactional (the server sees committed rows). One server relays live
events from Redis, the other polls the database (the embedded default)."""

import asyncio
import json
import threading
import time

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from rest_framework.test import APIClient

from agentstudio.accounts.models import Role
from agentstudio.accounts.services import api_key_create
from playbooks.engine.runner import run_advance
from playbooks.runs.starting import run_start
from tests.runs.conftest import ECHO_SPEC, GATE_SPEC, advance
from tests.support.live_server import studio_server

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module", params=["redis", "polling"])
def server(request, django_db_setup, django_db_blocker, tmp_path_factory):
    """The base URL of a uvicorn server on the test database (Redis live or DB polling)."""
    redis_url = settings.REDIS_URL if request.param == "redis" else ""
    log = tmp_path_factory.mktemp("uvicorn") / f"{request.param}.log"
    with (
        django_db_blocker.unblock(),
        studio_server(log, lifespan=False, REDIS_URL=redis_url) as base,
    ):
        yield base


def _headers(user, **extra):
    _key, raw = api_key_create(user=user, name="stream")
    return {"Authorization": f"Bearer {raw}", **extra}


def _read_events(response, on_event=None):
    """(events, comments) until the server closes the stream."""
    events, comments, fields = [], [], {}
    for line in response.iter_lines():
        if line.startswith(":"):
            comments.append(line)
        elif line:
            name, _, value = line.partition(": ")
            fields[name] = value
        elif fields:
            event = {
                "id": int(fields["id"]),
                "event": fields["event"],
                "data": json.loads(fields["data"]),
            }
            events.append(event)
            fields = {}
            if on_event:
                on_event(event)
    return events, comments


def test_replay_after_last_event_id_then_the_stream_ends(server, active_playbook, author):
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    advance(run.pk)
    total = run.events.count()
    url = f"{server}/api/v1/runs/{run.pk}/stream/"
    with httpx.stream(
        "GET", url, headers=_headers(author, **{"Last-Event-ID": "3"}), timeout=20
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events, _ = _read_events(response)
    assert [e["id"] for e in events] == list(range(4, total + 1))
    assert events[-1]["event"] == "run.succeeded"
    assert events[-1]["data"]["seq"] == total
    assert events[-1]["data"]["data"]["outputs"] == {"said": "t"}


def test_after_query_parameter_and_already_seen_terminal(server, active_playbook, author):
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    advance(run.pk)
    total = run.events.count()
    headers = _headers(author)
    with httpx.stream(
        "GET",
        f"{server}/api/v1/runs/{run.pk}/stream/?after={total - 1}",
        headers=headers,
        timeout=20,
    ) as response:
        assert [e["event"] for e in _read_events(response)[0]] == ["run.succeeded"]
    with httpx.stream(
        "GET", f"{server}/api/v1/runs/{run.pk}/stream/?after={total}", headers=headers, timeout=20
    ) as response:
        assert _read_events(response)[0] == []  # final already: closes at once


def test_live_events_arrive_while_connected(server, active_playbook, author, approver):
    """The run pauses at a gate; the client connects; the gate is approved and the run
    finishes while the client reads: every event arrives once, in order, then the end."""
    from approvals.models import Approval
    from approvals.services import approval_approve

    run = run_start(playbook=active_playbook(GATE_SPEC), actor=author, inputs={})
    advance(run.pk)
    paused_at = run.events.count()
    caught_up = threading.Event()
    received: list = []

    def read() -> None:
        def on_event(event):
            if event["id"] == paused_at:
                caught_up.set()

        with httpx.stream(
            "GET", f"{server}/api/v1/runs/{run.pk}/stream/", headers=headers, timeout=30
        ) as response:
            received.extend(_read_events(response, on_event)[0])

    headers = _headers(author)
    reader = threading.Thread(target=read)
    reader.start()
    assert caught_up.wait(20), "the replay did not arrive"
    gate = Approval.objects.get(run=run)
    approval_approve(approval=gate, actor=approver, body_hash=gate.body_hash)
    time.sleep(0.3)  # the client now waits on the live feed
    run_advance(run_id=run.pk)
    reader.join(30)
    assert not reader.is_alive(), "the stream did not end after the terminal event"
    total = run.events.count()
    assert [e["id"] for e in received] == list(range(1, total + 1))
    assert received[-1]["event"] == "run.succeeded"
    assert "approval.decided" in [e["event"] for e in received[paused_at:]]


def test_errors_before_streaming_use_the_envelope(
    server, active_playbook, author, make_user, other_org
):
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    url = f"{server}/api/v1/runs/{run.pk}/stream/"
    anonymous = httpx.get(url, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "not_authenticated"
    bad_key = httpx.get(url, headers={"Authorization": "Bearer as_nope_nope"}, timeout=10)
    assert bad_key.status_code == 401
    outsider = make_user(Role.ADMIN, organization=other_org)
    hidden = httpx.get(url, headers=_headers(outsider), timeout=10)
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    bad_after = httpx.get(url, headers=_headers(author, **{"Last-Event-ID": "x"}), timeout=10)
    assert bad_after.status_code == 400


def test_heartbeat_when_quiet(active_playbook, author, monkeypatch):
    """In-process (the server's 15 s would slow the suite): a quiet stream sends comments."""
    from playbooks.api import stream

    monkeypatch.setattr(stream, "HEARTBEAT_SECONDS", 0.2)
    run = run_start(playbook=active_playbook(GATE_SPEC), actor=author, inputs={})
    advance(run.pk)
    paused_at = run.events.count()

    async def first_chunks(count):
        chunks, iterator = [], stream.run_event_stream(run_id=run.pk, after=paused_at)
        async for chunk in iterator:
            chunks.append(chunk)
            if len(chunks) == count:
                await iterator.aclose()
                return chunks
        return chunks

    assert asyncio.run(first_chunks(2)) == [": keepalive\n\n", ": keepalive\n\n"]


def test_in_process_client_gets_the_same_stream(active_playbook, author, client_for):
    """The async view also answers Django's test client (replay of a finished run)."""
    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    advance(run.pk)
    response = client_for(author).get(f"/api/v1/runs/{run.pk}/stream/", HTTP_LAST_EVENT_ID="2")
    assert response.status_code == 200
    assert response.is_async

    async def collect():
        return b"".join([chunk async for chunk in response.streaming_content])

    body = asyncio.run(collect()).decode()
    assert body.startswith("id: 3\nevent: step.started\ndata: {")
    assert body.endswith("\n\n") and "event: run.succeeded" in body
    assert APIClient().get(f"/api/v1/runs/{run.pk}/stream/").status_code == 401


def test_redis_feed_dedupes_by_seq_and_fills_gaps(active_playbook, author):
    """What arrives on the channel: the next seq is relayed as is, a seen seq is dropped, a
    checkpoint's list of events is relayed from the first unseen one, and a seq past a gap
    makes the feed read the missing events from the database."""
    from agentstudio.redis_client import redis_client
    from playbooks.api import stream
    from playbooks.engine.events import run_events_channel

    run = run_start(playbook=active_playbook(ECHO_SPEC), actor=author, inputs={"topic": "t"})
    advance(run.pk)
    total = run.events.count()

    def publish(seq, kind):
        message = {"seq": seq, "type": kind, "data": {}, "created_at": "now"}
        redis_client().publish(run_events_channel(run.pk), json.dumps(message))

    async def scenario():
        feed = stream.RedisFeed(run.pk)
        await feed.start()
        try:
            publish(2, "seen.before")
            seen = await feed.next_rows(2, 5)
            publish(3, "from.redis")
            relayed = await feed.next_rows(2, 5)
            batch = [
                {"seq": seq, "type": f"batch.{seq}", "data": {}, "created_at": "now"}
                for seq in (3, 4, 5)
            ]
            redis_client().publish(run_events_channel(run.pk), json.dumps(batch))
            batched = await feed.next_rows(3, 5)  # 3 was sent already: 4 and 5 are new
            publish(total, "past.a.gap")
            filled = await feed.next_rows(1, 5)
        finally:
            await feed.close()
            await sync_to_async(stream._close_database)()
        return seen, relayed, batched, filled

    seen, relayed, batched, filled = asyncio.run(scenario())
    assert seen == ([], False)
    assert [row["type"] for row in relayed[0]] == ["from.redis"]
    assert [row["type"] for row in batched[0]] == ["batch.4", "batch.5"]
    assert [row["seq"] for row in filled[0]] == list(range(2, total + 1))
    assert filled[0][-1]["type"] == "run.succeeded"
