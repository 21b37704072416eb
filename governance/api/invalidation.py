"""In-process caches of the API, invalidated by PostgreSQL notifications.

Triggers (migrations/0001_notify_triggers.py) NOTIFY a channel from every transaction that changes
what a cache holds; PostgreSQL delivers it at commit. One listener thread per process holds its
own autocommit connection with LISTEN on those channels and, for each notification, starts a new
epoch of the channel's caches: a fresh, empty dict.

A reader takes the current epoch *before* it reads the database and stores into that epoch's dict.
If a notification arrives while it reads, the epoch it holds is already discarded, so what it read
(possibly from before the commit) is never served: no stale store after an invalidation race, and
no lock. The caches are used only while the listener is connected (from its LISTEN on: start-up
and a lost connection mean the database path for every request), on PostgreSQL, with
`API_PROCESS_CACHE` on, and outside a transaction opened by the caller (a test's transaction sees
rows no one else does, and its rollback notifies no one).

Bound: an answer may be stale from a commit until its notification is handled by this process's
listener (a loopback round trip and a thread switch: well under a millisecond when idle, measured
in tests/api/test_invalidation.py). A connection that dies without a reset is found by a probe
every PROBE_SECONDS (and TCP keepalives); until then its caches could miss notifications.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, TypeVar

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)

PARAMETERS, AUTH = "api_parameters", "api_auth"  # the channels the triggers notify
PROBE_SECONDS = 2.0  # a silent listener connection is checked this often
RECONNECT_SECONDS = 1.0

T = TypeVar("T")


class Epoch:
    """The entries valid since one notification (or since the listener connected)."""

    __slots__ = ("generation", "entries", "size")

    def __init__(self, generation: int, size: int):
        self.generation, self.entries, self.size = generation, {}, size

    def store(self, key: Any, value: Any) -> None:
        if len(self.entries) >= self.size:  # bounded: a flood of distinct keys starts over
            self.entries = {}
        self.entries[key] = value


class ProcessCache:
    """A cache cleared by the notifications of one channel; None from `epoch()`: do not cache."""

    def __init__(self, name: str, channel: str, size: int):
        self.name, self.channel, self.size = name, channel, size
        self.generation = 0
        self._epoch: Epoch | None = None

    def epoch(self) -> Epoch | None:
        if not LISTENER.usable():
            return None
        return self._epoch

    def get_or_load(self, key: Any, load: Callable[[], T]) -> T:
        epoch = self.epoch()  # taken before the database is read: see the module's docstring
        if epoch is None:
            return load()
        try:
            return epoch.entries[key]
        except KeyError:
            pass
        value = load()
        epoch.store(key, value)
        return value

    def peek(self, key: Any) -> Any:
        epoch = self.epoch()
        return None if epoch is None else epoch.entries.get(key)

    def invalidate(self, *, connected: bool = True) -> None:
        self.generation += 1
        self._epoch = Epoch(self.generation, self.size) if connected else None


CACHES: list[ProcessCache] = []


def process_cache(name: str, channel: str, size: int) -> ProcessCache:
    cache = ProcessCache(name, channel, size)
    CACHES.append(cache)
    return cache


class Listener:
    """One thread per process: LISTEN on the channels, a new epoch for each notification."""

    def __init__(self) -> None:
        self.connected = False
        self.backend_pid: int | None = None  # of its connection (tests terminate it)
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._enabled: bool | None = None
        self._stopping = False

    def enabled(self) -> bool:
        if self._enabled is None:
            self._enabled = (connections["default"].vendor == "postgresql"
                             and bool(getattr(settings, "API_PROCESS_CACHE", True)))
        return self._enabled

    def usable(self) -> bool:
        """Connected, and the caller's own connection is not inside a transaction (then the
        listener is not even started: a test's transaction sees rows no one else does)."""
        if connections["default"].in_atomic_block:
            return False
        if self._pid != os.getpid():
            if not self.enabled():
                return False
            self.start()
        return self.connected

    def start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid, self.connected, self._stopping = os.getpid(), False, False  # a forked child has no thread
            for cache in CACHES:
                cache.invalidate(connected=False)
            self._thread = threading.Thread(target=self._run, name="api-invalidation", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = PROBE_SECONDS + 5) -> None:
        """End the thread and close its connection (a test database can then be dropped); the
        next request that could use a cache starts it again."""
        with self._lock:
            thread, self._stopping = self._thread, True
        if thread is not None and thread.is_alive():
            thread.join(timeout)
        with self._lock:
            self._thread, self._pid = None, None

    def _conninfo(self) -> dict:
        s = connections["default"].settings_dict
        params = {"dbname": s["NAME"], "user": s["USER"] or None, "password": s["PASSWORD"] or None,
                  "host": s["HOST"] or None, "port": s["PORT"] or None, "application_name": "api-invalidation",
                  "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}
        return {k: v for k, v in params.items() if v is not None}

    def _run(self) -> None:
        import psycopg

        conninfo = self._conninfo()
        channels = sorted({cache.channel for cache in CACHES})
        current = threading.current_thread()
        while not self._stopping and self._thread is current:
            try:
                with psycopg.connect(autocommit=True, connect_timeout=5, **conninfo) as conn:
                    for channel in channels:
                        conn.execute(f"LISTEN {channel}")
                    self.backend_pid = conn.info.backend_pid
                    for cache in CACHES:  # nothing is known of the time before LISTEN
                        cache.invalidate()
                    self.connected = True
                    while not self._stopping:
                        for notify in conn.notifies(timeout=PROBE_SECONDS):
                            for cache in CACHES:
                                if cache.channel == notify.channel:
                                    cache.invalidate()
                        conn.execute("SELECT 1")  # a dead connection raises here
            except Exception as exc:  # any failure: the database path until connected again
                logger.warning("api invalidation listener disconnected: %s", exc)
            finally:
                if self._thread is current:  # not a stopped thread's late exit over its successor
                    self.connected = False
                    for cache in CACHES:
                        cache.invalidate(connected=False)
            if not self._stopping:
                time.sleep(RECONNECT_SECONDS)


LISTENER = Listener()
