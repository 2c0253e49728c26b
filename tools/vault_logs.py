"""No secret in a log line: once this process has resolved a secret, every log record it
makes is scrubbed of it, whoever logs (a tool's library may log a URL or an error that
holds one: httpx logs each request's URL, and a webhook's URL is its secret)."""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from collections import OrderedDict
from typing import Any

_MAX_WATCHED = 1024  # the most recently resolved secrets; older ones drop out
_lock = threading.Lock()
_watched: OrderedDict[str, None] = OrderedDict()
_snapshot: tuple[str, ...] = ()  # read without the lock by every record being made
_installed = False


def vault_logs_watch(secret: str) -> None:
    """Keeps `secret` out of every log record this process makes from now on."""
    global _snapshot
    if not secret:
        return
    with _lock:
        _watched[secret] = None
        _watched.move_to_end(secret)
        while len(_watched) > _MAX_WATCHED:
            _watched.popitem(last=False)
        # Longest first: a secret that contains another is replaced whole.
        _snapshot = tuple(sorted(_watched, key=len, reverse=True))
    _install()


def _install() -> None:
    """A log record factory rather than a handler filter: it covers every handler, the
    ones configured later and the test suite's own."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        secrets = _snapshot
        if secrets:
            _scrub_record(record, secrets)
        return record

    logging.setLogRecordFactory(factory)


def _scrub_record(record: logging.LogRecord, secrets: tuple[str, ...]) -> None:
    from tools.vault import vault_scrub

    if isinstance(record.msg, dict):  # structlog's event dict, rendered later
        event = vault_scrub(record.msg, secrets)
        exception = _scrubbed_exception(event.get("exc_info"), secrets)
        if exception is not None:
            event = {key: value for key, value in event.items() if key != "exc_info"}
            event["exception"] = exception
        record.msg = event
    else:
        try:
            text = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own report
            text = None
        if text is not None:
            scrubbed = vault_scrub(text, secrets)
            if scrubbed != text:
                record.msg, record.args = scrubbed, ()
    exception = _scrubbed_exception(record.exc_info, secrets)
    if exception is not None:
        record.exc_info, record.exc_text = None, None
        if isinstance(record.msg, dict):
            record.msg = {**record.msg, "exception": exception}
        else:
            record.msg = f"{record.msg}\n{exception}"


def _scrubbed_exception(exc_info: Any, secrets: tuple[str, ...]) -> str | None:
    """The traceback as scrubbed text when it shows a secret; None when it shows none."""
    from tools.vault import vault_scrub

    if exc_info is True:
        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or len(exc_info) != 3 or exc_info[1] is None:
        return None
    text = "".join(traceback.format_exception(*exc_info))
    scrubbed = vault_scrub(text, secrets)
    return scrubbed if scrubbed != text else None
