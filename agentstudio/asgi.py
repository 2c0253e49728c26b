"""ASGI entry point served by uvicorn: Django for every path, behind the body size limit
(which also gives chunked bodies their length, see agentstudio.body_limits)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentstudio.settings")
django_application = get_asgi_application()

from agentstudio.body_limits import BodyLimitASGI  # noqa: E402 (needs the settings set up)

application = BodyLimitASGI(django_application)
