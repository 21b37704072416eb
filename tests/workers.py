"""A real Celery worker on a real broker, inside the test process.

The project's app is switched to the broker for the duration (tasks the services send on
commit go there, not eager), and a worker thread consumes them with its own database
connection, so tests using it need committed data (`transactional_db`).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

from celery import Celery
from celery.contrib.testing.worker import start_worker
from kombu import pools

from governance.celery import app as project_app


@contextmanager
def broker_used(broker_url: str, **conf) -> Iterator[Celery]:
    saved = {k: project_app.conf.get(k) for k in ("broker_url", "task_always_eager", "broker_heartbeat", *conf)}
    _pools_drop()  # pools made earlier point at another broker (or the unset default)
    project_app.conf.update(broker_url=broker_url, task_always_eager=False, broker_heartbeat=0, **conf)
    try:
        project_app.control.purge()  # messages a previous test left behind
        yield project_app
    finally:
        _pools_drop()
        project_app.conf.update(saved)


def _pools_drop() -> None:
    pools.reset()  # kombu's process-wide connection and producer pools, keyed by broker URL
    project_app._pool = None
    project_app.amqp._producer_pool = None


@contextmanager
def worker_running(broker_url: str, **conf) -> Iterator[Celery]:
    with broker_used(broker_url, **conf) as app:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            yield app


def wait_until(condition: Callable[[], bool], *, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
