"""Token authentication reads only the token presented; expired tokens are swept by a task."""
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from governance.api.tasks import tokens_expired_delete_task
from governance.api.tokens import tokens_expired_delete
from tests.parameters.factories import UserFactory

pytestmark = pytest.mark.django_db
READ = "/api/v1/proposals/"


def token_of(user, *, expired: bool = False) -> str:
    instance, token = AuthToken.objects.create(user)
    if expired:
        AuthToken.objects.filter(pk=instance.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    return token


def test_a_request_reads_the_token_it_presents_not_every_token_of_the_user():
    reader = UserFactory(username="reader", roles=["consumers"])
    for _ in range(20):
        token_of(reader)
    token = token_of(reader)
    with CaptureQueriesContext(connection) as queries:
        assert APIClient(HTTP_AUTHORIZATION=f"Token {token}").get(READ).status_code == 200
    lookups = [q["sql"] for q in queries.captured_queries if "knox_authtoken" in q["sql"]]
    assert len(lookups) == 1 and '"knox_authtoken"."token_key" = ' in lookups[0]  # by the token's key only


def test_an_expired_token_presented_is_refused_and_deleted_the_others_wait_for_the_sweep():
    reader = UserFactory(username="reader", roles=["consumers"])
    expired, valid = token_of(reader, expired=True), token_of(reader)
    token_of(reader, expired=True)  # another expired token of the same user
    refused = APIClient(HTTP_AUTHORIZATION=f"Token {expired}").get(READ)
    assert (refused.status_code, refused.json()["message"]) == (401, "Invalid token.")
    assert APIClient(HTTP_AUTHORIZATION=f"Token {valid}").get(READ).status_code == 200
    assert AuthToken.objects.filter(user=reader).count() == 2  # the valid one and the other expired one
    assert tokens_expired_delete_task.apply().get() == 1
    assert [t.token_key for t in AuthToken.objects.filter(user=reader)] == [valid[:15]]
    assert tokens_expired_delete() == 0

