"""One transaction run again when PostgreSQL aborts it to break a deadlock or a serialization
conflict: the outcome a concurrent writer would have had a moment later."""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

from django.db import OperationalError, connection

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
