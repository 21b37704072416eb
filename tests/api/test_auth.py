"""/api/v1/auth/: knox tokens for a username and password; hashed, expiring, revocable."""
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.parameters.factories import UserFactory

pytestmark = pytest.mark.django_db
LOGIN, LOGOUT, LOGOUT_ALL = "/api/v1/auth/login/", "/api/v1/auth/logout/", "/api/v1/auth/logoutall/"
READ = "/api/v1/proposals/"
BAD_CREDENTIALS = {"code": "authentication_failed", "message": "invalid username or password", "details": None}
INVALID_TOKEN = {"code": "authentication_failed", "message": "Invalid token.", "details": None}


@pytest.fixture
def reader():
    return UserFactory(username="reader", roles=["consumers"])  # password "pw"


def login(username: str = "reader", password: str = "pw", client: APIClient | None = None):
    return (client or APIClient()).post(LOGIN, {"username": username, "password": password}, format="json")


def with_token(token: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {token}")


def test_a_login_gives_a_hashed_expiring_token_that_reads(reader):
    response = login()
    assert (response.status_code, sorted(response.json())) == (200, ["expiry", "token"])
    token, expiry = response.json()["token"], parse_datetime(response.json()["expiry"])
    stored = AuthToken.objects.get(user=reader)
    assert (stored.token_key, stored.expiry) == (token[:15], expiry)
    assert token not in stored.digest  # only the digest is kept
    assert abs(expiry - (timezone.now() + timedelta(hours=720))) < timedelta(minutes=1)
    assert with_token(token).get(READ).status_code == 200


def test_the_lifetime_comes_from_the_knox_settings(reader, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": timedelta(hours=2)}
    expiry = parse_datetime(login().json()["expiry"])
    assert abs(expiry - (timezone.now() + timedelta(hours=2))) < timedelta(minutes=1)


def test_an_expired_token_is_refused_and_removed(reader):
    token = login().json()["token"]
    AuthToken.objects.filter(user=reader).update(expiry=timezone.now() - timedelta(seconds=1))
    response = with_token(token).get(READ)
    assert (response.status_code, response.json()) == (401, INVALID_TOKEN)
    assert not AuthToken.objects.filter(user=reader).exists()


def test_logout_revokes_the_token_presented_only(reader):
    first, second = login().json()["token"], login().json()["token"]
    response = with_token(first).post(LOGOUT)
    assert (response.status_code, response.content) == (204, b"")
    response = with_token(first).get(READ)
    assert (response.status_code, response.json()) == (401, INVALID_TOKEN)
    assert with_token(second).get(READ).status_code == 200
    assert with_token(first).post(LOGOUT).status_code == 401


def test_logoutall_revokes_every_token_of_the_user(reader):
    other = UserFactory(username="other", roles=["consumers"])
    first, second, others = login().json()["token"], login().json()["token"], login("other").json()["token"]
    assert with_token(second).post(LOGOUT_ALL).status_code == 204
    assert [with_token(t).get(READ).status_code for t in (first, second, others)] == [401, 401, 200]
    assert list(AuthToken.objects.values_list("user__username", flat=True)) == [other.username]


def test_logout_needs_a_token(reader, client):
    response = APIClient().post(LOGOUT)
    assert (response.status_code, response.json()) == (401, {
        "code": "not_authenticated", "message": "Authentication credentials were not provided.", "details": None})
    client.force_login(reader)  # a session is not a token: there is nothing to revoke
    assert client.post(LOGOUT).status_code == 401


@pytest.mark.parametrize("token", ["\u00e9t\u00e9", "0123456789abcdef\u00ff"])
def test_a_token_that_is_not_ascii_is_a_401_not_an_error(token):
    response = with_token(token).get(READ)
    assert (response.status_code, response.json()) == (401, INVALID_TOKEN)


@pytest.mark.parametrize(("username", "password"), [("reader", "wrong"), ("nobody", "pw"), ("inactive", "pw")])
def test_bad_credentials_are_a_401_in_the_one_shape(reader, username, password):
    UserFactory(username="inactive", roles=["consumers"], is_active=False)
    response = login(username, password)
    assert (response.status_code, response.json(), response["WWW-Authenticate"]) == (401, BAD_CREDENTIALS, "Token")
    assert AuthToken.objects.count() == 0


@pytest.mark.parametrize(("body", "details"), [
    ({"username": "reader"}, {"password": ["This field is required."]}),
    ({"username": "reader", "password": ["pw"]}, {"password": ["Not a valid string."]}),
    ({"username": "reader", "password": "pw", "remember": True}, {"remember": ["unknown field"]}),
    ({"username": "reader", "password": "x" * 4097}, {"password": ["Ensure this field has no more than 4096 characters."]}),
    ("reader:pw", {"non_field_errors": ["Invalid data. Expected a dictionary, but got str."]}),
])
def test_a_bad_login_body_is_a_400_with_the_fields_at_fault(reader, body, details):
    response = APIClient().post(LOGIN, body, format="json")
    assert (response.status_code, response.json()) == (400, {
        "code": "invalid_request", "message": "the request is invalid", "details": details})


def test_a_stale_token_does_not_stand_in_the_way_of_a_login(reader):
    response = login(client=APIClient(HTTP_AUTHORIZATION="Token revoked-long-ago"))
    assert response.status_code == 200


def test_the_position_service_logs_in_but_does_not_read_proposals():
    UserFactory(username="feeder", roles=["position_service"])
    response = with_token(login("feeder").json()["token"]).get(READ)
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
