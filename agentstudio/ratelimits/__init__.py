"""Rate limits (core): the limiter (`limiter.py`, the `limits` package on Redis or, without
REDIS_URL, in each process's memory), DRF throttles keyed by user and organization
(`throttles.py`) and the `X-RateLimit-*` headers (`middleware.py`).

`from agentstudio.ratelimits import AIServicesThrottle, RunStartThrottle, ToolCallThrottle`.
"""

from agentstudio.ratelimits.throttles import (
    AIServicesThrottle,
    RunStartThrottle,
    ToolCallThrottle,
)

__all__ = ["AIServicesThrottle", "RunStartThrottle", "ToolCallThrottle"]
