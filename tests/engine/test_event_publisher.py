"""The engine's live notices: sent from the engine's own thread without waiting for Redis,
answers read in batches and at flush, and best effort when Redis is down (subscribers fill
gaps from the database), against a real `redis-server`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
import redis
from structlog.testing import capture_logs

from agentstudio.redis_client import redis_client
from playbooks.engine import events
from playbooks.engine.events import (
    run_events_channel,
    run_events_flush,
    run_events_publish_payloads,
)
from tests.support.processes import RedisServer, wait_for


@pytest.fixture
def private_redis(tmp_path, settings) -> Iterator[RedisServer]:
    """A `redis-server` of the test's own, which REDIS_URL (and so the publisher) points at."""
    server = RedisServer(tmp_path / "redis").start()
    settings.REDIS_URL = server.url()
    redis_client.cache_clear()
    try:
        yield server
    finally:
        server.stop()
        redis_client.cache_clear()  # the publisher moves to the next pool it is handed


def _subscriber(server: RedisServer, channel: str) -> redis.client.PubSub:
    subscriber = redis.Redis.from_url(server.url()).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(channel)
    wait_for(lambda: subscriber.get_message(timeout=0.1) is None, 5, message="subscribed")
    return subscriber


def _received(subscriber: redis.client.PubSub, count: int) -> list[list[dict]]:
    messages: list[list[dict]] = []
    deadline = time.monotonic() + 10
    while len(messages) < count and time.monotonic() < deadline:
        message = subscriber.get_message(timeout=0.5)
        if message is not None:
            messages.append(json.loads(message["data"]))
    return messages


def test_notices_arrive_in_order_and_flush_reads_every_answer(private_redis):
    channel_run = "0196a3b0-0000-7000-8000-000000000001"
    subscriber = _subscriber(private_redis, run_events_channel(channel_run))
    count = events._Publisher.READ_BATCH * 2 + 7  # answers are read in batches on the way
    for seq in range(1, count + 1):
        payload = json.dumps({"seq": seq, "type": "step.started", "data": {"n": "é" * seq}})
        run_events_publish_payloads(channel_run, [payload])

    assert run_events_flush(timeout=5) is True
    assert events._PUBLISHER._unread == 0
    received = _received(subscriber, count)
    assert [message[0]["seq"] for message in received] == list(range(1, count + 1))
    assert received[-1][0]["data"]["n"] == "é" * count  # lengths count bytes, not characters


def test_redis_down_drops_notices_quietly_and_the_publisher_comes_back(private_redis, monkeypatch):
    monkeypatch.setattr(events._Publisher, "RETRY_SECONDS", 0.3)
    run_id = "0196a3b0-0000-7000-8000-000000000002"
    run_events_publish_payloads(run_id, ['{"seq": 1}'])
    assert run_events_flush(timeout=5) is True

    private_redis.stop()
    with capture_logs() as logs:
        for seq in range(2, 50):  # the engine goes on: nothing raises, nothing waits
            run_events_publish_payloads(run_id, [json.dumps({"seq": seq})])
        assert run_events_flush(timeout=5) is True
    failures = [entry for entry in logs if entry["log_level"] == "warning"]
    # The send that finds the connection gone, then at most one failed connect per rest.
    assert 1 <= len(failures) <= 3, failures

    private_redis.start()
    subscriber = _subscriber(private_redis, run_events_channel(run_id))
    time.sleep(events._Publisher.RETRY_SECONDS)
    run_events_publish_payloads(run_id, ['{"seq": 50}'])
    assert run_events_flush(timeout=5) is True
    assert _received(subscriber, 1) == [[{"seq": 50}]]


def test_a_restarted_redis_gets_the_next_notices_without_a_pause(private_redis):
    run_id = "0196a3b0-0000-7000-8000-000000000003"
    run_events_publish_payloads(run_id, ['{"seq": 1}'])
    assert run_events_flush(timeout=5) is True
    private_redis.stop()
    private_redis.start()
    subscriber = _subscriber(private_redis, run_events_channel(run_id))
    with capture_logs() as logs:
        for seq in (2, 3, 4):  # the old connection takes at most the first one with it
            run_events_publish_payloads(run_id, [json.dumps({"seq": seq})])
        assert run_events_flush(timeout=5) is True
    assert [entry for entry in logs if entry["log_level"] == "warning"] == []
    received = _received(subscriber, 2)
    if received and received[0][0]["seq"] == 2:  # the first one made it after all
        received += _received(subscriber, 1)
    assert [message[0]["seq"] for message in received][-2:] == [3, 4]
