"""One transaction run again when PostgreSQL aborts it to break a deadlock or a serialization
conflict: the outcome a concurrent writer would have had a moment later."""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from django.db import InterfaceError, OperationalError, connection

from governance.errors import Busy

T = TypeVar("T")
# deadlock_detected, serialization_failure
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def _retryable(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def conflict_retry(*, attempts: int = 3) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Run the decorated transaction (an @transaction.atomic function, decorated outside it)
    up to `attempts` times while PostgreSQL aborts it as a deadlock victim; then Busy. Inside
    an outer transaction there is nothing to run again: Busy at once."""
    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def run(*args, **kwargs) -> T:
            for attempt in range(1, attempts + 1):
                outermost = not connection.in_atomic_block
                try:
                    return fn(*args, **kwargs)
                except OperationalError as exc:
                    if not _retryable(exc):
                        raise
                    if not outermost or attempt == attempts:
                        raise Busy(f"concurrent writes collided {attempt} time(s) ({exc.__cause__.sqlstate}); "
                                   f"nothing was written: try again") from exc
            raise AssertionError("unreachable")
        return run
    return decorate


# What a worker's retry can cure: the connection (class 08, or no answer from the server at
# all), a transaction the server rolled back (40: serialization failure, deadlock), resources
# short for a moment (53), the server shutting down or starting (57P01 to 57P03); on SQLite,
# a database locked by another writer. Not a program limit (54), an object in the wrong state
# (55), an I/O error (58) or an internal one (XX): those come back on every attempt.
_TRANSIENT_CLASSES = ("08", "40", "53")
_TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03"})


def error_transient(exc: BaseException) -> bool:
    if isinstance(exc, InterfaceError):  # the connection was closed under the worker
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if sqlstate is None:
        return "database is locked" in str(exc) if connection.vendor == "sqlite" else True
    return sqlstate[:2] in _TRANSIENT_CLASSES or sqlstate in _TRANSIENT_STATES


class TransientDatabaseError(Exception):
    """A database error a retry can cure (`error_transient`): the one tasks retry on."""


@contextmanager
def transient_marked() -> Iterator[None]:
    """Re-raise a database error a retry can cure as TransientDatabaseError (the original
    chained); any other error as it is."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        if error_transient(exc):
            raise TransientDatabaseError(f"{type(exc).__name__}: {exc}") from exc
        raise
