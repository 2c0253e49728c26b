"""A tool call's timeout: on the calling thread under SIGALRM when it can (a Celery pool
process), else on the tool pool, waited for."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import threading
from typing import Any

from tools.context import ToolContext

_EXECUTOR = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="tool")


class ToolTimeout(BaseException):
    """Raised into a tool that ran past its timeout. A BaseException, so a tool's own
    `except Exception` cannot swallow it."""


def run_with_timeout(implementation: Any, context: ToolContext, arguments: Any, timeout: float):
    """Runs the tool on this thread under a SIGALRM timer when this is the main thread and
    the timer is free (a Celery pool process): no hand-off, no thread wake-up on a busy
    machine. Elsewhere (a server thread) it runs on the tool pool and is waited for."""
    if threading.current_thread() is threading.main_thread() and signal.getitimer(
        signal.ITIMER_REAL
    ) == (0.0, 0.0):
        return _run_inline(implementation, context, arguments, timeout)
    future = _EXECUTOR.submit(implementation, context, arguments)
    try:
        return future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise ToolTimeout from None


class _Alarm:
    """The SIGALRM handler is installed once per process and each call only arms the timer.
    An alarm that arrives while no tool runs goes to whatever handler was there before."""

    installed_in: int | None = None
    armed = False
    previous: Any = signal.SIG_DFL

    @classmethod
    def expire(cls, signum: int, frame: Any) -> None:
        if cls.armed:
            cls.armed = False
            raise ToolTimeout
        if callable(cls.previous):
            cls.previous(signum, frame)


def _run_inline(implementation: Any, context: ToolContext, arguments: Any, timeout: float):
    if _Alarm.installed_in != os.getpid():
        _Alarm.previous = signal.signal(signal.SIGALRM, _Alarm.expire)
        _Alarm.installed_in = os.getpid()
    _Alarm.armed = True
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        return implementation(context, arguments)
    finally:
        _Alarm.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
