"""A real Celery worker on a real broker, inside the test process.

The worker runs in a thread with its own database connection, so tests using it
need committed data (`transactional_db`). A fresh Celery app per broker keeps the
project's app, and its connection pools, untouched.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

from celery import Celery
from celery.contrib.testing.worker import start_worker


@contextmanager
def worker_running(broker_url: str) -> Iterator[Celery]:
    app = Celery("governance-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(broker_url=broker_url, task_always_eager=False, result_backend=None,
                    task_default_queue=f"test-{time.monotonic_ns()}", broker_connection_retry_on_startup=False,
                    broker_heartbeat=0)
    app.autodiscover_tasks(["governance.parameters"], force=True)
    app.finalize()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield app


def wait_until(condition: Callable[[], bool], *, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
