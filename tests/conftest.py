"""Suite-wide fixtures: tests marked with a service need it for real.

Under CI=true a missing service fails the test; elsewhere the test is skipped
with the reason, and pytest's summary (-ra) lists what was not run.
"""
from __future__ import annotations

import pytest

from tests.services import SERVICES, unavailable


def _missing(marker: str) -> str | None:
    service = SERVICES[marker]
    if marker == "postgres":
        from django.db import connection

        if connection.vendor != "postgresql":
            return f"needs PostgreSQL (DATABASE_URL); this run uses {connection.vendor}"
        return None
    if not service.reachable():
        return f"needs {service.name} at {service.host}:{service.port}, which is not reachable"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in SERVICES:
        if item.get_closest_marker(marker) is None:
            continue
        reason = _missing(marker)
        if reason is None:
            continue
        unavailable(reason, what="service")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Tests create many users; PBKDF2's deliberate slowness buys nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
