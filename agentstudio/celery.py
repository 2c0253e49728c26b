"""The Celery application shared by web processes (to enqueue) and workers (to execute)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentstudio.settings")

app = Celery("agentstudio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
