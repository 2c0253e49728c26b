"""ASGI entry point served by uvicorn: Django for every path."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentstudio.settings")
application = get_asgi_application()
