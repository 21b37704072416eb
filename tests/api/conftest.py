"""The API tests read the rules/ parameters, active through the workflow."""
import uuid

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.parameters.factories import UserFactory
from tests.parameters.conftest import alice, analyst, bob, carol  # noqa: F401 (fixtures)
from tests.positions.conftest import active_rules  # noqa: F401 (fixture)


@pytest.fixture(autouse=True)
def _own_throttle_counts(settings, tmp_path):
    """Each test counts its requests apart (the cache is shared with other test sessions), in a
    folder of its own when the cache is files: Django's file cache deletes a third of its
    entries, at random, once it holds 300, and a count deleted is a 429 that never comes."""
    default = {**settings.CACHES["default"], "KEY_PREFIX": uuid.uuid4().hex}
    if default["BACKEND"].endswith(".FileBasedCache"):
        default["LOCATION"] = str(tmp_path / "cache")
    settings.CACHES = {"default": default}


def token_client(username: str, *roles: str) -> APIClient:
    """A client authenticated like an API consumer: a knox token of a user with these roles."""
    _, token = AuthToken.objects.create(UserFactory(username=username, roles=list(roles)))
    return APIClient(HTTP_AUTHORIZATION=f"Token {token}")


@pytest.fixture(autouse=True, scope="session")
def _invalidation_listener_stopped(django_db_setup, django_db_blocker):
    """The listener thread holds a connection to the test database: closed before it is dropped."""
    yield
    from governance.api.invalidation import LISTENER

    LISTENER.stop()
