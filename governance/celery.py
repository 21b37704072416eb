"""The Celery application. Configuration comes from Django settings (CELERY_* names)."""
import os
import sys

from celery import Celery
from celery.signals import task_prerun
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")

try:  # read the settings now: a malformed value from the environment is one line, as with manage.py
    settings.INSTALLED_APPS
except ImproperlyConfigured as exc:
    sys.exit(f"celery: configuration error: {exc}")

app = Celery("governance")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def connections_drop_broken(**kwargs) -> None:
    """A worker keeps its database connection across tasks (CELERY_DB_REUSE_MAX); one that
    failed (the server restarted, the network dropped) is closed, so the next task reconnects
    instead of failing on it until Celery recycles it."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and connection.errors_occurred and not connection.is_usable():
            connection.close()
