"""A real Celery worker on a real broker: inside the test process (`worker_running`), or as its
own OS process that a test can kill (`worker_process`).

The project's app is switched to the broker for the duration (tasks the services send on
commit go there, not eager), and a worker thread consumes them with its own database
connection, so tests using it need committed data (`transactional_db`).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from celery import Celery
from celery.contrib.testing.worker import start_worker
from kombu import pools

from governance.celery import app as project_app

ROOT = Path(__file__).resolve().parents[1]
# A queue of this test session's own: two sessions on one machine (or a killed worker's
# messages coming back) never hand each other their tasks.
TEST_QUEUE = f"tests-{os.getpid()}"


@contextmanager
def broker_used(broker_url: str, **conf) -> Iterator[Celery]:
    saved = {k: project_app.conf.get(k) for k in ("broker_url", "task_always_eager", "broker_heartbeat",
                                                   "task_default_queue", *conf)}
    _pools_drop()  # pools made earlier point at another broker (or the unset default)
    project_app.conf.update(broker_url=broker_url, task_always_eager=False, broker_heartbeat=0,
                            task_default_queue=TEST_QUEUE, **conf)
    try:
        project_app.control.purge()  # messages a previous test left behind
        yield project_app
    finally:
        with project_app.connection_for_write() as connection:  # no queue left behind on the broker
            connection.default_channel.queue_delete(TEST_QUEUE)
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


class WorkerProcess:
    """`celery -A governance worker` as its own OS process, on the test database: a worker that
    can be killed with SIGKILL like a crashed machine, and started again."""

    def __init__(self, broker_url: str, *, log_path: Path, beat: bool = False, env: dict[str, str] | None = None):
        from django.db import connection

        db = connection.settings_dict
        self.env = {**os.environ, "CELERY_BROKER_URL": broker_url, "CELERY_TASK_ALWAYS_EAGER": "false",
                    "CELERY_TASK_DEFAULT_QUEUE": TEST_QUEUE,
                    "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
                    "LOG_LEVEL": "INFO", **(env or {})}
        self.beat, self.log_path, self.process = beat, log_path, None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        # INFO: each task received, retried, failed or done is in the log a failing test prints
        command = [sys.executable, "-m", "celery", "-A", "governance", "worker", "--pool", "solo",
                   "--without-gossip", "--without-mingle", "--loglevel", "INFO",
                   "-n", f"fault{self.starts}-{os.getpid()}@%h"]
        if self.beat:
            command += ["--beat", "--schedule", str(self.log_path.with_suffix(".beat"))]
        log = open(self.log_path, "a")
        # a process group of its own, so a kill takes the whole worker, as a crash does: an
        # embedded beat is a child process that outlives a SIGKILL of the worker alone
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def kill(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:  # gone already
            pass
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])


@contextmanager
def worker_process(broker_url: str, *, log_path: Path, beat: bool = False,
                   env: dict[str, str] | None = None) -> Iterator[WorkerProcess]:
    with broker_used(broker_url):
        worker = WorkerProcess(broker_url, log_path=log_path, beat=beat, env=env)
        worker.start()
        try:
            yield worker
        except BaseException:
            print(f"--- worker log ({log_path}) ---\n{worker.log_tail()}")
            print(f"--- the test database's other sessions ---\n{database_sessions()}")
            raise
        finally:
            worker.stop()


def database_sessions() -> str:
    """What every other session on the test database is doing: a stuck test's lock waits."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid, state, wait_event_type, wait_event, now() - xact_start, left(query, 120) "
                       "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return "\n".join(" | ".join(str(v) for v in row) for row in cursor.fetchall()) or "(none)"
