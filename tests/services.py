"""The real services the suite uses, and how `make test` finds them.

`python -m tests.services --env` prints shell exports for `make test`: when
DATABASE_URL is unset and PostgreSQL answers on 127.0.0.1:5432, the suite runs
on it; otherwise on the embedded SQLite default, and says so.
"""
from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    name: str
    host: str
    port: int
    url_env: str
    default_url: str

    def reachable(self, timeout: float = 0.5) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False

    @property
    def url(self) -> str:
        return os.environ.get(self.url_env) or self.default_url


POSTGRES = Service("PostgreSQL", "127.0.0.1", 5432, "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/governance")
REDIS = Service("Redis", "127.0.0.1", 6379, "TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ = Service("RabbitMQ", "127.0.0.1", 5672, "TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
SERVICES = {"postgres": POSTGRES, "redis": REDIS, "rabbitmq": RABBITMQ}


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str, *, what: str) -> None:
    """A test whose service is missing: skipped on a developer's machine, failed under CI=true."""
    import pytest

    if not in_ci():
        pytest.skip(reason)
    pytest.fail(f"{reason} (CI=true: a missing {what} is a failure)", pytrace=False)


def env_exports() -> list[str]:
    exports = []
    if os.environ.get("DATABASE_URL"):
        print(f"make test: database from DATABASE_URL", file=sys.stderr)
    elif POSTGRES.reachable():
        exports.append(f"export DATABASE_URL={POSTGRES.default_url}")
        print("make test: PostgreSQL reachable at 127.0.0.1:5432: the suite runs on it", file=sys.stderr)
    else:
        print("make test: PostgreSQL not reachable: the suite runs on SQLite (embedded default); "
              "tests marked postgres are not run" + (" and FAIL under CI=true" if in_ci() else ""),
              file=sys.stderr)
    for service in (REDIS, RABBITMQ):
        if not service.reachable():
            print(f"make test: {service.name} not reachable at {service.host}:{service.port}: "
                  f"its tests are not run" + (" and FAIL under CI=true" if in_ci() else ""), file=sys.stderr)
    return exports


if __name__ == "__main__":
    if sys.argv[1:] != ["--env"]:
        sys.exit("usage: python -m tests.services --env")
    print("\n".join(env_exports()))
