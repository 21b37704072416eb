"""The contract fast path (governance.api.conditional) answers exactly as the regular path:
same status, headers and body, for every kind of request, with and without the middleware."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client, override_settings
from django.utils import timezone
from knox.models import AuthToken
from rest_framework import throttling

from governance.api import conditional, selectors
from tests.api.test_invalidation import listener_connected
from tests.parameters.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
DETAIL = "/api/v1/contracts/BTCUSDT/"
FAST = list(django_settings.MIDDLEWARE)
REGULAR = [m for m in FAST if not m.endswith("ContractFastPathMiddleware")]


@pytest.fixture
def answered(monkeypatch) -> list[bool]:
    """For each request that reached the fast path: whether it answered it."""
    calls: list[bool] = []
    real = conditional.contract_answer_fast

    def spy(*args, **kwargs):
        response = real(*args, **kwargs)
        calls.append(response is not None)
        return response
    monkeypatch.setattr(conditional, "contract_answer_fast", spy)
    return calls


@pytest.fixture
def ready(active_rules):
    listener_connected()


def get(settings, fast: bool, path: str = DETAIL, **headers) -> tuple[int, dict, bytes]:
    settings.MIDDLEWARE = FAST if fast else REGULAR
    response = Client().get(path, **headers)
    return response.status_code, dict(response.headers), response.content


def token_of(username: str, *roles: str, expiry: timedelta | None = None) -> str:
    from django.contrib.auth import get_user_model

    user = (get_user_model().objects.filter(username=username).first()
            or UserFactory(username=username, roles=list(roles)))
    return AuthToken.objects.create(user, **({"expiry": expiry} if expiry else {}))[1]


def both(settings, prepare, **headers) -> tuple[tuple, tuple]:
    """The same request, prepared the same way (a fresh token each), through both paths."""
    answers = []
    for fast in (True, False):
        answers.append(get(settings, fast, **{**headers, **prepare(fast)}))
    return answers[0], answers[1]


def remembered(username: str, *roles: str, **kwargs):
    """A token this process has authenticated once (so remembered), and the contract's answer
    rendered once (by the regular path: the fast path sees only the requests compared)."""
    def prepare(fast: bool) -> dict:
        token = token_of(username, *roles, **kwargs)
        with override_settings(MIDDLEWARE=REGULAR):
            Client().get(DETAIL, HTTP_AUTHORIZATION=f"Token {token}")
        return {"HTTP_AUTHORIZATION": f"Token {token}"}
    return prepare


def etag_now() -> str:
    return f'"{selectors.contract_etag(symbol="BTCUSDT")}"'


def test_a_matching_etag_is_a_304_from_the_fast_path_as_from_the_regular_one(settings, ready, answered):
    fast, regular = both(settings, remembered("reader", "consumers"), HTTP_IF_NONE_MATCH=etag_now())
    assert fast == regular and fast[0] == 304 and fast[2] == b""
    assert {"ETag", "Cache-Control", "Allow", "X-Frame-Options"} <= set(fast[1]) and "Content-Type" not in fast[1]
    assert answered == [True]


def test_a_stale_etag_is_the_same_200_body_byte_for_byte(settings, ready, answered):
    fast, regular = both(settings, remembered("reader", "consumers"), HTTP_IF_NONE_MATCH='"stale", "older"')
    assert fast == regular and fast[0] == 200 and fast[1]["Content-Type"] == "application/json"
    assert answered == [True]
    fast, regular = both(settings, remembered("reader", "consumers"))  # no If-None-Match at all
    assert fast == regular and fast[0] == 200


@pytest.mark.parametrize("authorization", [None, "Token", "Token a b", "Token not-hex-at-all", "Token " + "0" * 64,
                                           "Bearer abc"])
def test_missing_malformed_and_unknown_tokens_get_the_regular_401(settings, ready, answered, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    fast, regular = both(settings, lambda fast: {}, **headers)
    assert fast == regular and fast[0] == 401
    assert not any(answered)  # the fast path answered none of them


def test_an_expired_remembered_token_gets_the_regular_401(settings, ready, answered):
    def prepare(fast: bool) -> dict:
        headers = remembered("short", "consumers", expiry=timedelta(seconds=1))(fast)
        token = AuthToken.objects.filter(user__username="short").order_by("-created").first()
        time.sleep(max(0.0, (token.expiry - timezone.now()).total_seconds()) + 0.05)
        return headers
    fast, regular = both(settings, prepare)
    assert fast == regular and fast[0] == 401 and b"Invalid token." in fast[2]
    assert fast[1]["WWW-Authenticate"] == "Token"
    assert answered == [False]


def test_a_revoked_token_gets_the_regular_401(settings, ready, answered):
    def prepare(fast: bool) -> dict:
        headers = remembered("leaving", "consumers")(fast)
        settings.MIDDLEWARE = FAST
        assert Client().post("/api/v1/auth/logout/", **headers).status_code == 204
        return headers
    fast, regular = both(settings, prepare)
    assert fast == regular and fast[0] == 401
    assert answered == [False]


def test_a_user_without_a_reading_role_gets_the_regular_403(settings, ready, answered):
    fast, regular = both(settings, remembered("feeder", "position_service"), HTTP_IF_NONE_MATCH=etag_now())
    assert fast == regular and fast[0] == 403 and b"feeder may not read the API" in fast[2]
    assert answered == [False]


def test_a_contract_that_does_not_exist_gets_the_regular_404(settings, ready, answered):
    fast, regular = (get(settings, fast, "/api/v1/contracts/NOPEUSDT/",
                         **remembered("reader", "consumers")(fast)) for fast in (True, False))
    assert fast == regular and fast[0] == 404
    assert answered == [False]


def test_past_answers_skip_the_fast_path(settings, ready, answered):
    path = f"{DETAIL}?as_of={timezone.now().isoformat().replace('+00:00', 'Z')}"
    fast, regular = (get(settings, fast, path, **remembered("reader", "consumers")(fast)) for fast in (True, False))
    assert fast == regular and fast[0] == 200 and b'"volatility_band":null' in fast[2]
    assert answered == [False]  # a query string: the regular path


def test_a_throttled_user_gets_the_regular_429_with_retry_after(settings, ready, answered, monkeypatch):
    monkeypatch.setattr(throttling.SimpleRateThrottle, "THROTTLE_RATES", {"user": "2/min", "anon": "2/min"})
    etag = etag_now()

    def prepare(fast: bool) -> dict:
        headers = remembered(f"busy-{fast}", "consumers")(fast)  # one request counted
        assert get(settings, fast, HTTP_IF_NONE_MATCH=etag, **headers)[0] == 304  # the second
        return headers
    fast, regular = both(settings, prepare, HTTP_IF_NONE_MATCH=etag)
    assert fast == regular and fast[0] == 429 and fast[1]["Retry-After"] == "60"
    assert fast[2] == b'{"code":"throttled","message":"Request was throttled. Expected available in 60 seconds.",' \
                      b'"details":null}'
    assert answered == [True, False]  # the second request answered fast, the third refused there too


@pytest.mark.parametrize("accept, status", [("application/xml", 406), ("application/json", 304), ("*/*", 304)])
def test_content_negotiation_is_the_regular_ones(settings, ready, answered, accept, status):
    fast, regular = both(settings, remembered("reader", "consumers"), HTTP_IF_NONE_MATCH=etag_now(),
                         HTTP_ACCEPT=accept)
    assert fast == regular and fast[0] == status
    assert answered == [status == 304]


def test_a_token_split_off_by_unicode_whitespace_is_refused_on_both_paths(settings, ready, answered):
    def prepare(fast: bool) -> dict:
        header = remembered("reader", "consumers")(fast)["HTTP_AUTHORIZATION"]
        return {"HTTP_AUTHORIZATION": header.replace(" ", "\xa0")}  # knox splits on ASCII whitespace only
    fast, regular = both(settings, prepare, HTTP_IF_NONE_MATCH=etag_now())
    assert fast == regular and fast[0] == 401
    assert answered == [False]


def test_an_answer_rendered_for_another_accept_is_not_served_to_plain_requests(settings, ready, answered):
    token = token_of("reader", "consumers")
    settings.MIDDLEWARE = REGULAR
    indented = Client().get(DETAIL, HTTP_AUTHORIZATION=f"Token {token}", HTTP_ACCEPT="application/json; indent=8")
    assert indented.status_code == 200 and b"\n        " in indented.content
    fast = get(settings, True, HTTP_AUTHORIZATION=f"Token {token}", HTTP_IF_NONE_MATCH='"stale"')
    regular = get(settings, False, HTTP_AUTHORIZATION=f"Token {token}", HTTP_IF_NONE_MATCH='"stale"')
    assert fast == regular and b"\n" not in fast[2]
    assert answered == [False]  # nothing rendered for a plain request yet: the view answers
