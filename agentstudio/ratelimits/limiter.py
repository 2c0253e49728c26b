"""The rate limiter: the `limits` package's moving window, on Redis when REDIS_URL is set.

Why `limits` and its moving window rather than a hand-written Lua token bucket: the library is
maintained and its Redis strategy is one atomic Lua script per hit (`acquire_moving_window`),
so processes sharing a Redis never admit more than a limit between them; the same strategy
runs on its in-process MemoryStorage for the embedded default. The moving window is exact
(it keeps one timestamp per admitted request, at most `limit` of them per key), where the
sliding-window counter approximates and a fixed window admits twice its limit across a
boundary. "Burst 10, 30 per minute" is written as two windows that both hold, `10 per 10
seconds; 30 per minute`: never more than 10 in any 10 seconds nor 30 in any minute, which a
token bucket (10 at once, then 30 more within the first minute) would not promise.

A request is checked against several keys (a user and their organization; a run and its
organization), each with one or more windows, and passes only when all of them do. All are
read first and nothing is consumed when any is exhausted (a refused request does not burn
the user's quota while the organization's is spent); then each is hit atomically. Two racing
requests can make a later hit fail after an earlier one succeeded: that request is refused
and its earlier hit stays counted, so a race can under-admit by one, never over-admit.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time

import structlog
from django.conf import settings
from limits import RateLimitItem, parse_many
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage, Storage
from limits.strategies import MovingWindowRateLimiter

_log = structlog.get_logger("agentstudio.ratelimits")


class RateLimiterUnavailable(Exception):
    """The shared store (Redis) could not be reached: the caller decides open or closed."""


@dataclasses.dataclass(frozen=True)
class Subject:
    """One key a request counts against: `kind` (user, organization, run) and its id, with
    the windows that apply to it."""

    kind: str
    ident: str
    limits: tuple[RateLimitItem, ...]


@dataclasses.dataclass(frozen=True)
class Decision:
    """The outcome, and the tightest window for the X-RateLimit-* headers: its `limit`, what
    `remaining` in it after this request, and `reset` seconds until it has room again."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    retry_after: int  # whole seconds, at least 1, when refused; 0 when allowed
    subject: Subject | None = None
    item: RateLimitItem | None = None

    def headers(self) -> dict[str, str]:
        values = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            values["Retry-After"] = str(self.retry_after)
        return values


@functools.cache
def parse_limits(text: str) -> tuple[RateLimitItem, ...]:
    """`"10 per 10 seconds; 30 per minute"` as the library's items; empty: no limit."""
    return tuple(parse_many(text)) if text.strip() else ()


@functools.cache
def _storage_for(redis_url: str) -> Storage:
    if not redis_url:
        return MemoryStorage()
    # Short timeouts: a limiter that hangs on a dead Redis would stall every request.
    return RedisStorage(
        redis_url, wrap_exceptions=True, socket_connect_timeout=0.5, socket_timeout=1.0
    )


def limiter_storage() -> Storage:
    return _storage_for(settings.REDIS_URL)


def limiter_is_shared() -> bool:
    """Whether limits are shared by every process (Redis) or kept by each (memory)."""
    return bool(settings.REDIS_URL)


def limiter_startup_message() -> str:
    if limiter_is_shared():
        return "rate limits: shared by all processes through Redis (REDIS_URL)"
    return (
        "rate limits: kept per process in memory (no REDIS_URL), so each web and worker "
        "process counts on its own; set REDIS_URL to share them"
    )


def _prefix() -> str:
    return settings.AGENTSTUDIO_RATE_LIMIT_PREFIX


def _identifiers(scope: str, subject: Subject) -> tuple[str, ...]:
    return (_prefix(), scope, subject.kind, subject.ident)


def limit_check(*, scope: str, subjects: list[Subject]) -> Decision:
    """Counts one request of `scope` against every subject's windows, or refuses it.

    Raises RateLimiterUnavailable when Redis is configured and does not answer."""
    limiter = MovingWindowRateLimiter(limiter_storage())
    checks = [(subject, item) for subject in subjects for item in subject.limits]
    if not checks:
        return Decision(allowed=True, limit=0, remaining=0, reset=0, retry_after=0)
    try:
        now = time.time()
        stats = [
            (subject, item, limiter.get_window_stats(item, *_identifiers(scope, subject)))
            for subject, item in checks
        ]
        full = [(s, i, w) for s, i, w in stats if w.remaining < 1]
        if full:
            return _refused(full, now)
        for subject, item in checks:
            if not limiter.hit(item, *_identifiers(scope, subject)):  # lost a race
                window = limiter.get_window_stats(item, *_identifiers(scope, subject))
                return _refused([(subject, item, window)], time.time())
    except StorageError as exc:
        raise RateLimiterUnavailable(str(exc.storage_error)) from exc
    subject, item, window = min(stats, key=lambda row: (row[2].remaining, -row[2].reset_time))
    # an empty window starts with this request, so it has room again a whole window from now
    empty = window.remaining >= item.amount
    reset = item.get_expiry() if empty else max(1, math.ceil(window.reset_time - now))
    return Decision(
        allowed=True,
        limit=item.amount,
        remaining=window.remaining - 1,
        reset=reset,
        retry_after=0,
        subject=subject,
        item=item,
    )


def _refused(full: list, now: float) -> Decision:
    """The exhausted window that frees up last decides Retry-After (every one must pass);
    of windows freeing up in the same second, the first subject's (the user's) is named."""
    subject, item, window = max(full, key=lambda row: math.ceil(row[2].reset_time - now))
    wait = max(1, math.ceil(window.reset_time - now))
    return Decision(
        allowed=False,
        limit=item.amount,
        remaining=0,
        reset=wait,
        retry_after=wait,
        subject=subject,
        item=item,
    )


def limit_clear(*, prefix: str) -> int:
    """Deletes the counters under `prefix` (tests use a prefix of their own)."""
    storage = limiter_storage()
    if isinstance(storage, RedisStorage):
        pattern = f"{storage.key_prefix}:LIMITER/{prefix}/*"
        connection = storage.get_connection()
        keys = list(connection.scan_iter(match=pattern, count=1000))
        return connection.delete(*keys) if keys else 0
    storage.reset()
    return 0


def log_unavailable(*, scope: str, fail_open: bool, error: Exception) -> None:
    event = f"rate limiter unreachable: {'allowing' if fail_open else 'refusing'}"
    log = _log.warning if fail_open else _log.error
    log(event, scope=scope, fail_open=fail_open, error=str(error))
